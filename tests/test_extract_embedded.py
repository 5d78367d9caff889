"""What Office documents carry besides their text: embedded OLE objects (a Package, an Excel 97 workbook, an OOXML
package), altChunk parts, pictures, defined names and document variables. Each is read through the one dispatcher
like any container member, or named as not examined."""

from __future__ import annotations

import io
import shutil
import struct
import zipfile
from pathlib import Path

import docx
import openpyxl
import pptx
import pytest
from openpyxl.workbook.defined_name import DefinedName
from pptx.util import Inches

from scanner.engine import Scanner
from scanner.extract import extract
from tests.conftest import require
from tests.extract_fixtures import MARK, libreoffice, ole_of, reasons, the_one
from tests.test_extract_pdf import grey_png

PACKAGE_CLSID = struct.pack("<IHH", 0x0003000C, 0, 0) + bytes.fromhex("c000000000000046")


def saved(document: docx.document.Document) -> bytes:
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def with_parts(package: bytes, parts: dict[str, bytes], relationship: tuple[str, str] | None = None) -> bytes:
    """The package with parts added, and optionally a relationship (type, target) from the main document part."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(package)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info)
            if relationship and info.filename == "word/_rels/document.xml.rels":
                kind, where = relationship
                rel = f'<Relationship Id="rIdChunk" Type="{kind}" Target="{where}"/>'
                data = data.replace(b"</Relationships>", rel.encode() + b"</Relationships>")
            target.writestr(info, data)
        for name, data in parts.items():
            target.writestr(name, data)
    return out.getvalue()


def package_object(name: str, content: bytes) -> bytes:
    """oleObject1.bin as Office writes it for an inserted file: an OLE Package (Ole10Native stream)."""
    path = f"C:\\Users\\办公室\\{name}".encode("gbk") + b"\x00"
    native = b"\x02\x00" + name.encode("gbk") + b"\x00" + path + b"\x00\x00\x03\x00"
    native += struct.pack("<I", len(path)) + path + struct.pack("<I", len(content)) + content
    return ole_of({"\x01Ole10Native": struct.pack("<I", len(native)) + native}, clsid=PACKAGE_CLSID)


def report_document() -> docx.document.Document:
    document = docx.Document()
    document.add_paragraph("各单位：请按时报送材料。")
    return document


def test_an_ole_package_in_a_docx_is_read_as_the_file_it_wraps() -> None:
    data = with_parts(
        saved(report_document()), {"word/embeddings/oleObject1.bin": package_object("名单.txt", MARK.encode())}
    )
    extraction = extract(data, "报告.docx")
    assert the_one(extraction, MARK).part == "word/embeddings/oleObject1.bin!名单.txt!body"
    assert reasons(extraction) == set()


def test_a_clean_report_with_an_embedded_excel_workbook_passes(tmp_path: Path, scanner: Scanner) -> None:
    book = openpyxl.Workbook()
    book.active["A1"] = "季度 销量"
    book.save(tmp_path / "chart.xlsx")
    xls = libreoffice({"xls": [tmp_path / "chart.xlsx"]}, tmp_path)[0].read_bytes()
    data = with_parts(saved(report_document()), {"word/embeddings/oleObject1.bin": xls})
    report = scanner.scan_bytes(data, "报告.docx")
    assert (str(report.verdict), report.errors) == ("pass", [])


def test_an_ooxml_package_inside_an_ole_object_is_read() -> None:
    inner = docx.Document()
    inner.add_paragraph(MARK)
    padded = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(saved(inner))) as source, zipfile.ZipFile(padded, "w") as target:
        for info in source.infolist():
            target.writestr(info, source.read(info))
        target.comment = b" " * 64
    data = with_parts(
        saved(report_document()), {"word/embeddings/oleObject1.bin": ole_of({"Package": padded.getvalue()})}
    )
    assert the_one(extract(data, "报告.docx"), MARK).part == "word/embeddings/oleObject1.bin!Package!body"


def test_an_object_of_no_readable_kind_is_unsupported_never_silent() -> None:
    data = with_parts(saved(report_document()), {"word/embeddings/oleObject1.bin": ole_of({"Equation Native": b"?"})})
    assert reasons(extract(data, "报告.docx")) == {"unsupported"}


def test_an_alt_chunk_named_by_its_relationship_is_read() -> None:
    html = f"<html><body><p>{MARK}</p><p>附件</p></body></html>".encode()
    kind = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/aFChunk"
    data = with_parts(saved(report_document()), {"word/chunk7.htm": html}, (kind, "chunk7.htm"))
    assert the_one(extract(data, "报告.docx"), MARK).part == "word/chunk7.htm!body"


def test_pictures_in_a_presentation_and_a_workbook_are_image_findings() -> None:
    deck = pptx.Presentation()
    deck.slides.add_slide(deck.slide_layouts[6]).shapes.add_picture(io.BytesIO(grey_png()), Inches(1), Inches(1))
    out = io.BytesIO()
    deck.save(out)
    assert [(p.reason, p.part) for p in extract(out.getvalue(), "汇报.pptx").problems] == [
        ("image", "ppt/media/image1.png")
    ]
    book = openpyxl.Workbook()
    from openpyxl.drawing.image import Image

    book.active.add_image(Image(io.BytesIO(grey_png())), "B2")
    out = io.BytesIO()
    book.save(out)
    assert [p.reason for p in extract(out.getvalue(), "表.xlsx").problems] == ["image"]


def test_defined_names_of_a_workbook_are_read() -> None:
    book = openpyxl.Workbook()
    book.active["A1"] = "无标志"
    book.defined_names["密级"] = DefinedName("密级", attr_text=f'"{MARK}"')
    out = io.BytesIO()
    book.save(out)
    segment = the_one(extract(out.getvalue(), "表.xlsx"), MARK)
    assert (segment.part, segment.text) == ("defined-names", f'密级: "{MARK}"')


def test_document_variables_are_read() -> None:
    data = saved(report_document())
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        settings = package.read("word/settings.xml")
    variable = f'<w:docVars><w:docVar w:name="密级" w:val="{MARK}"/></w:docVars>'.encode()
    settings = settings.replace(b"</w:settings>", variable + b"</w:settings>")
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            target.writestr(info, settings if info.filename == "word/settings.xml" else source.read(info))
    assert the_one(extract(out.getvalue(), "报告.docx"), MARK).part == "variables"


@pytest.fixture(scope="module")
def ppt_with_word_object(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A PowerPoint 97 file with an embedded Word 97 document: the .doc written by LibreOffice, put in a pptx as an
    OLE object by python-pptx, and the pptx written as .ppt by LibreOffice (an ExOleObjStg record)."""
    require(shutil.which("soffice") is not None, "LibreOffice (soffice)")
    folder = tmp_path_factory.mktemp("ppt-object")
    inner = docx.Document()
    inner.add_paragraph(f"{MARK}\n附件")
    inner.save(folder / "inner.docx")
    doc = libreoffice({"doc": [folder / "inner.docx"]}, folder)[0].read_bytes()
    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[6])
    slide.shapes.add_ole_object(io.BytesIO(doc), "Word.Document.8", Inches(1), Inches(1))
    deck.save(folder / "deck.pptx")
    return libreoffice({"ppt": [folder / "deck.pptx"]}, folder)[0].read_bytes()


def test_an_object_embedded_in_a_ppt_is_read(ppt_with_word_object: bytes) -> None:
    assert the_one(extract(ppt_with_word_object, "汇报.ppt"), MARK).part == "object1!body"


def test_a_broken_object_embedded_in_a_ppt_does_not_pass(ppt_with_word_object: bytes, scanner: Scanner) -> None:
    import olefile

    with olefile.OleFileIO(ppt_with_word_object) as ole:
        stream = ole.openstream("PowerPoint Document").read()
    at = 0
    while struct.unpack_from("<HHI", stream, at)[1] != 0x1011:  # to the ExOleObjStg record
        header = struct.unpack_from("<HHI", stream, at)
        at += 8 if header[0] & 0x0F == 0x0F else 8 + header[2]
    compressed = stream[at + 12 : at + 60]
    data = bytearray(ppt_with_word_object)
    start = data.find(compressed)
    data[start + 8 : start + 48] = bytes(40)  # the object's compressed storage, damaged
    report = scanner.scan_bytes(bytes(data), "汇报.ppt")
    assert str(report.verdict) == "block"
    assert [f.location.part for f in report.findings] == ["object1"]


def test_text_in_attributes_of_a_part_no_reader_is_led_to_is_read() -> None:
    # A pivot cache keeps the values of its source rows in attributes (<s v="..."/>), in parts no sheet shows.
    book = openpyxl.Workbook()
    book.active["A1"] = "无标志"
    out = io.BytesIO()
    book.save(out)
    records = (
        '<pivotCacheRecords xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1">'
        f'<r><s v="{MARK} 名单"/><n v="3"/></r></pivotCacheRecords>'
    )
    data = with_parts(out.getvalue(), {"xl/pivotCache/pivotCacheRecords1.xml": records.encode()})
    assert the_one(extract(data, "表.xlsx"), MARK).part == "xl/pivotCache/pivotCacheRecords1.xml"


def test_the_alternative_text_of_a_picture_is_read() -> None:
    document = report_document()
    document.add_picture(io.BytesIO(grey_png()))
    document.inline_shapes[0]._inline.docPr.set("descr", f"{MARK} 组织机构图")
    segment = the_one(extract(saved(document), "报告.docx"), MARK)
    assert (segment.part, segment.text) == ("body.alt-text", f"{MARK} 组织机构图")
