"""Archives: every member is read by content through the dispatcher, named `archive!member!part`, and its name
is a segment of its own."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import shutil
import struct
import subprocess
import zipfile
import zlib
from pathlib import Path

import docx
import py7zr

from scanner.extract import extract
from scanner.model import Role
from tests.conftest import require
from tests.extract_fixtures import MARK, names, reasons, tar_of, the_one, zip_of


def test_a_zip_members_text_is_read_and_named_by_its_path() -> None:
    extraction = extract(zip_of({"内部/通知.txt": f"{MARK}\n关于预算".encode()}), "资料.zip")
    assert the_one(extraction, MARK).part == "内部/通知.txt!body"


def test_a_zip_members_name_is_a_filename_segment() -> None:
    extraction = extract(zip_of({f"{MARK}-预算.txt": b"budget"}), "资料.zip")
    segment = the_one(extraction, MARK)
    assert (segment.role, segment.part) == (Role.FILENAME, f"{MARK}-预算.txt")


def test_each_folder_on_a_members_path_is_a_filename_segment_of_its_own() -> None:
    extraction = extract(zip_of({f"资料/{MARK}/预算.txt": b"1", f"资料/{MARK}/名单.txt": b"2"}), "资料.zip")
    segment = the_one(extraction, MARK)
    assert (segment.text, segment.part, segment.role) == (MARK, f"资料/{MARK}/", Role.FILENAME)
    assert names(extraction) == ["资料.zip", "资料", MARK, "预算.txt", "名单.txt"]


def test_gbk_member_names_without_the_utf8_flag_are_read_as_gbk() -> None:
    # Chinese Windows (and WinRAR there) writes names in GBK and leaves the UTF-8 flag unset. zipfile cannot,
    # so write an ASCII placeholder of the same length and put the GBK bytes in its place.
    gbk = f"{MARK}.txt".encode("gbk")
    placeholder = b"x" * len(gbk)
    data = zip_of({placeholder.decode(): b"content"}).replace(placeholder, gbk)
    assert not zipfile.ZipFile(io.BytesIO(data)).infolist()[0].flag_bits & 0x800
    assert f"{MARK}.txt" in names(extract(data, "资料.zip"))


def test_nested_archives_name_the_path_through_each() -> None:
    inner = zip_of({"通知.txt": MARK.encode()})
    extraction = extract(zip_of({"内部/inner.zip": inner}), "outer.zip")
    assert the_one(extraction, MARK).part == "内部/inner.zip!通知.txt!body"


def test_an_encrypted_zip_member_is_a_problem_and_the_others_are_still_read(tmp_path: Path) -> None:
    require(shutil.which("7z") is not None, "7z (Debian p7zip-full)")
    (tmp_path / "open.txt").write_text(MARK, encoding="utf-8")
    (tmp_path / "locked.txt").write_text("秘密", encoding="utf-8")
    subprocess.run(["7z", "a", "-tzip", "archive.zip", "open.txt"], cwd=tmp_path, check=True, capture_output=True)
    subprocess.run(
        ["7z", "a", "-tzip", "-psecret", "archive.zip", "locked.txt"], cwd=tmp_path, check=True, capture_output=True
    )
    extraction = extract((tmp_path / "archive.zip").read_bytes(), "archive.zip")
    assert the_one(extraction, MARK).part == "open.txt!body"
    assert [(p.reason, p.part) for p in extraction.problems] == [("encrypted", "locked.txt")]


def test_a_corrupt_zip_is_a_problem() -> None:
    data = zip_of({"a.txt": MARK.encode() * 100})
    assert reasons(extract(data[: len(data) // 2] + b"PK\x05\x06", "broken.zip")) == {"corrupt"}


def test_a_tar_members_text_is_read() -> None:
    assert the_one(extract(tar_of({"报告/正文.txt": MARK.encode()}), "报告.tar"), MARK).part == "报告/正文.txt!body"


def test_a_gzip_holds_the_file_named_in_its_header() -> None:
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="notice.txt", mode="wb", fileobj=buffer) as gz:
        gz.write(MARK.encode())
    assert the_one(extract(buffer.getvalue(), "x.gz"), MARK).part == "notice.txt!body"


def test_a_bzip2_holds_the_file_its_name_promises() -> None:
    assert the_one(extract(bz2.compress(MARK.encode()), "通知.txt.bz2"), MARK).part == "通知.txt!body"


def test_an_xz_holds_the_file_its_name_promises() -> None:
    assert the_one(extract(lzma.compress(MARK.encode()), "通知.txt.xz"), MARK).part == "通知.txt!body"


def test_a_tgz_is_a_tar_inside_a_gzip() -> None:
    data = tar_of({"正文.txt": MARK.encode()}, "w:gz")
    assert the_one(extract(data, "报告.tgz"), MARK).part == "报告.tar!正文.txt!body"


def test_a_7z_members_text_is_read() -> None:
    buffer = io.BytesIO()
    with py7zr.SevenZipFile(buffer, "w") as archive:
        archive.writestr(MARK.encode(), "内部/通知.txt")
    assert the_one(extract(buffer.getvalue(), "资料.7z"), MARK).part == "内部/通知.txt!body"


def test_a_password_protected_7z_is_encrypted_but_its_member_names_count() -> None:
    buffer = io.BytesIO()
    with py7zr.SevenZipFile(buffer, "w", password="secret") as archive:
        archive.writestr(b"content", f"{MARK}.txt")
    extraction = extract(buffer.getvalue(), "资料.7z")
    assert reasons(extraction) == {"encrypted"}
    assert the_one(extraction, MARK).role == Role.FILENAME


def test_a_7z_with_encrypted_headers_is_encrypted() -> None:
    buffer = io.BytesIO()
    with py7zr.SevenZipFile(buffer, "w", password="secret", header_encryption=True) as archive:
        archive.writestr(MARK.encode(), "通知.txt")
    assert reasons(extract(buffer.getvalue(), "资料.7z")) == {"encrypted"}


def _rar4_stored(name: str, data: bytes) -> bytes:
    """No free tool writes RAR, but a RAR 4 archive holding one stored (uncompressed) member is simple enough to write
    here: marker, archive header, file header (UTF-8 name, flag 0x200), the data, end of archive."""

    def block(kind: int, flags: int, body: bytes) -> bytes:
        head = struct.pack("<BHH", kind, flags, 7 + len(body)) + body
        return struct.pack("<H", zlib.crc32(head) & 0xFFFF) + head

    raw = name.encode("utf-8")
    fields = struct.pack("<IIBIIBBHI", len(data), len(data), 3, zlib.crc32(data), 0, 20, 0x30, len(raw), 0x20)
    return (
        b"Rar!\x1a\x07\x00"
        + block(0x73, 0, bytes(6))
        + block(0x74, 0x8000 | 0x200, fields + raw)
        + data
        + block(0x7B, 0x4000, b"")
    )


def test_a_rar_members_text_is_read_under_its_name() -> None:
    extraction = extract(_rar4_stored("内部/通知.txt", MARK.encode()), "资料.rar")
    assert extraction.format == "rar"
    assert the_one(extraction, MARK).part == "内部/通知.txt!body"


def test_a_document_inside_an_archive_has_its_parts_named_through_both() -> None:
    document = docx.Document()
    document.sections[0].header.paragraphs[0].text = MARK
    document.add_paragraph("正文")
    buffer = io.BytesIO()
    document.save(buffer)
    segment = the_one(extract(zip_of({"内部/通知.docx": buffer.getvalue()}), "资料.zip"), MARK)
    assert (segment.part, segment.role) == ("内部/通知.docx!header1", Role.HEADER)


def test_every_member_of_a_multi_member_gzip_is_read() -> None:
    data = gzip.compress("第一部分\n".encode()) + gzip.compress(f"{MARK}\n第二部分".encode())
    assert the_one(extract(data, "通知.txt.gz"), MARK).text == f"第一部分\n{MARK}\n第二部分"


def test_bytes_after_a_gzip_stream_are_read_as_a_file_of_their_own() -> None:
    data = gzip.compress("正文".encode()) + f"{MARK}\n藏在压缩流之后".encode()
    extraction = extract(data, "通知.txt.gz")
    assert the_one(extraction, MARK).part == "(bytes after the gzip stream)!body"
    assert reasons(extraction) == set()


def test_zeros_after_a_gzip_stream_are_padding() -> None:
    extraction = extract(gzip.compress("正文".encode()) + bytes(1024), "通知.txt.gz")
    assert reasons(extraction) == set() and len(extraction.segments) == 3


def test_a_tar_is_read_past_its_end_marker(tmp_path: Path) -> None:
    require(shutil.which("tar") is not None, "GNU tar")
    data = tar_of({"正文.txt": "正文".encode()}) + tar_of({"附件.txt": MARK.encode()})
    (tmp_path / "x.tar").write_bytes(data)
    ignoring_zeros = subprocess.run(["tar", "-itf", "x.tar"], cwd=tmp_path, capture_output=True, text=True)
    assert ignoring_zeros.stdout.split() == ["正文.txt", "附件.txt"]  # what `tar -i` and other readers extract
    extraction = extract(data, "x.tar")
    assert the_one(extraction, MARK).part == "附件.txt!body"
    assert reasons(extraction) == set()


def test_a_tar_with_a_damaged_header_is_read_as_gnu_tar_reads_it_and_is_unscannable(tmp_path: Path) -> None:
    require(shutil.which("tar") is not None, "GNU tar")
    for name, text in (("a.txt", "甲"), ("b.txt", "乙"), ("c.txt", MARK)):
        (tmp_path / name).write_text(text, encoding="utf-8")
    subprocess.run(["tar", "-cf", "x.tar", "a.txt", "b.txt", "c.txt"], cwd=tmp_path, check=True)
    data = bytearray((tmp_path / "x.tar").read_bytes())
    data[1024 + 148 : 1024 + 156] = b"0000000\x00"  # b.txt's header checksum: wrong
    (tmp_path / "x.tar").write_bytes(data)
    gnu = subprocess.run(["tar", "-tf", "x.tar"], cwd=tmp_path, capture_output=True, text=True)
    assert "Skipping to next header" in gnu.stderr and gnu.stdout.split() == ["a.txt", "c.txt"]
    extraction = extract(bytes(data), "x.tar")
    assert {"a.txt", "c.txt"} <= set(names(extraction))
    assert the_one(extraction, MARK).part == "c.txt!body"
    assert reasons(extraction) == {"corrupt"}  # what another reader makes of the damaged block is unknown


def test_7z_members_of_one_name_are_each_read() -> None:
    buffer = io.BytesIO()
    with py7zr.SevenZipFile(buffer, "w") as archive:
        archive.writestr("正文".encode(), "通知.txt")
        archive.writestr(MARK.encode(), "通知.txt")
    extraction = extract(buffer.getvalue(), "资料.7z")
    assert the_one(extraction, MARK).part == "通知.txt!body"
    assert reasons(extraction) == set()


def test_a_7z_member_stored_under_an_absolute_path_is_read(tmp_path: Path) -> None:
    require(shutil.which("7z") is not None, "7z (Debian p7zip-full)")
    (tmp_path / "名单.txt").write_text(MARK, encoding="utf-8")
    subprocess.run(
        ["7z", "a", "-spf", "x.7z", str(tmp_path / "名单.txt")], cwd=tmp_path, check=True, capture_output=True
    )
    extraction = extract((tmp_path / "x.7z").read_bytes(), "x.7z")
    assert the_one(extraction, MARK).part == f"{tmp_path}/名单.txt!body"


def test_a_zip_member_its_directory_does_not_list_is_not_passed_over() -> None:
    # Readers that stream a zip from its start (Java's ZipInputStream, many uploaders) extract a member whose local
    # header the central directory leaves out; zipfile and 7z, which read the directory, never see it.
    hidden = zip_of({"机密名单.txt": MARK.encode()})
    data = hidden[: hidden.index(b"PK\x01\x02")] + zip_of({"说明.txt": "正文".encode()})
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["说明.txt"]
    assert reasons(extract(data, "资料.zip")) == {"corrupt"}


def test_a_zip_stored_inside_a_zip_hides_nothing() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("inner.zip", zip_of({"a.txt": "正文".encode()}))
    assert reasons(extract(buffer.getvalue(), "outer.zip")) == set()
