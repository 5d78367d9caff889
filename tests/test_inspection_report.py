"""The 检查报告 of `baomi scan PATH --report FILE.html --report FILE.docx`: the HTML in a real Chromium (it renders,
its three charts are drawn, no console errors), the Word file read back with python-docx (headings, tables,
pictures), in Chinese under LANG=zh_CN.UTF-8 and in English under LANG=C, with nothing of a document but the
short contexts of its findings."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docx
import pytest
from PIL import Image

from scanner.cli import main
from scanner.inspection import CONTEXT_CHARS, FINDINGS_PER_FILE, Inspection, write_report
from scanner.inspection.collect import operator
from scanner.model import FileReport, Finding, Location, Verdict
from scanner.policy import load_config
from tests.conftest import ROOT, SHARED, require
from tests.language import data_words, dictionary_names, english_words, has_han
from tests.web_service import chromium

# Text of the marked document that is no finding's context: it must appear in no report.
SECRET = "第三代试验样机的工作压力为每平方厘米四百二十公斤，设计寿命十二年。"
ZH_HEADINGS = ["检查范围", "检查结果", "统计图", "存在发现项的文件", "无法检查的文件"]
EN_HEADINGS = ["Scope of the check", "Results", "Charts", "Files with findings", "Files that could not be checked"]
LOCALE_VARIABLES = ("LANG", "LC_ALL", "LC_MESSAGES", "LANGUAGE")


def marked_docx() -> bytes:
    """机密★5年 in the page header, and a body whose text holds no finding (SECRET)."""
    document = docx.Document()
    document.sections[0].header.paragraphs[0].text = "机密★5年"
    document.add_paragraph("关于样机试验情况的报告")
    for _paragraph in range(3):
        document.add_paragraph("为做好试验工作，现将有关情况报告如下。" * 4)
    document.add_paragraph(SECRET)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_share(root: Path) -> Path:
    """A small shared folder: a marked docx, a handling phrase, an ID number, an encrypted zip, a clean notice."""
    (root / "办公室" / "试验").mkdir(parents=True)
    (root / "人事").mkdir()
    (root / "办公室" / "试验" / "样机报告.docx").write_bytes(marked_docx())
    (root / "办公室" / "会议纪要.txt").write_text("会议纪要\n本纪要仅限内部传阅，请勿转发。\n", encoding="utf-8")
    (root / "办公室" / "运动会通知.txt").write_text("关于举办春季运动会的通知\n请各部门报名。\n", encoding="utf-8")
    (root / "人事" / "报名表.txt").write_text("姓名：张三\n身份证号：11010519491231002X\n", encoding="utf-8")
    (root / "人事" / "名单.txt").write_text("内部名单\n", encoding="utf-8")
    subprocess.run(
        ["7z", "a", "-tzip", "-pmima123", "资料.zip", "名单.txt"], cwd=root / "人事", check=True, capture_output=True
    )
    (root / "人事" / "名单.txt").unlink()
    return root


@dataclass
class Reports:
    html: Path
    docx: Path
    scanned: list[dict[str, Any]]  # the JSON Lines of the same scan


def scan_with_reports(share: Path, out: Path, lang: str, capsys: pytest.CaptureFixture[str]) -> Reports:
    html, word = out / "检查报告.html", out / "检查报告.docx"
    with pytest.MonkeyPatch.context() as patch:
        for name in LOCALE_VARIABLES:
            patch.delenv(name, raising=False)
        patch.setenv("LANG", lang)
        capsys.readouterr()
        status = main(
            ["scan", str(share), "--format", "jsonl", "--jobs", "1", "--report", str(html), "--report", str(word)]
        )
    assert status == 1
    lines = capsys.readouterr().out.splitlines()
    return Reports(html, word, [json.loads(line) for line in lines])


@pytest.fixture(scope="module")
def share(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_share(tmp_path_factory.mktemp("share") / "共享文件夹")


@pytest.fixture
def chinese(share: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Reports:
    return scan_with_reports(share, tmp_path, "zh_CN.UTF-8", capsys)


@pytest.fixture
def english(share: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Reports:
    return scan_with_reports(share, tmp_path, "C", capsys)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def open_page(browser: Any, path: Path) -> tuple[Any, list[str]]:
    """The report opened in Chromium, and every console error and uncaught exception it causes."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, errors


def own_words(page: Any) -> list[str]:
    """The report's own words: title, headings, column heads, labels, introductions, signatures, footer."""
    selector = "h1, h2, th, td.key, section > p, .signatures div, footer"
    return [text for text in page.locator(selector).all_inner_texts() if text.strip()]


def docx_text(document: Any) -> str:
    cells = (cell.text for table in document.tables for row in table.rows for cell in row.cells)
    return "\n".join([*(p.text for p in document.paragraphs), *cells])


def test_the_html_report_renders_in_chromium_with_three_charts_and_no_console_errors(
    browser: Any, chinese: Reports
) -> None:
    page, errors = open_page(browser, chinese.html)
    assert page.locator("h1").inner_text() == "保密检查报告"
    assert page.locator("h2").all_inner_texts() == ZH_HEADINGS
    charts = page.locator("svg.chart")
    assert charts.count() == 3
    for index in range(3):
        box = charts.nth(index).bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 50
    verdict_bars = charts.nth(0).locator("rect")
    assert verdict_bars.count() == 3
    widths = [float(verdict_bars.nth(i).get_attribute("width")) for i in range(3)]
    assert widths[0] > 0  # blocked files are drawn
    assert errors == []
    page.close()


def test_the_html_report_lists_every_file_that_did_not_pass_and_why(browser: Any, chinese: Reports) -> None:
    page, _errors = open_page(browser, chinese.html)
    text = page.locator("body").inner_text()
    not_passed = [f["path"] for f in chinese.scanned if f["verdict"] != "pass"]
    assert len(not_passed) == 4
    for path in not_passed:
        assert path in text
    assert "运动会通知.txt" not in text.split("存在发现项的文件", 1)[1]
    assert "页眉（header1） · 第 1 行第 1 列" in text
    assert page.locator("mark", has_text="机密★5年").count() == 1
    assert "文件已加密（设有密码），无法检查其内容。" in text
    assert "共检查 5 个文件：禁止外发 2 个，需人工审核 2 个，通过 1 个。" in text
    assert page.locator(".signatures div").all_inner_texts() == ["检查人（签字）：", "审核人（签字）：", "日期："]
    page.close()


def test_the_chinese_reports_own_words_are_chinese(browser: Any, chinese: Reports) -> None:
    """Product names, rule IDs and the data of the files aside, nothing in the report is English: its own words,
    and every reason a detector or a reader gave."""
    page, _errors = open_page(browser, chinese.html)
    assert [w for text in own_words(page) for w in english_words(text)] == []
    shown = data_words(*(f["path"] for f in chinese.scanned), operator()) | dictionary_names()
    assert english_words(page.locator("body").inner_text(), keep=shown) == []
    page.close()


def test_the_english_report_has_no_chinese_of_its_own(browser: Any, english: Reports) -> None:
    page, _errors = open_page(browser, english.html)
    assert page.locator("h1").inner_text() == "Confidentiality check report"
    assert page.locator("h2").all_inner_texts() == EN_HEADINGS
    assert [text for text in own_words(page) if has_han(text)] == []
    assert "Tendering and procurement (tender)" in page.locator("body").inner_text()  # the dictionary's [en] title
    page.close()


def test_the_reports_hold_no_document_text_beyond_the_contexts(chinese: Reports) -> None:
    assert SECRET[:10] not in chinese.html.read_text(encoding="utf-8")
    assert SECRET[:10] not in docx_text(docx.Document(str(chinese.docx)))
    assert "11010519491231002X" not in chinese.html.read_text(encoding="utf-8")


def test_the_word_report_has_headings_tables_charts_and_a_signature_block(chinese: Reports) -> None:
    document = docx.Document(str(chinese.docx))
    styles = [(p.style.name, p.text) for p in document.paragraphs if p.style.name in ("Title", "Heading 1")]
    assert styles == [("Title", "保密检查报告"), *(("Heading 1", h) for h in ZH_HEADINGS)]
    assert len(document.tables) == 5  # scope, verdicts, categories, findings, unscannable files
    assert document.tables[0].cell(0, 0).text == "项目"
    findings = docx_text(document)
    assert "样机报告.docx" in findings and "文件已加密（设有密码），无法检查其内容。" in findings
    assert len(document.inline_shapes) == 3
    for shape in document.inline_shapes:
        blip = shape._inline.graphic.graphicData.pic.blipFill.blip.embed
        picture = Image.open(io.BytesIO(document.part.related_parts[blip].blob))
        assert picture.format == "PNG" and picture.width >= 1000
    signatures = [p.text for p in document.paragraphs if p.text.startswith(("检查人", "审核人", "日期"))]
    assert [s.rstrip("\u3000") for s in signatures] == ["检查人（签字）：", "审核人（签字）：", "日期："]


def test_the_english_word_report(english: Reports) -> None:
    document = docx.Document(str(english.docx))
    headings = [p.text for p in document.paragraphs if p.style.name == "Heading 1"]
    assert headings == EN_HEADINGS


def test_a_report_that_is_neither_html_nor_docx_is_refused_before_scanning(
    share: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scan", str(share), "--report", str(tmp_path / "报告.pdf")]) == 2
    assert ".html or .docx" in capsys.readouterr().err
    assert main(["scan", str(share), "--report", str(tmp_path / "no" / "报告.html")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_file_with_many_findings_is_listed_with_the_first_and_a_count_of_the_rest() -> None:
    inspection = Inspection.begin(["名册.txt"], load_config())
    long_context = "甲" * 200 + "110105********002X" + "乙" * 200
    findings = [
        Finding(
            "personal-data", "id.resident-id", Verdict.FLAG, "110105********002X", Location("body", n, 1), long_context
        )
        for n in range(1, 51)
    ]
    inspection.add(FileReport("名册.txt", Verdict.FLAG, findings))
    (entry,) = inspection.files
    assert len(entry.findings) == FINDINGS_PER_FILE and entry.more == 50 - FINDINGS_PER_FILE
    assert all(len(f.context) <= CONTEXT_CHARS and "110105********002X" in f.context for f in entry.findings)
    assert inspection.categories["personal-data"] == 50 and inspection.folders["."] == 50


def test_passing_files_are_counted_not_kept() -> None:
    inspection = Inspection.begin(["a"], load_config())
    for number in range(100):
        inspection.add(FileReport(f"a/{number}.txt", Verdict.PASS))
    assert inspection.total == 100 and inspection.files == []


PEER = SHARED / "corpora" / "peer"


@pytest.mark.slow
def test_the_report_on_the_peer_corpus_renders_in_chromium_and_opens_with_python_docx(
    browser: Any, tmp_path: Path
) -> None:
    """`baomi scan` as a user runs it (a process of its own, two workers) over 387 broken, encrypted and hostile
    files."""
    require(PEER.is_dir(), f"the peer corpus at {PEER}")
    html, word = tmp_path / "peer.html", tmp_path / "peer.docx"
    command = [sys.executable, "-m", "scanner.cli", "scan", str(PEER), "--format", "jsonl", "--jobs", "2"]
    env = {**os.environ, "LANG": "zh_CN.UTF-8", "PYTHONPATH": str(ROOT)}
    ran = subprocess.run(
        [*command, "--report", str(html), "--report", str(word)], capture_output=True, text=True, env=env, timeout=600
    )
    assert ran.returncode == 1, ran.stderr[-2000:]
    scanned = [json.loads(line) for line in ran.stdout.splitlines()]
    page, errors = open_page(browser, html)
    assert page.locator("svg.chart").count() == 3
    assert errors == []
    unscannable = sum(1 for f in scanned if any(x["category"] == "unscannable" for x in f["findings"]))
    assert unscannable > 100
    assert page.locator("text=无法检查的文件").count() >= 1
    page.close()
    document = docx.Document(str(word))
    assert len(document.inline_shapes) == 3 and len(document.tables) == 5
    assert len(document.tables[4].rows) > unscannable  # a row per problem, under its header


def test_folders_are_named_from_the_checked_folders_own_name_down() -> None:
    inspection = Inspection.begin(["/srv/共享文件夹", "outbox"], load_config())
    finding = Finding("internal", "mark.internal", Verdict.FLAG, "内部", Location("body", 1, 1))
    for path in ("/srv/共享文件夹/人事/名单.txt", "/srv/共享文件夹/人事/报名表.txt", "outbox/通知.txt"):
        inspection.add(FileReport(path, Verdict.FLAG, [finding]))
    assert inspection.folders == {"共享文件夹/人事": 2, "outbox": 1}


def test_names_and_contexts_from_files_are_shown_as_text_never_as_markup(browser: Any, tmp_path: Path) -> None:
    inspection = Inspection.begin([str(tmp_path)], load_config())
    markup = '<img src=x onerror="document.title=1">'
    finding = Finding(
        "state-secret", "mark.state-secret", Verdict.BLOCK, "机密", Location("body", 1, 1), markup + "机密"
    )
    inspection.add(FileReport(f"{tmp_path}/{markup}.txt", Verdict.BLOCK, [finding]))
    report = tmp_path / "report.html"
    write_report(inspection, report)
    page, errors = open_page(browser, report)
    assert page.locator("section img").count() == 0
    assert markup in page.locator("body").inner_text()
    assert errors == []
    page.close()
