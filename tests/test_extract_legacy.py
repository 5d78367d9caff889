"""Legacy Office and WPS: fixtures written by LibreOffice from documents made here, read by catdoc, xls2csv and the
PowerPoint text atoms; encryption is recognised before any text is read."""

from __future__ import annotations

import shutil
from pathlib import Path

import docx
import openpyxl
import pptx
import pytest

from scanner.extract import extract
from scanner.model import Role
from tests.conftest import SHARED, require
from tests.extract_fixtures import MARK, holding, libreoffice, reasons, the_one

PEER = SHARED / "corpora" / "peer"


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One document per part, each with the mark in that part only."""
    require(shutil.which("catdoc") is not None and shutil.which("xls2csv") is not None, "catdoc and xls2csv")
    folder = tmp_path_factory.mktemp("legacy")
    body = docx.Document()
    body.add_paragraph(f"{MARK}\n关于预算的通知")
    body.save(folder / "body.docx")
    header = docx.Document()
    header.sections[0].header.paragraphs[0].text = f"{MARK} 页眉"
    header.add_paragraph("正文没有标志")
    header.save(folder / "header.docx")
    titled = docx.Document()
    titled.core_properties.title = f"{MARK} 标题"
    titled.add_paragraph("正文没有标志")
    titled.save(folder / "titled.docx")
    book = openpyxl.Workbook()
    book.active["B2"] = f"{MARK} 工资"
    book.save(folder / "cell.xlsx")
    named = openpyxl.Workbook()
    named.active.title = "机密名单"
    named.active["A1"] = "无标志"
    named.save(folder / "sheet.xlsx")
    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = f"{MARK} 汇报"
    deck.save(folder / "slide.pptx")
    return {p.stem: p for p in folder.iterdir() if p.suffix in (".docx", ".xlsx", ".pptx")}


@pytest.fixture(scope="module")
def converted(sources: dict[str, Path]) -> dict[str, Path]:
    folder = sources["body"].parent
    jobs = {
        "doc": [sources["body"], sources["header"], sources["titled"]],
        "xls": [sources["cell"], sources["sheet"]],
        "ppt": [sources["slide"]],
    }
    out = libreoffice(jobs, folder)
    # WPS Office writes .wps/.et/.dps in the Word, Excel and PowerPoint 97 formats (LibreOffice's "wps" export is its
    # MS Word 97 filter), so the same bytes under WPS names are what a WPS user sends.
    for source, twin in (("doc/body.doc", "body.wps"), ("xls/cell.xls", "cell.et"), ("ppt/slide.ppt", "slide.dps")):
        out.append(folder / twin)
        shutil.copyfile(folder / source, out[-1])
    return {f"{p.stem}{p.suffix}": p for p in out}


def _read(converted: dict[str, Path], name: str):  # type: ignore[no-untyped-def]
    return extract(converted[name].read_bytes(), name)


def test_doc_body(converted: dict[str, Path]) -> None:
    extraction = _read(converted, "body.doc")
    assert extraction.format == "ole-doc"
    assert the_one(extraction, MARK).role == Role.BODY


def test_doc_header(converted: dict[str, Path]) -> None:
    assert f"{MARK} 页眉" in the_one(_read(converted, "header.doc"), MARK).text


def test_doc_title_property(converted: dict[str, Path]) -> None:
    segment = the_one(_read(converted, "titled.doc"), MARK)
    assert (segment.role, segment.part) == (Role.TITLE, "title")


def test_wps_document(converted: dict[str, Path]) -> None:
    extraction = _read(converted, "body.wps")
    assert extraction.format == "wps"
    assert the_one(extraction, MARK).role == Role.BODY


def test_xls_cell(converted: dict[str, Path]) -> None:
    segment = the_one(_read(converted, "cell.xls"), MARK)
    assert (segment.role, segment.part) == (Role.CELL, "sheet1")


def test_xls_sheet_name(converted: dict[str, Path]) -> None:
    segment = the_one(_read(converted, "sheet.xls"), "机密名单")
    assert (segment.role, segment.part) == (Role.METADATA, "sheet-names")


def test_et_spreadsheet(converted: dict[str, Path]) -> None:
    extraction = _read(converted, "cell.et")
    assert extraction.format == "wps"
    assert the_one(extraction, MARK).role == Role.CELL


def test_ppt_slide(converted: dict[str, Path]) -> None:
    extraction = _read(converted, "slide.ppt")
    assert extraction.format == "ole-ppt"
    assert the_one(extraction, MARK).part == "slides"


def test_dps_presentation(converted: dict[str, Path]) -> None:
    assert holding(_read(converted, "slide.dps"), MARK)


@pytest.mark.parametrize(
    "path", ["oletools/encrypted/encrypted.doc", "oletools/encrypted/encrypted.xls", "oletools/encrypted/encrypted.ppt"]
)
def test_password_protected_legacy_files_are_encrypted(path: str) -> None:
    # No Debian tool writes encrypted .doc/.xls/.ppt; these come from oletools' test suite.
    require((PEER / path).exists(), f"the peer corpus at {PEER}")
    assert reasons(extract((PEER / path).read_bytes(), path)) == {"encrypted"}


def test_a_word_stream_without_a_word_header_is_corrupt(converted: dict[str, Path]) -> None:
    import olefile

    data = bytearray(converted["body.doc"].read_bytes())
    with olefile.OleFileIO(bytes(data)) as ole:
        start = data.find(ole.openstream("WordDocument").read(64))
    data[start : start + 2] = b"\x00\x00"
    assert reasons(extract(bytes(data), "broken.doc")) == {"corrupt"}
