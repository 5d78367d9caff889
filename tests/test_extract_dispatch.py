"""The dispatcher: formats are told by content, every file is named, and whatever cannot be read is a problem."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import time

import docx
import py7zr
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msoffcrypto.format.ooxml import OOXMLFile

from scanner.engine import Scanner
from scanner.extract import Limits, extract, read_file
from scanner.extract.sniff import sniff
from scanner.model import Role
from tests.extract_fixtures import MARK, reasons, tar_of, the_one, zip_of


def _docx(text: str) -> bytes:
    document = docx.Document()
    document.add_paragraph(text)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _7z(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with py7zr.SevenZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(data, name)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("fmt", "make"),
    [
        ("docx", lambda: _docx("正文")),
        ("zip", lambda: zip_of({"a.txt": b"x"})),
        ("tar", lambda: tar_of({"a.txt": b"x"})),
        ("gzip", lambda: gzip.compress(b"x")),
        ("bzip2", lambda: bz2.compress(b"x")),
        ("xz", lambda: lzma.compress(b"x")),
        ("7z", lambda: _7z({"a.txt": b"x"})),
        ("pdf", lambda: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"),
        ("png", lambda: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
        ("eml", lambda: "From: a@example.cn\r\nSubject: 通知\r\n\r\n正文\r\n".encode()),
        ("html", lambda: "<!DOCTYPE html><html><body>正文</body></html>".encode()),
        ("text", lambda: "通知：正文".encode("gb18030")),
    ],
)
def test_format_is_detected_by_content(fmt: str, make) -> None:  # type: ignore[no-untyped-def]
    assert sniff(make(), "whatever.bin") == fmt


def test_a_txt_that_is_a_docx_is_read_as_a_docx() -> None:
    extraction = extract(_docx(f"{MARK} 预算"), "notes.txt")
    assert extraction.format == "docx"


def test_an_encrypted_docx_is_an_ole_container_and_unscannable() -> None:
    plain = io.BytesIO(_docx(f"{MARK} 预算"))
    locked = io.BytesIO()
    OOXMLFile(plain).encrypt("secret", locked)
    extraction = extract(locked.getvalue(), "预算.docx")
    assert extraction.format == "ooxml-encrypted"
    assert reasons(extraction) == {"encrypted"}


def test_every_file_starts_with_its_name_as_a_filename_segment() -> None:
    extraction = extract(b"\x00\x01binary", "D:\\共享\\机密★5年-名单.dat")
    first = extraction.segments[0]
    assert (first.text, first.part, first.role) == ("机密★5年-名单.dat", "filename", Role.FILENAME)


def test_binary_of_no_known_format_is_a_problem_not_silence() -> None:
    found = reasons(extract(bytes(range(256)) * 4, "blob"))
    assert found and found <= {"unsupported", "garbled"}


def test_a_file_over_max_bytes_is_not_read() -> None:
    extraction = extract(b"x" * 2000, "big.txt", Limits(max_bytes=1000))
    assert reasons(extraction) == {"max_bytes"}
    assert len(extraction.segments) == 1


def test_html_is_read_as_the_text_a_reader_sees() -> None:
    page = f"<html><head><title>通知</title><script>var x='{MARK}'</script></head><body><p>{MARK}</p></body></html>"
    extraction = extract(page.encode(), "page.html")
    body = the_one(extraction, MARK)
    assert body.text == MARK and body.role == Role.BODY
    assert the_one(extraction, "通知").role == Role.TITLE


def test_html_is_decoded_in_its_declared_charset() -> None:
    page = f'<html><head><meta charset="gb2312"></head><body>{MARK}：镕</body></html>'.encode("gb18030")
    assert the_one(extract(page, "page.html"), MARK).text == f"{MARK}：镕"


def test_a_format_without_a_reader_is_unsupported_not_a_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    from scanner.extract import IN_PROCESS
    from scanner.extract.readers import READERS

    monkeypatch.delitem(IN_PROCESS, "text")
    monkeypatch.delitem(READERS, "text")
    assert reasons(read_file(b"plain", "a.txt", Limits(), False, "text")) == {"unsupported"}


def test_the_readable_parts_come_back_with_the_problems() -> None:
    data = zip_of({"正文.txt": MARK.encode(), "坏.docx": b"PK\x03\x04 truncated"})
    extraction = extract(data, "资料.zip")
    assert the_one(extraction, MARK).part == "正文.txt!body"
    assert [p.part for p in extraction.problems] == ["坏.docx"]


def test_through_the_engine_a_mark_in_a_member_name_blocks_the_archive(scanner: Scanner) -> None:
    report = scanner.scan_bytes(zip_of({f"{MARK}-预算.txt": b"budget"}), "资料.zip")
    assert str(report.verdict) == "block"
    assert [str(f.location) for f in report.findings] == [f"{MARK}-预算.txt:1:1"]


def test_through_the_engine_a_mark_inside_a_member_is_located_by_its_path(scanner: Scanner) -> None:
    report = scanner.scan_bytes(zip_of({"资料/通知.txt": f"{MARK}\n关于预算".encode()}), "资料.zip")
    assert [(f.rule, str(f.location)) for f in report.findings] == [("mark.state-secret", "资料/通知.txt!body:1:1")]


def test_through_the_engine_an_unreadable_file_never_passes(scanner: Scanner) -> None:
    report = scanner.scan_bytes(_7z({"a.txt": b"x"})[:40], "truncated.7z")
    assert str(report.verdict) == "block"
    assert [f.category for f in report.findings] == ["unscannable"]


@pytest.mark.parametrize(
    "head", [b"<!-- -->" * 128 + b"x", b"<!--" * 256, b"<meta" * 800, b"%\n" * 500 + b"x", b"From: x\n" * 200]
)
def test_detection_of_a_hostile_head_ends_at_once(head: bytes) -> None:
    started = time.monotonic()
    extract(head, "head.html")
    assert time.monotonic() - started < 1


def test_html_with_an_unclosed_comment_is_read_quickly_and_the_text_after_it_counts() -> None:
    page = ("<html><body>" + "<!--" * 100_000 + MARK).encode()
    started = time.monotonic()
    extraction = extract(page, "hostile.html")
    assert time.monotonic() - started < 2
    assert the_one(extraction, MARK).role == Role.BODY


MAGICS = [b"", b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"7z\xbc\xaf\x27\x1c", b"%PDF-1.4\n", b"\x1f\x8b"]


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=2048), st.sampled_from(MAGICS))
def test_any_bytes_come_back_as_an_extraction_never_an_exception(tail: bytes, magic: bytes) -> None:
    extraction = extract(magic + tail, "fuzz.bin")
    assert extraction.segments[0].role == Role.FILENAME


@pytest.mark.parametrize("name", ["报告.docx", "scan.pdf", "归档.zip"])
def test_an_empty_file_named_as_a_binary_format_is_a_broken_file_of_it(name: str) -> None:
    assert reasons(extract(b"", name)) == {"corrupt"}
    assert reasons(extract(b"\x00" * 4096, name)) == {"corrupt"}  # a download that never arrived


def test_an_empty_text_file_is_just_empty() -> None:
    assert reasons(extract(b"", "notes.txt")) == set()
