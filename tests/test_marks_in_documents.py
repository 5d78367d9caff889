"""Marks in real documents, built with the libraries offices' files come from: a mark is judged by where it stands in
the document (a header, a footer, a slide title, a table, a text box), not by what shares its line."""

from __future__ import annotations

import io
import random
import shutil
from dataclasses import replace

from scanner.engine import Scanner
from scanner.model import FileReport
from scanner.policy import load_config
from tests.conftest import require
from tests.documents import (
    docx_with,
    docx_with_break,
    docx_with_struck,
    docx_with_table,
    docx_with_text_box,
    pptx_of,
)


def marks_in(report: FileReport) -> list[str]:
    return [f.rule for f in report.findings if f.rule.startswith("mark.")]


def test_a_report_header_with_the_mark_then_tabs_then_the_title_blocks(scanner: Scanner) -> None:
    report = scanner.scan_bytes(docx_with(header="秘密★5年\t\t项目名称：天河"), "report.docx")
    assert marks_in(report) == ["mark.state-secret"]
    assert str(report.verdict) == "block"


def test_a_footer_with_the_mark_and_the_page_number_blocks(scanner: Scanner) -> None:
    report = scanner.scan_bytes(docx_with(footer="秘密★1年  第3页 共5页"), "report.docx")
    assert marks_in(report) == ["mark.state-secret"]


def test_a_header_with_the_unit_then_a_wide_gap_then_the_mark_blocks(scanner: Scanner) -> None:
    report = scanner.scan_bytes(docx_with(header="某某研究所\t\t\t机密★10年"), "report.docx")
    assert marks_in(report) == ["mark.state-secret"]


def test_a_slide_title_opening_with_the_mark_blocks(scanner: Scanner) -> None:
    report = scanner.scan_bytes(pptx_of("机密★10年 年度工作汇报", "一、总体情况"), "汇报.pptx")
    assert marks_in(report) == ["mark.state-secret"]


def test_a_mark_broken_by_a_line_break_inside_its_level_blocks(scanner: Scanner) -> None:
    report = scanner.scan_bytes(docx_with_break("机", "密★5年"), "report.docx")
    assert marks_in(report) == ["mark.state-secret"]


def test_a_mark_written_one_character_per_line_in_a_narrow_text_box_blocks(scanner: Scanner) -> None:
    report = scanner.scan_bytes(docx_with_text_box(list("机密★5年")), "report.docx")
    assert marks_in(report) == ["mark.state-secret"]


def test_a_regulations_table_of_the_levels_is_not_marked(scanner: Scanner) -> None:
    rows = [["密级", "含义"], ["绝密", "最重要的国家秘密"], ["机密", "重要的国家秘密"], ["秘密", "一般的国家秘密"]]
    report = scanner.scan_bytes(docx_with_table(rows), "保密制度.docx")
    assert marks_in(report) == []
    assert str(report.verdict) == "pass"


def test_a_lone_level_in_a_documents_header_table_still_blocks(scanner: Scanner) -> None:
    report = scanner.scan_bytes(docx_with_table([["密级", "机密"], ["项目", "天河"]]), "呈批件.docx")
    assert marks_in(report) == ["mark.state-secret"]


def test_a_mark_struck_through_in_word_is_declassified_and_flags(scanner: Scanner) -> None:
    report = scanner.scan_bytes(docx_with_struck("机密★5年"), "report.docx")
    assert marks_in(report) == ["mark.declassified"]
    assert str(report.verdict) == "flag"


def test_a_mark_not_struck_through_in_word_blocks(scanner: Scanner) -> None:
    assert marks_in(scanner.scan_bytes(docx_with(paragraphs=("机密★5年", "正文")), "report.docx")) == [
        "mark.state-secret"
    ]


# --- OCR never makes a file less safe ---


def _ocr_scanner() -> Scanner:
    require(shutil.which("tesseract") is not None, "Tesseract (tesseract-ocr, tesseract-ocr-chi-sim)")
    return Scanner(replace(load_config(), ocr=True))


def _png(text: str) -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("L", (900, 260), 255)
    font = ImageFont.truetype("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 48)
    ImageDraw.Draw(image).text((20, 30), text, fill=0, font=font)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def test_a_mark_in_an_image_blocks_with_ocr_though_the_star_is_misread() -> None:
    report = _ocr_scanner().scan_bytes(_png("机密★5年\n关于做好年度工作的通知"), "scan.png")
    assert "mark.state-secret" in marks_in(report)
    assert str(report.verdict) == "block"


def test_an_image_whose_text_is_read_poorly_keeps_its_image_finding() -> None:
    from PIL import Image

    noise = Image.new("L", (640, 480))
    rng = random.Random(9)
    noise.putdata([rng.randrange(256) for _ in range(640 * 480)])
    out = io.BytesIO()
    noise.save(out, "PNG")
    without = Scanner().scan_bytes(out.getvalue(), "photo.png")
    report = _ocr_scanner().scan_bytes(out.getvalue(), "photo.png")
    assert str(without.verdict) == "flag"
    assert "image.not-examined" in report.rules
    assert str(report.verdict) == "flag"


def test_a_clean_text_read_well_by_ocr_is_still_flagged_for_a_person() -> None:
    """A file flagged without --ocr is never passed with it: OCR cannot see a seal or a mark drawn as a picture."""
    report = _ocr_scanner().scan_bytes(_png("关于做好年度工作的通知\n各单位：请按时报送。"), "notice.png")
    assert report.rules == ["image.ocr"], report.findings
    assert str(report.verdict) == "flag"


def test_a_secret_mark_in_an_image_blocks_with_ocr() -> None:
    report = _ocr_scanner().scan_bytes(_png("秘密★1年\n关于做好年度工作的通知"), "scan.png")
    assert str(report.verdict) == "block"
