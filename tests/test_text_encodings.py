"""Plain text in every encoding Chinese offices use is read, and the report says which encoding it was."""

from __future__ import annotations

import codecs
import io
import os
import zipfile

import pytest

from scanner.extract import extract

MARKED = "机密★5年\r\n关于年度预算的通知\r\n各单位：现将有关事项通知如下，请认真贯彻执行。\r\n"


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (MARKED.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + MARKED.encode("utf-8"), "utf-8-sig"),
        (MARKED.encode("utf-16"), "utf-16"),
        (MARKED.encode("gb18030"), "gb18030"),
        (MARKED.encode("gbk"), "gb18030"),
        (MARKED.encode("gb2312"), "gb18030"),
    ],
)
def test_marked_text_in_each_encoding_blocks(scanner, data: bytes, encoding: str) -> None:
    report = scanner.scan_bytes(data, "notice.txt")
    assert str(report.verdict) == "block"
    assert report.encoding == encoding
    assert report.findings[0].text == "机密★5年"


def test_big5_traditional_text_is_read_and_folded(scanner) -> None:
    data = "機密★5年\n關於年度預算的通知，請各單位認真貫徹執行。\n".encode("big5")
    report = scanner.scan_bytes(data, "notice.txt")
    assert report.encoding == "big5hkscs"
    assert report.findings[0].text == "機密★5年"


def test_utf16_without_bom_is_recognised(scanner) -> None:
    report = scanner.scan_bytes(MARKED.encode("utf-16-le"), "notice.txt")
    assert report.encoding == "utf-16-le"
    assert str(report.verdict) == "block"


def test_crlf_line_ends_give_the_same_lines(scanner) -> None:
    report = scanner.scan_bytes("标题\r\n\r\n秘密\r\n正文".encode(), "a.txt")
    assert report.findings[0].location.line == 3


def test_empty_file_passes_with_nothing_to_read(scanner) -> None:
    assert str(scanner.scan_bytes(b"", "empty.txt").verdict) == "pass"


def test_binary_junk_is_unscannable_never_pass(scanner) -> None:
    report = scanner.scan_bytes(os.urandom(4096), "junk.bin")
    assert str(report.verdict) == "block"
    assert report.findings[0].category == "unscannable"


def test_nul_bytes_in_text_are_unscannable(scanner) -> None:
    report = scanner.scan_bytes(b"abc\x00\x00\x00def\x00\x01\x02" * 50, "weird.txt")
    assert report.findings[0].category == "unscannable"


def test_invalid_utf8_falls_back_to_a_chinese_encoding_or_is_unscannable(scanner) -> None:
    report = scanner.scan_bytes("正文".encode() + b"\xff\xfe\xfa" * 200, "broken.txt")
    assert str(report.verdict) != "pass"


def test_a_huge_single_line_is_scanned(scanner) -> None:
    data = ("正文内容" * 500_000 + "严禁外传").encode()
    report = scanner.scan_bytes(data, "long.txt")
    assert "term.leak-phrases" in report.rules


# No ASCII at all (not even a line end), so UTF-16 has no NUL bytes to show its byte order.
CHINESE_ONLY = "关于年度预算的通知。各单位：现将有关事项通知如下，请认真贯彻执行。本通知严禁外传。"


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom_or_ascii_is_read_in_its_byte_order(scanner, encoding: str) -> None:
    # No ASCII, so no NUL bytes show the byte order; GB18030 would decode these bytes into nonsense.
    report = scanner.scan_bytes(CHINESE_ONLY.encode(encoding), "notice.txt")
    assert (report.encoding, str(report.verdict)) == (encoding, "block")
    assert report.findings[0].text == "严禁外传"


def test_traditional_chinese_in_utf16_without_bom_is_read(scanner) -> None:
    data = "關於年度預算的通知，請各單位認真貫徹執行。本通知嚴禁外傳。".encode("utf-16-le")
    report = scanner.scan_bytes(data, "notice.txt")
    assert report.encoding == "utf-16-le" and report.findings[0].text == "嚴禁外傳"


def test_a_clean_utf16_text_without_bom_passes(scanner) -> None:
    report = scanner.scan_bytes("各单位：请按时报送材料。".encode("utf-16-be"), "notice.txt")
    assert (report.encoding, str(report.verdict)) == ("utf-16-be", "pass")


def test_a_text_that_mentions_the_pdf_header_is_a_text(scanner) -> None:
    data = "文件格式说明：PDF 文件以 %PDF-1.7 开头，后接对象。\n各单位按时报送。".encode()
    report = scanner.scan_bytes(data, "说明.txt")
    assert (report.format, str(report.verdict)) == ("text", "pass")


def test_a_pdf_after_a_few_bytes_of_junk_is_still_a_pdf() -> None:
    from scanner.extract.sniff import sniff

    assert sniff(b"junk\r\n%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", "x") == "pdf"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32", "utf-32-be"])
def test_an_xml_part_with_a_dtd_is_refused_in_any_encoding(encoding: str) -> None:
    from tests.common import docx_of
    from tests.extract_fixtures import reasons, zip_of

    bomb = '<?xml version="1.0"?><!DOCTYPE c [<!ENTITY m "机密★5年">]><c><t>&m;</t></c>'
    with zipfile.ZipFile(io.BytesIO(docx_of("正文"))) as package:
        parts = {name: package.read(name) for name in package.namelist()}
    parts["docProps/core.xml"] = bomb.replace('1.0"?>', f'1.0" encoding="{encoding.upper()}"?>').encode(encoding)
    assert reasons(extract(zip_of(parts), "report.docx")) == {"xml_entities"}
