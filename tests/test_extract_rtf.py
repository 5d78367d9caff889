"""RTF: read as Word shows it. Bytes in the code page of their font (\\ansicpg936, \\fcharset134), \\uN with its
fallback skipped, \\bin data and destinations without visible text left out, headers, notes and properties as
parts, pictures flagged, embedded objects read; an RTF that cannot be decoded is unscannable."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import docx
import pytest

from scanner.extract import extract
from scanner.extract.sniff import sniff
from scanner.model import Role
from tests.conftest import require
from tests.extract_fixtures import MARK, holding, libreoffice, reasons, the_one


def escaped(text: str, encoding: str = "gbk") -> str:
    """Text as WordPad and Word on Chinese Windows write it: every byte past ASCII as \\'xx."""
    return "".join(f"\\'{b:02x}" for b in text.encode(encoding)) if not text.isascii() else text


def rtf(
    body: str, header: str = "{\\rtf1\\ansi\\ansicpg936\\deff0{\\fonttbl{\\f0\\fnil\\fcharset134 SimSun;}}"
) -> bytes:
    return (header + body + "}").encode("ascii")


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Word document with a mark in each part, saved as RTF by LibreOffice (which writes \\uN with fallbacks)."""
    folder = tmp_path_factory.mktemp("rtf")
    document = docx.Document()
    document.sections[0].header.paragraphs[0].text = f"{MARK} 页眉"
    document.core_properties.title = "秘密★1年 标题"
    document.add_paragraph("关于预算的通知")
    document.add_paragraph("各单位：请按时报送。")
    document.save(folder / "marked.docx")
    return libreoffice({"rtf": [folder / "marked.docx"]}, folder)[0]


def test_rtf_is_told_by_content() -> None:
    assert sniff(rtf(escaped("正文")), "notes.doc") == "rtf"


def test_libreoffice_rtf_header_body_and_title_are_read(converted: Path) -> None:
    extraction = extract(converted.read_bytes(), "通知.rtf")
    assert extraction.format == "rtf" and extraction.problems == []
    assert (the_one(extraction, MARK).part, the_one(extraction, MARK).role) == ("header", Role.HEADER)
    assert the_one(extraction, "秘密★1年").text == "秘密★1年 标题"  # the Unicode version, not its ? fallback
    assert the_one(extraction, "关于预算").text == "关于预算的通知\n各单位：请按时报送。"


def test_gbk_bytes_in_ansicpg936_are_chinese(scanner) -> None:  # type: ignore[no-untyped-def]
    data = rtf(f"\\f0\\fs24 {escaped(MARK)}\\par {escaped('关于预算的通知')}\\par")
    report = scanner.scan_bytes(data, "通知.rtf")
    assert str(report.verdict) == "block"
    assert [(f.text, str(f.location)) for f in report.findings] == [(MARK, "body:1:1")]


def test_the_fonts_charset_decides_over_the_documents_code_page() -> None:
    header = "{\\rtf1\\ansi\\ansicpg1252\\deff0{\\fonttbl{\\f0 Arial;}{\\f1\\fcharset136 MingLiU;}}"
    data = rtf(f"\\f1 {escaped('機密★5年', 'big5')}\\par", header)
    assert the_one(extract(data, "x.rtf"), "機密").text == "機密★5年"


def test_unicode_escapes_skip_their_fallback_characters() -> None:
    data = rtf("\\uc1\\u26426?\\u23494?\\u9733?5\\u24180?\\par \\uc2\\u20851\\'b9\\'d8\\u20110\\'d3\\'da\\par")
    assert the_one(extract(data, "x.rtf"), "机密").text == "机密★5年\n关于"


def test_binary_data_and_destinations_without_text_are_skipped() -> None:
    hidden = escaped("秘密")
    data = rtf(
        f"{{\\colortbl;\\red0\\green0\\blue0;}}{{\\stylesheet{{\\s0 {hidden};}}}}{{\\*\\generator {hidden};}}"
        f"{{\\*\\unknowndestination {hidden}}}{{\\*\\blob\\bin6 {hidden}\\'}}{escaped('正文')}\\par"
    )
    extraction = extract(data, "x.rtf")
    assert [s.text for s in extraction.segments if s.role != Role.FILENAME] == ["正文"]


def test_a_wingdings_star_is_a_star() -> None:
    header = "{\\rtf1\\ansi\\ansicpg936{\\fonttbl{\\f0\\fcharset134 SimSun;}{\\f1\\fcharset2 Wingdings;}}"
    data = rtf(f"\\f0 {escaped('机密')}{{\\f1\\'ab}}{escaped('5年')}\\par", header)
    assert the_one(extract(data, "x.rtf"), "机密").text == MARK


def test_footnotes_comments_fields_and_properties_are_parts_of_their_own() -> None:
    note, comment, field = escaped("脚注"), escaped("批注"), escaped("字段")
    data = rtf(
        f"{{\\info{{\\subject {escaped('主题')}}}}}{escaped('正文')}{{\\footnote {note}}}"
        f"{{\\*\\annotation {comment}}}{{\\field{{\\*\\fldinst {field}}}{{\\fldrslt {escaped('结果')}}}}}\\par"
    )
    extraction = extract(data, "x.rtf")
    found = {s.part: (s.role, s.text) for s in extraction.segments if s.role != Role.FILENAME}
    assert found == {
        "subject": (Role.METADATA, "主题"),
        "body": (Role.BODY, "正文结果"),
        "notes": (Role.NOTE, "脚注"),
        "comments": (Role.NOTE, "批注"),
        "fields": (Role.METADATA, "字段"),
    }


def test_a_picture_is_an_image_finding(tmp_path: Path) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    data = rtf(f"{escaped('正文')}{{\\pict\\pngblip\\picw10\\pich10 {png.hex()}}}\\par")
    extraction = extract(data, "x.rtf")
    assert [(p.reason, p.part) for p in extraction.problems] == [("image", "picture1.png")]


def _package(name: str, content: bytes) -> bytes:
    """An OLE Package object as the Packager writes it (MS-OLEDS 2.3.6): label, path, temporary path, bytes."""
    path = f"C:\\Users\\办公室\\{name}".encode("gbk") + b"\x00"
    label = name.encode("gbk") + b"\x00"
    return (
        b"\x02\x00"
        + label
        + path
        + b"\x00\x00\x03\x00"
        + struct.pack("<I", len(path))
        + path
        + (struct.pack("<I", len(content)) + content)
    )


def _ole1(class_name: str, native: bytes) -> bytes:
    """An OLE 1 embedded object, as \\objdata holds it (MS-OLEDS 2.2.4)."""

    def string(text: str) -> bytes:
        raw = text.encode("ascii") + b"\x00"
        return struct.pack("<I", len(raw)) + raw

    header = struct.pack("<II", 0x00000501, 2) + string(class_name) + string("") + string("")
    return header + struct.pack("<I", len(native)) + native


def test_an_embedded_package_is_read_through_the_dispatcher() -> None:
    objdata = _ole1("Package", _package("名单.txt", f"{MARK}\n名单".encode()))
    data = rtf(f"{escaped('正文')}{{\\object\\objemb{{\\*\\objclass Package}}{{\\*\\objdata {objdata.hex()}}}}}\\par")
    segment = the_one(extract(data, "x.rtf"), MARK)
    assert segment.part == "名单.txt!body"


def test_an_embedded_word_document_is_read(tmp_path: Path) -> None:
    require(shutil.which("soffice") is not None, "LibreOffice (soffice)")
    source = docx.Document()
    source.add_paragraph(f"{MARK}\n附件")
    source.save(tmp_path / "inner.docx")
    doc = libreoffice({"doc": [tmp_path / "inner.docx"]}, tmp_path)[0].read_bytes()
    objdata = _ole1("Word.Document.8", doc)
    data = rtf(f"{{\\object\\objemb{{\\*\\objclass Word.Document.8}}{{\\*\\objdata {objdata.hex()}}}}}\\par")
    assert holding(extract(data, "x.rtf"), MARK)[0].part == "Word.Document.8!body"


def test_text_in_a_code_page_that_cannot_be_decoded_is_unscannable() -> None:
    data = rtf(f"{escaped('正文')}\\par", "{\\rtf1\\ansi\\ansicpg77777")
    assert reasons(extract(data, "x.rtf")) == {"unsupported"}


def test_bytes_that_are_no_text_in_their_code_page_are_garbled() -> None:
    data = rtf("\\'81\\'20" * 40 + "\\par")
    assert reasons(extract(data, "x.rtf")) == {"garbled"}


def test_an_rtf_cut_short_is_read_and_damaged() -> None:
    data = rtf(f"{escaped(MARK)}\\par{{\\b {escaped('正文')}")[:-1]
    extraction = extract(data, "x.rtf")
    assert reasons(extraction) == {"repaired"}
    assert the_one(extraction, MARK).role == Role.BODY
