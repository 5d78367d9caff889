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
