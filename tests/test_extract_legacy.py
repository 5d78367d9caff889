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
from scanner.i18n import render
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


def _patched(data: bytes, stream: str, offset: int, new: bytes) -> bytes:
    """The file with `new` written over the bytes at `offset` of one of its streams, found by the bytes around it."""
    import olefile

    with olefile.OleFileIO(data) as ole:
        content = ole.openstream(stream).read()
    context = content[max(0, offset - 16) : offset + 16]
    at = data.find(context)
    assert at >= 0 and data.count(context) == 1, f"the bytes around {offset} of {stream} are not unique"
    at += offset - max(0, offset - 16)
    return data[:at] + new + data[at + len(new) :]


def _stream(data: bytes, name: str) -> bytes:
    import olefile

    with olefile.OleFileIO(data) as ole:
        return bytes(ole.openstream(name).read())


def test_word_text_is_read_by_its_piece_table_story_by_story(converted: dict[str, Path]) -> None:
    extraction = _read(converted, "header.doc")
    assert [(s.part, s.role) for s in holding(extraction, MARK)] == [("headers", Role.HEADER)]
    assert the_one(extraction, "正文没有标志").role == Role.BODY


def test_a_piece_table_that_promises_text_past_the_stream_is_corrupt(converted: dict[str, Path]) -> None:
    import struct

    data = converted["body.doc"].read_bytes()
    document = _stream(data, "WordDocument")
    pairs = 34 + 2 * 14 + 2 + 4 * 22 + 2
    table_name = "1Table" if struct.unpack_from("<H", document, 0x0A)[0] & 0x0200 else "0Table"
    fc_clx, lcb_clx = struct.unpack_from("<II", document, pairs + 8 * 33)
    clx = _stream(data, table_name)[fc_clx : fc_clx + lcb_clx]
    pieces_at = clx.index(b"\x02")
    count = (struct.unpack_from("<I", clx, pieces_at + 1)[0] - 4) // 12
    descriptor = fc_clx + pieces_at + 5 + 4 * (count + 1) + 2  # the first piece's file offset
    broken = _patched(data, table_name, descriptor, struct.pack("<I", len(document) * 4))
    assert reasons(extract(broken, "broken.doc")) == {"corrupt"}


def test_a_word_header_of_an_unknown_layout_is_corrupt(converted: dict[str, Path]) -> None:
    broken = _patched(converted["body.doc"].read_bytes(), "WordDocument", 32, b"\x07\x00")  # csw: 7 shorts, not 14
    extraction = extract(broken, "broken.doc")
    assert [render(p.detail, "en") for p in extraction.problems] == ["The Word header (FIB) is damaged."]


def test_a_workbook_record_that_runs_past_the_stream_is_corrupt(converted: dict[str, Path]) -> None:
    data = converted["cell.xls"].read_bytes()
    broken = _patched(data, "Workbook", 2, b"\xff\x7f")  # the BOF record's length, past the stream's end
    assert reasons(extract(broken, "broken.xls")) == {"corrupt"}


def test_a_presentation_record_longer_than_its_container_is_corrupt(converted: dict[str, Path]) -> None:
    data = converted["slide.ppt"].read_bytes()
    broken = _patched(data, "PowerPoint Document", 4, b"\xff\xff\xff\x00")  # the first record's length
    assert reasons(extract(broken, "broken.ppt")) == {"corrupt"}


def test_a_presentation_whose_edit_history_loops_is_damaged(converted: dict[str, Path]) -> None:
    import struct

    data = converted["slide.ppt"].read_bytes()
    edit = struct.unpack_from("<I", _stream(data, "Current User"), 16)[0]
    looped = _patched(data, "PowerPoint Document", edit + 16, struct.pack("<I", edit))  # offsetLastEdit: itself
    extraction = extract(looped, "looped.ppt")
    assert reasons(extraction) == {"repaired"}
    assert the_one(extraction, MARK).part == "slides"


def test_a_storage_written_out_as_a_compound_file_reads_as_the_original(converted: dict[str, Path]) -> None:
    """How a 97 document embedded in another (an ObjectPool or MBD storage) is handed to the readers."""
    import olefile

    from scanner.extract.cfb import compound_file

    original = converted["cell.xls"].read_bytes()
    with olefile.OleFileIO(original) as ole:
        streams = {tuple(entry): ole.openstream(entry).read() for entry in ole.listdir(streams=True, storages=False)}
    rebuilt = compound_file(streams)
    with olefile.OleFileIO(rebuilt) as ole:
        assert {tuple(e): ole.openstream(e).read() for e in ole.listdir(streams=True, storages=False)} == streams
    assert the_one(extract(rebuilt, "rebuilt.xls"), MARK).role == Role.CELL
