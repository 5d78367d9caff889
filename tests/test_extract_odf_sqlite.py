"""OpenDocument's pictures and embedded objects, and SQLite databases: files built here with LibreOffice, openpyxl
and the standard library's sqlite3."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import docx
import openpyxl
import pytest
from openpyxl.chart import BarChart, Reference

from scanner.engine import Scanner
from scanner.extract import extract
from tests.extract_fixtures import MARK, libreoffice, reasons, the_one, zip_of
from tests.test_extract_pdf import grey_png


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("odf")
    document = docx.Document()
    document.add_paragraph("各单位：请按时报送材料。")
    document.add_picture(io.BytesIO(grey_png()))
    document.save(folder / "picture.docx")
    book = openpyxl.Workbook()
    sheet = book.active
    for row in (("季度", "销量"), ("一", 3), ("二", 5)):
        sheet.append(row)
    chart = BarChart()
    chart.title = f"{MARK} 销量"
    chart.add_data(Reference(sheet, min_col=2, min_row=1, max_row=3), titles_from_data=True)
    sheet.add_chart(chart, "D2")
    book.save(folder / "chart.xlsx")
    out = libreoffice({"odt": [folder / "picture.docx"], "ods": [folder / "chart.xlsx"]}, folder)
    return {p.suffix: p for p in out}


def test_a_picture_in_an_opendocument_is_an_image_finding(converted: dict[str, Path], scanner: Scanner) -> None:
    report = scanner.scan_bytes(converted[".odt"].read_bytes(), "通知.odt")
    assert [f.category for f in report.findings] == ["image"]
    assert report.findings[0].location.part.startswith("Pictures/")
    assert str(report.verdict) == "flag"


def test_an_embedded_chart_in_an_opendocument_is_read(converted: dict[str, Path]) -> None:
    extraction = extract(converted[".ods"].read_bytes(), "销量.ods")
    assert the_one(extraction, MARK).part.startswith("Object ")


def test_a_file_inside_an_opendocument_goes_through_the_dispatcher() -> None:
    mimetype = b"application/vnd.oasis.opendocument.text"
    content = b'<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"/>'
    data = zip_of({"mimetype": mimetype, "content.xml": content, "Object 2": zip_of({"名单.txt": MARK.encode()})})
    assert the_one(extract(data, "x.odt"), MARK).part == "Object 2!名单.txt!body"


def _database(path: Path, text_rows: list[tuple[object, ...]], blob: bytes | None = None) -> bytes:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE 员工 (姓名 TEXT, 备注 TEXT, 附件 BLOB)")
        connection.executemany("INSERT INTO 员工 VALUES (?, ?, ?)", [(*row, blob) for row in text_rows])
    connection.close()
    return path.read_bytes()


def test_a_sqlite_databases_text_columns_are_read(tmp_path: Path) -> None:
    data = _database(tmp_path / "hr.db", [("张三", "正常"), ("李四", f"{MARK} 调动")])
    extraction = extract(data, "hr.db")
    assert extraction.format == "sqlite" and reasons(extraction) == set()
    assert the_one(extraction, f"{MARK} 调动").part == "table:员工"


def test_a_clean_database_passes(tmp_path: Path, scanner: Scanner) -> None:
    data = _database(tmp_path / "hr.db", [("张三", "正常")])
    assert str(scanner.scan_bytes(data, "hr.sqlite").verdict) == "pass"


def test_a_document_kept_in_a_database_is_read(tmp_path: Path) -> None:
    data = _database(tmp_path / "docs.db", [("张三", "见附件")], blob=zip_of({"名单.txt": MARK.encode()}))
    assert the_one(extract(data, "docs.db"), MARK).part == "table:员工!row1.附件!名单.txt!body"


def test_binary_values_of_no_known_format_are_a_problem(tmp_path: Path) -> None:
    data = _database(tmp_path / "x.db", [("张三", "正常")], blob=bytes(range(1, 200)))
    assert reasons(extract(data, "x.db")) == {"unsupported"}


def test_a_database_cut_short_is_corrupt(tmp_path: Path) -> None:
    data = _database(tmp_path / "x.db", [(f"员工{i}", "备注" * 50) for i in range(200)])
    assert reasons(extract(data[: len(data) // 2], "x.db")) == {"corrupt"}
