"""Dictionary terms: one automaton finds them, jieba confirms each is a word where it was found."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner.detect.segmenter import PythonJieba, RustJieba
from scanner.detect.terms import TermChecker
from scanner.dictionaries import load_dictionaries, parse_dictionary
from scanner.engine import Scanner
from scanner.policy import ConfigError, load_config


@pytest.fixture(scope="module", params=[RustJieba, PythonJieba], ids=["jieba-rs", "jieba"])
def checker(request: pytest.FixtureRequest) -> TermChecker:
    """Every boundary rule holds with both segmenters: jieba-rs where installed, jieba itself elsewhere."""
    return TermChecker(request.param)


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


def test_the_automaton_is_cached_by_content(tmp_path: Path) -> None:
    path = tmp_path / "extra.txt"
    path.write_text("甲乙丙丁\n", encoding="utf-8")
    config = load_config().with_dictionaries([path])
    first = load_dictionaries(config)
    second = load_dictionaries(config)
    assert len(first) == len(second)
    path.write_text("甲乙丙丁\n戊己庚辛\n", encoding="utf-8")
    assert len(load_dictionaries(config)) == len(first) + 1


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
