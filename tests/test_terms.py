"""Dictionary terms: one automaton finds them, jieba confirms each is a word where it was found."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner.detect.segmenter import PythonJieba, RustJieba
from scanner.detect.terms import TermChecker
from scanner.dictionaries import parse_dictionary
from scanner.engine import Scanner
from scanner.policy import ConfigError, load_config


@pytest.fixture(scope="module", params=[RustJieba, PythonJieba], ids=["jieba-rs", "jieba"])
def checker(request: pytest.FixtureRequest) -> TermChecker:
    """Every boundary rule holds with both segmenters: jieba-rs where installed, jieba itself elsewhere."""
    return TermChecker(segmenter=request.param)


@pytest.mark.parametrize(
    ("text", "term"),
    [("有机密封圈", "机密"), ("便秘密切相关", "秘密"), ("隔绝密闭", "绝密"), ("这是一个有机密封件", "机密")],
)
def test_a_term_straddling_two_words_is_not_a_word_there(checker: TermChecker, text: str, term: str) -> None:
    start = text.index(term)
    assert not checker.is_word_here(text, start, start + len(term))


@pytest.mark.parametrize(("text", "term"), [("这份材料属于机密，请妥善保管", "机密"), ("本材料严禁外传", "严禁外传")])
def test_a_term_that_is_a_word_there_counts(checker: TermChecker, text: str, term: str) -> None:
    start = text.index(term)
    assert checker.is_word_here(text, start, start + len(term))


def test_latin_codename_inside_a_longer_word_does_not_count(checker: TermChecker) -> None:
    text = "PROJECTX1 and PROJECTX"
    assert not checker.is_word_here(text, 0, 8)
    assert checker.is_word_here(text, 14, 22)


def test_default_leak_phrase_blocks(scan_text) -> None:
    report = scan_text("此件严禁外传，阅后收回。")
    assert str(report.verdict) == "block"
    assert "term.leak-phrases" in report.rules


def test_default_term_flags_by_default(scan_text) -> None:
    report = scan_text("本项目标底价为1200万元")
    assert str(report.verdict) == "flag"
    assert report.findings[0].category == "tender"


def test_dictionary_file_format(tmp_path: Path) -> None:
    path = tmp_path / "codenames.txt"
    text = "# project codenames\n天河七号\tblock\n\n北斗计划  # a comment\n"
    terms = parse_dictionary(text, path)
    assert [(t.text, t.category, str(t.action)) for t in terms] == [
        ("天河七号", "codenames", "block"),
        ("北斗计划", "codenames", "flag"),
    ]


def test_dictionary_with_an_unknown_action_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"codenames\.txt:1"):
        parse_dictionary("天河七号\tdelete\n", tmp_path / "codenames.txt")


def test_user_dictionary_terms_are_found_through_dodging_spaces(tmp_path: Path) -> None:
    path = tmp_path / "codenames.txt"
    path.write_text("天河七号\tblock\n", encoding="utf-8")
    scanner = Scanner(load_config().with_dictionaries([path]))
    report = scanner.scan_bytes("新型号天河 七号的试验安排".encode(), "plan.txt")
    assert str(report.verdict) == "block"
    assert report.findings[0].text == "天河 七号"
    assert report.findings[0].rule == "term.codenames"


def test_traditional_text_matches_simplified_terms(scan_text) -> None:
    assert "term.leak-phrases" in scan_text("本件嚴禁外傳").rules


def test_both_segmenters_cut_the_laws_alike() -> None:
    """jieba-rs stands in for jieba only because it cuts the same: checked on real prose."""
    from tests.conftest import LAWS, require

    laws = sorted(LAWS.rglob("*.md"))[:40]
    require(bool(laws), f"the laws corpus at {LAWS}")
    rust, python = RustJieba(), PythonJieba()
    for path in laws:
        for line in path.read_text(encoding="utf-8").splitlines()[:30]:
            for start in range(0, len(line), 17):
                window = line[start : start + 20]
                assert rust.cut(window) == python.cut(window), window


# --- Mentions of terms: each predicate with the false positive it removes, and a real term it must not hide ---


def term_rules(report) -> list[str]:  # type: ignore[no-untyped-def]
    return [f.rule for f in report.findings if f.rule.startswith("term.")]


@pytest.mark.parametrize(
    "text",
    [
        "商业秘密包括但不限于：技术方案、工艺参数、客户名单、源代码等。",
        "用人单位应当提供工资表、财务报表等资料，如实反映情况。",
        "要求其披露源代码等密码相关专有信息。",
        "可以采取不公开开庭、限制或者禁止复制、仅对代理律师展示等措施。",
    ],
)
def test_a_term_listed_among_examples_is_a_mention(scan_text, text: str) -> None:
    assert term_rules(scan_text(text)) == []


def test_a_list_of_the_records_themselves_still_counts(scan_text) -> None:
    assert term_rules(scan_text("附件：客户名单、报价底线")) == ["term.commercial", "term.commercial"]


def test_a_term_being_defined_is_a_mention(scan_text) -> None:
    assert term_rules(scan_text("商业秘密中的客户名单，一般是指客户的名称、地址、联系方式。")) == []


def test_a_defined_term_elsewhere_on_the_line_does_not_hide_a_real_one(scan_text) -> None:
    assert term_rules(scan_text("2025年客户名单（保密），本表所列是指重点客户")) == ["term.commercial"]


def test_a_record_cited_in_a_judgment_is_a_mention(scan_text) -> None:
    assert term_rules(scan_text("区人民政府常务会议纪要中指出：原则同意。根据调取的工资表上的考勤记录认定。")) == []


def test_a_record_that_is_the_document_still_counts(scan_text) -> None:
    assert term_rules(scan_text("2025年3月工资表\n姓名 应发 实发")) == ["term.personnel"]


@pytest.mark.parametrize("text", ["不得复制音像制品、电子出版物。", "禁止复制、下载、汇编、摘抄绝密级文件信息资料。"])
def test_a_laws_prohibition_naming_its_object_is_a_mention(scan_text, text: str) -> None:
    assert term_rules(scan_text(text)) == []


@pytest.mark.parametrize("text", ["此件不得复制，阅后收回。", "本资料严禁复制、外传。", "不得复制本文件。"])
def test_a_handling_instruction_on_a_document_still_counts(scan_text, text: str) -> None:
    assert "term.leak-phrases" in term_rules(scan_text(text))


def test_term_mention_predicates_look_only_near_the_term(scan_text) -> None:
    far = "本条例所称的资料包括下列各项等内容，" + "。" * 30
    assert term_rules(scan_text(far + "客户名单")) == ["term.commercial"]


def test_every_term_mention_rule_has_a_docstring_naming_its_false_positive() -> None:
    from scanner.detect import terms

    assert all(rule.__doc__ for rule in terms.MENTIONS)


def test_every_term_is_taught_to_the_segmenter_before_its_first_cut() -> None:
    """A word made known changes the segmenter's totals and so its later cuts: a file must be cut the same whatever
    the process judged before it, so every term is known from the first cut, not only the terms hit so far."""
    checker = TermChecker("丙丁项目\n甲乙工程", segmenter=PythonJieba)
    assert checker.is_word_here("关于甲乙工程的通知", 2, 6)
    segmenter = checker._segmenter
    assert isinstance(segmenter, PythonJieba)
    assert segmenter._tokenizer.FREQ.get("丙丁项目", 0) > 0  # never hit, known all the same


def test_a_reloaded_dictionary_cuts_as_a_fresh_process_would() -> None:
    """A door reloading its dictionaries makes a new TermChecker: the words the old dictionary taught its segmenter
    must not change how the new one cuts (jieba-rs's tokenizer used to be one per process)."""
    window = "关于甲乙工程的通知"
    old = TermChecker("甲乙工程", segmenter=RustJieba)
    assert old.is_word_here(window, 2, 6)
    new = TermChecker("", segmenter=RustJieba)
    assert new.is_word_here(window, 0, 2)  # 关于, a word of jieba's own: its segmenter is loaded
    assert new._segmenter is not None
    assert new._segmenter.cut(window) == PythonJieba().cut(window) == ["关于", "甲乙", "工程", "的", "通知"]
