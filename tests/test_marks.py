"""Classification marks: a mark is a mark by its form and its position; the same words in prose are mentions."""

from __future__ import annotations

import pytest

from scanner.detect import marks
from scanner.detect.marks import Candidate
from scanner.model import Role


def mark_rules(report) -> list[str]:  # type: ignore[no-untyped-def]
    return [f.rule for f in report.findings if f.rule.startswith("mark.")]


# --- State-secret marks in the forms seen in practice ---


@pytest.mark.parametrize(
    "line",
    [
        "机密★5年",
        "绝密★长期",
        "秘密★6个月",
        "机密★十年",
        "秘密★2030年12月31日",
        "秘密★启用前",
        "机密★考试结束前",
        "机密☆5年",
        "机密＊5年",
        "机密*5年",
        "【机密】",
        "[秘密]",
        "机密 ★ 5 年",
        "機密★５年",
        "密级：机密",
        "机密★解密条件：项目验收后",
        "秘密 ★ 1 年  特急",
    ],
)
def test_state_secret_mark_on_the_first_line_blocks(scan_text, line: str) -> None:
    report = scan_text(f"{line}\n关于做好年度工作的通知\n各单位：现将有关事项通知如下。")
    assert str(report.verdict) == "block"
    assert mark_rules(report) == ["mark.state-secret"]


def test_finding_reports_the_mark_as_it_stands_in_the_original(scan_text) -> None:
    report = scan_text("標題\n機密 ★ ５年\n正文")
    finding = report.findings[0]
    assert finding.text == "機密 ★ ５年"
    assert (finding.location.line, finding.location.column) == (2, 1)


def test_dropped_star_on_a_short_standalone_line_is_a_mark(scan_text) -> None:
    assert mark_rules(scan_text("机密5年\n正文")) == ["mark.state-secret"]


def test_bare_level_near_the_top_is_a_mark(scan_text) -> None:
    assert mark_rules(scan_text("秘密\n\n关于……的请示")) == ["mark.state-secret"]


def test_bare_level_deep_in_the_body_is_not_a_mark(scan_text) -> None:
    body = "\n".join(f"第{i}段正文内容。" for i in range(20))
    assert mark_rules(scan_text(body + "\n秘密\n" + body)) == []


def test_full_mark_standing_alone_deep_in_the_body_is_a_mark(scan_text) -> None:
    body = "\n".join(f"第{i}段正文内容。" for i in range(20))
    assert mark_rules(scan_text(body + "\n附件2\n机密★5年\n" + body)) == ["mark.state-secret"]


def test_mark_at_the_top_of_a_later_page_is_a_mark(scan_text) -> None:
    body = "\n".join(f"第{i}段正文内容。" for i in range(20))
    assert mark_rules(scan_text(body + "\f秘密\n" + body)) == ["mark.state-secret"]


def test_gbt9704_header_copy_number_urgency_and_mark(scan_text) -> None:
    report = scan_text("000123\n机密★1年\n特急\n\nXX市人民政府文件\nX政发〔2024〕1号")
    assert mark_rules(report) == ["mark.state-secret"]


def test_copy_number_on_the_mark_line(scan_text) -> None:
    assert mark_rules(scan_text("000123  秘密★1年\n正文")) == ["mark.state-secret"]


# --- Work-secret, internal and company marks ---


def test_work_secret_mark_blocks(scan_text) -> None:
    report = scan_text("工作秘密\n关于……的通报")
    assert mark_rules(report) == ["mark.work-secret"]
    assert str(report.verdict) == "block"


def test_internal_material_mark_flags(scan_text) -> None:
    report = scan_text("内部资料 注意保存\n2024年第3期")
    assert mark_rules(report) == ["mark.internal"]
    assert str(report.verdict) == "flag"


def test_confidential_material_watermark_flags() -> None:
    assert marks.stands_where_marks_stand(_candidate("保密资料", role=Role.WATERMARK, rank=30))


def test_confidential_material_on_the_first_line_flags(scan_text) -> None:
    assert mark_rules(scan_text("保密资料\n会议记录")) == ["mark.internal"]


def test_bare_internal_on_the_first_line_flags(scan_text) -> None:
    assert mark_rules(scan_text("内部\n情况通报")) == ["mark.internal"]


@pytest.mark.parametrize("line", ["商业秘密", "公司机密", "【公司秘密】", "核心商密★5年"])
def test_company_secret_used_as_a_mark_blocks(scan_text, line: str) -> None:
    report = scan_text(f"{line}\n2025年产品路线图")
    assert mark_rules(report) == ["mark.commercial-secret"]
    assert str(report.verdict) == "block"


def test_work_secret_is_not_also_a_state_secret(scan_text) -> None:
    assert mark_rules(scan_text("工作秘密★6个月\n正文")) == ["mark.work-secret"]


# --- Positions: headers, cells, titles, file names ---


def test_mark_in_a_file_name_opening_it_is_a_mark(scan_text) -> None:
    assert mark_rules(scan_text("正文", name="机密★5年-年度预算.txt")) == ["mark.state-secret"]


def test_bracketed_mark_opening_a_file_name_is_a_mark(scan_text) -> None:
    assert mark_rules(scan_text("正文", name="【秘密】会议纪要.txt")) == ["mark.state-secret"]


def test_full_mark_opening_a_longer_title_is_a_mark() -> None:
    c = _candidate("机密★5年关于新型装备试验进度的报告", "机密★5年", role=Role.TITLE)
    assert not marks.not_opening_a_name_or_title(c) and not marks.running_prose(c)


def test_mark_after_a_reply_prefix_still_opens_the_title() -> None:
    assert not marks.not_opening_a_name_or_title(_candidate("Re:【机密】进度报告", "【机密】", role=Role.TITLE))


def test_title_that_mentions_a_level_is_a_mention() -> None:
    assert marks.not_opening_a_name_or_title(_candidate("关于加强机密文件管理的通知", "机密", role=Role.TITLE))


def test_title_opening_with_a_bare_level_word_is_a_mention() -> None:
    assert marks.not_opening_a_name_or_title(_candidate("机密文件管理办法", "机密", role=Role.TITLE))


def test_level_word_inside_a_file_name_is_a_mention(scan_text) -> None:
    assert mark_rules(scan_text("正文", name="关于加强机密文件管理的通知.txt")) == []


@pytest.mark.parametrize("role", [Role.HEADER, Role.FOOTER, Role.CELL, Role.TITLE, Role.WATERMARK])
def test_mark_standing_in_a_strong_position_is_a_mark(role: Role) -> None:
    assert marks.stands_where_marks_stand(_candidate("秘密", role=role, rank=30))


def test_bare_level_far_down_the_body_does_not_stand_where_marks_stand() -> None:
    assert not marks.stands_where_marks_stand(_candidate("秘密", rank=30))


# --- Mentions: one predicate per shape of false positive ---


def _candidate(line: str, form: str | None = None, role: Role = Role.BODY, rank: int = 0) -> Candidate:
    """The candidate the detector would see for `form` on `line` (no wide gaps on it)."""
    form = form or line
    start = line.index(form)
    end = start + len(form)
    full = any(ch in form for ch in "★*【") or form[-1] in "年月前"
    return Candidate(
        category="state-secret",
        form=form,
        before=line[max(0, start - 16) : start],
        after=line[end : end + 16],
        opens=start == 0,
        closes=end == len(line),
        full=full,
        role=role,
        rank=rank,
    )


def test_mark_inside_quotation_is_a_mention() -> None:
    assert marks.in_quotation(_candidate("例如“机密★5年”", "机密★5年"))


def test_mark_introduced_as_an_example_is_a_mention() -> None:
    assert marks.introduced_as_example(_candidate("标注为机密★5年", "机密★5年"))


def test_mark_followed_by_zi_yang_is_a_mention() -> None:
    assert marks.introduced_as_example(_candidate("应当标明机密★等字样", "机密★"))


def test_quiz_answer_option_is_a_mention() -> None:
    assert marks.quiz_option(_candidate("A.机密★", "机密★"))


def test_quiz_options_on_one_line_are_a_mention() -> None:
    assert marks.quiz_option(_candidate("A.绝密B.机密C.秘密", "机密"))


def test_contract_confidentiality_clause_is_a_mention() -> None:
    line = "乙方对甲方的商业秘密负有保密义务,保密期限5年"
    assert marks.contract_clause(_candidate(line, "商业秘密"))


def test_email_disclaimer_is_a_mention() -> None:
    assert marks.email_disclaimer(_candidate("本邮件及其附件含有商业秘密", "商业秘密"))


def test_table_of_contents_entry_is_a_mention() -> None:
    assert marks.table_of_contents_entry(_candidate("第三章机密文件管理……12", "机密"))


def test_level_inside_a_sentence_is_running_prose() -> None:
    assert marks.running_prose(_candidate("国家秘密的密级分为绝密、机密、秘密三级。", "机密"))


def test_standalone_mark_is_not_running_prose() -> None:
    assert not marks.running_prose(_candidate("机密★5年"))


@pytest.mark.parametrize(
    "text",
    [
        "制度规定：文件应标注密级，例如“机密★5年”。",
        "A．绝密  B．机密  C．秘密  D．内部",
        "本邮件及其附件可能含有商业秘密，仅供指定收件人使用。",
        "第三章 机密文件管理………………12",
        "乙方应对甲方的商业秘密保密，保密期限：5年。",
        "国家秘密的密级分为绝密、机密、秘密三级。",
        "有机密封圈的安装说明",
    ],
)
def test_mentions_in_a_document_do_not_make_it_a_marked_document(scan_text, text: str) -> None:
    assert mark_rules(scan_text(text)) == []


def test_every_mention_rule_has_a_docstring_naming_its_false_positive() -> None:
    assert all(rule.__doc__ for rule in marks.MENTIONS)


# --- A mark is judged by where it stands, not by the line it shares (issue 9) ---


@pytest.mark.parametrize(
    "line",
    [
        "秘密★5年\t\t项目名称",
        "秘密★1年  第3页 共5页",
        "机密★10年 年度工作汇报",
        "机密★10年年度工作汇报",
        "机密★5年 请勿外传",
        "机密★5年（项目组内部使用）",
        "秘密★5年,,,,",
        "**机密★5年**",
        "<b>机密★5年</b>",
        "# 机密★5年",
        "机密※5年",
        "机密✱5年",
    ],
)
def test_a_full_mark_opening_its_line_is_a_mark_whatever_follows_it(scan_text, line: str) -> None:
    assert mark_rules(scan_text(f"{line}\n正文")) == ["mark.state-secret"]


def test_a_bare_level_separated_from_the_title_by_a_wide_gap_is_a_mark(scan_text) -> None:
    assert mark_rules(scan_text("秘密\t\t2025年工作计划\n正文")) == ["mark.state-secret"]


def test_a_bare_level_running_on_into_the_next_word_is_a_mention(scan_text) -> None:
    assert mark_rules(scan_text("机密文件管理办法\n正文")) == []


def test_a_bare_level_followed_by_one_space_and_words_is_a_mention(scan_text) -> None:
    assert mark_rules(scan_text("机密 文件管理办法\n正文")) == []


def test_a_bare_level_alone_in_the_first_field_of_a_csv_line_is_a_mark(scan_text) -> None:
    assert mark_rules(scan_text("秘密,,,\n项目,金额\n")) == ["mark.state-secret"]


def test_a_full_mark_closing_its_line_after_a_wide_gap_is_a_mark(scan_text) -> None:
    assert mark_rules(scan_text("2025年度工作汇报\t\t机密★10年\n正文")) == ["mark.state-secret"]


def test_a_full_mark_glued_to_the_sentence_before_it_is_prose(scan_text) -> None:
    body = "\n".join(f"第{i}段正文内容。" for i in range(20))
    assert mark_rules(scan_text(body + "\n请将本文件按照机密★5年管理。\n")) == []


# Each mention predicate fires on the characters next to the form; the same trigger elsewhere on a marked line does
# not hide the mark (issue 9: every predicate gets a negative test).
@pytest.mark.parametrize(
    ("predicate", "line"),
    [
        (marks.in_quotation, "机密★5年 关于“天河”项目的报告"),
        (marks.introduced_as_example, "机密★5年 格式如下：例如"),
        (marks.listed_with_other_levels, "机密★5年 密级分为绝密、机密、秘密"),
        (marks.quiz_option, "机密★5年 A.选择题 答案：B"),
        (marks.contract_clause, "机密★5年 甲方：某公司 乙方：某研究所"),
        (marks.email_disclaimer, "机密★5年 收件人：张三 本邮件含有"),
        (marks.table_of_contents_entry, "机密★5年 第一章 总则……………1"),
        (marks.running_prose, "机密★5年 国家秘密的密级分为三级"),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_a_mark_sharing_its_line_with_a_predicates_trigger_still_blocks(scan_text, predicate, line: str) -> None:
    report = scan_text(f"{line}\n正文")
    assert mark_rules(report)[:1] == ["mark.state-secret"], predicate.__name__
    assert str(report.verdict) == "block"


def test_a_name_opening_with_a_mark_blocks_whatever_else_the_name_holds(scan_text) -> None:
    assert mark_rules(scan_text("正文", name="机密★5年 关于预算的报告（收件人：张三）.txt")) == ["mark.state-secret"]


def test_levels_listed_one_after_another_are_a_mention() -> None:
    assert marks.listed_with_other_levels(_candidate("绝密、机密、秘密", "机密"))
    assert marks.listed_with_other_levels(_candidate("绝密★、机密★和秘密★", "绝密★"))


def test_an_option_label_directly_before_the_level_is_a_mention_only_there() -> None:
    assert marks.quiz_option(_candidate("（B）秘密", "秘密"))
    assert not marks.quiz_option(_candidate("秘密★1年 A.", "秘密★1年"))


def test_a_partys_secret_is_a_mention_only_right_after_the_party() -> None:
    assert marks.contract_clause(_candidate("乙方对甲方的商业秘密负有保密义务", "商业秘密"))
    assert not marks.contract_clause(_candidate("商业秘密★3年 甲方", "商业秘密★3年"))


def test_every_predicate_looks_only_at_a_bounded_neighbourhood() -> None:
    far = "甲方答案“本邮件含有例如" + "。" * 40
    c = _candidate(far + "机密★5年", "机密★5年")
    assert len(c.before) <= 16 and not any(p(c) for p in marks.MENTIONS if p is not marks.running_prose)


# --- Breaks inside a mark, text written one character per line ---


def test_a_mark_broken_inside_its_level_by_a_line_break_is_a_mark(scan_text) -> None:
    report = scan_text("机\n密★5年\n关于预算的报告")
    assert mark_rules(report) == ["mark.state-secret"]
    assert report.findings[0].text == "机\n密★5年"


def test_a_mark_written_one_character_per_line_is_a_mark(scan_text) -> None:
    assert mark_rules(scan_text("机\n密\n★\n5\n年\n关于预算的报告")) == ["mark.state-secret"]


def test_a_column_of_single_digits_is_not_joined_into_one_number(scan_text) -> None:
    from scanner.normalize import normalize

    assert normalize("1\n3\n9\n1\n2").text == "1\n3\n9\n1\n2"


# --- Tables that list the levels ---


def test_a_spreadsheet_that_lists_the_levels_is_not_marked(scanner) -> None:
    from tests.documents import xlsx_of

    rows = [["密级", "含义"], ["绝密", "最重要的国家秘密"], ["机密", "重要的国家秘密"], ["秘密", "一般的国家秘密"]]
    assert mark_rules(scanner.scan_bytes(xlsx_of(rows), "levels.xlsx")) == []


def test_a_lone_level_in_a_header_row_is_still_a_mark(scanner) -> None:
    from tests.documents import xlsx_of

    report = scanner.scan_bytes(xlsx_of([["密级", "机密"], ["项目", "预算"]]), "budget.xlsx")
    assert mark_rules(report) == ["mark.state-secret"]


def test_table_of_levels_needs_two_levels_in_one_row_or_column() -> None:
    cells = [("body.table1.r2c1", "绝密"), ("body.table1.r3c1", "机密"), ("body.table2.r1c2", "秘密")]
    assert marks.table_of_levels(cells) == {"body.table1.r2c1", "body.table1.r3c1"}


# --- Declassified and disguised marks ---


def test_a_mark_whose_declassification_date_has_passed_is_declassified(scan_text) -> None:
    report = scan_text("秘密★2001年12月31日\n关于……的通知")
    assert mark_rules(report) == ["mark.declassified"]
    assert report.findings[0].category == "declassified"
    assert str(report.verdict) == "flag"


def test_a_mark_whose_declassification_date_is_ahead_blocks(scan_text) -> None:
    report = scan_text("秘密★2099年12月31日\n关于……的通知")
    assert mark_rules(report) == ["mark.state-secret"]
    assert str(report.verdict) == "block"


def test_a_passed_declassification_time_beside_the_mark_declassifies_it(scan_text) -> None:
    assert mark_rules(scan_text("机密★5年（解密时间：2001年1月1日）\n正文")) == ["mark.declassified"]


@pytest.mark.parametrize("line", ["机密★5年（已解密）", "机密★5年 已解密", "已解密 机密★5年"])
def test_a_mark_stamped_declassified_is_declassified(scan_text, line: str) -> None:
    assert mark_rules(scan_text(f"{line}\n正文")) == ["mark.declassified"]


@pytest.mark.parametrize("line", ["~~机密★5年~~", "机̶密̶★̶5̶年̶", "<del>机密★5年</del>"])
def test_a_mark_struck_through_in_text_is_declassified(scan_text, line: str) -> None:
    assert mark_rules(scan_text(f"{line}\n正文")) == ["mark.declassified"]


def test_a_declassification_condition_is_not_a_declassification_stamp(scan_text) -> None:
    assert mark_rules(scan_text("机密★解密条件：项目验收后\n正文")) == ["mark.state-secret"]


@pytest.mark.parametrize(("line", "written"), [("杌密★5年", "杌密"), ("袐密", "袐密"), ("エ作秘密", "エ作秘密")])
def test_a_mark_written_with_look_alikes_is_a_disguised_mark(scan_text, line: str, written: str) -> None:
    report = scan_text(f"{line}\n关于……的通知")
    assert mark_rules(report) == ["mark.disguised"]
    assert report.findings[0].category == "disguised-mark"
    assert written in report.findings[0].explanation
    assert str(report.verdict) == "flag"


def test_a_true_variant_of_a_mark_character_is_the_mark_itself(scan_text) -> None:
    assert mark_rules(scan_text("机宻★5年\n正文")) == ["mark.state-secret"]


def test_variation_selectors_inside_a_mark_do_not_hide_it(scan_text) -> None:
    assert mark_rules(scan_text("机\ufe0f密\U000e0100★5年\n正文")) == ["mark.state-secret"]


def test_look_alikes_in_a_regulation_sentence_are_still_a_mention(scan_text) -> None:
    assert mark_rules(scan_text("国家秘密的密级分为绝密、杌密、秘密三级。")) == []


# --- Text read by OCR ---


def test_text_read_by_ocr_takes_any_character_where_the_star_stands() -> None:
    from scanner.model import Segment

    assert _mark_rules_of(Segment("机密女5年\n关于预算的通知", "scan.png!ocr")) == ["mark.state-secret"]


def test_the_ocr_tolerance_is_only_for_text_read_by_ocr() -> None:
    from scanner.model import Segment

    assert _mark_rules_of(Segment("机密女5年\n关于预算的通知", "body")) == []


def test_the_ocr_tolerance_needs_a_period_after_the_misread_star() -> None:
    from scanner.model import Segment

    assert _mark_rules_of(Segment("正文\n" * 20 + "机密文件管理\n", "page1.ocr")) == []


def _mark_rules_of(segment) -> list[str]:  # type: ignore[no-untyped-def]
    from scanner.detect import Detectors
    from scanner.dictionaries import load_dictionaries
    from scanner.policy import load_config

    config = load_config()
    _, findings = Detectors(load_dictionaries(config)).run([segment], config.channel("scan"))
    return [f.rule for f in findings if f.rule.startswith("mark.")]


# --- Actions come from the policy ---


def test_a_mark_findings_action_is_the_policys(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from scanner.engine import Scanner
    from scanner.policy import load_config

    config_file = tmp_path / "baomi.toml"
    config_file.write_text('[actions]\nstate-secret = "flag"\ndisguised-mark = "block"\n', encoding="utf-8")
    scanner = Scanner(load_config(config_file))
    assert str(scanner.scan_bytes("机密★5年\n正文".encode(), "a.txt").verdict) == "flag"
    assert str(scanner.scan_bytes("杌密★5年\n正文".encode(), "a.txt").verdict) == "block"


def test_the_mark_detector_decides_no_action_of_its_own() -> None:
    import inspect

    assert "Verdict.BLOCK" not in inspect.getsource(marks)
