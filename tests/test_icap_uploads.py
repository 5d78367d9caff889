"""Taking a request body apart into what it carries out: files with their names, form text, JSON strings."""

from __future__ import annotations

import base64
import zlib

import pytest

from scanner.doors.icap_uploads import FIELDS_NAME, UnreadableBody, Upload, decode_content, name_from_url, uploads_of

BOUNDARY = "xYzZy"
FORM = f"multipart/form-data; boundary={BOUNDARY}"
LIMIT = 1 << 20


def form(*parts: tuple[bytes, bytes]) -> bytes:
    """(the part's header lines, its content) → a multipart/form-data body."""
    body = b"".join(f"--{BOUNDARY}\r\n".encode() + head + b"\r\n\r\n" + content + b"\r\n" for head, content in parts)
    return body + f"--{BOUNDARY}--\r\n".encode()


def test_each_file_part_is_an_upload_under_its_own_name() -> None:
    body = form(
        (b'Content-Disposition: form-data; name="a"; filename="one.txt"', b"1"),
        (b'Content-Disposition: form-data; name="b"; filename="two.docx"', b"2"),
    )
    assert uploads_of("/up", FORM, None, body, LIMIT) == [
        Upload("one.txt", b"1", "file"),
        Upload("two.docx", b"2", "file"),
    ]


def test_text_fields_are_one_upload_with_a_value_on_each_line() -> None:
    body = form(
        (b'Content-Disposition: form-data; name="t"', b"title"), (b'Content-Disposition: form-data; name="c"', b"x")
    )
    assert uploads_of("/up", FORM, None, body, LIMIT) == [Upload(FIELDS_NAME, b"title\nx", "fields")]


def test_file_name_in_utf8_is_read() -> None:
    body = form(('Content-Disposition: form-data; name="f"; filename="通知.txt"'.encode(), b"x"))
    assert uploads_of("/up", FORM, None, body, LIMIT)[0].name == "通知.txt"


def test_file_name_in_gb18030_is_read() -> None:
    body = form(('Content-Disposition: form-data; name="f"; filename="会议纪要.txt"'.encode("gb18030"), b"x"))
    assert uploads_of("/up", FORM, None, body, LIMIT)[0].name == "会议纪要.txt"


def test_extended_file_name_is_preferred() -> None:
    head = b'Content-Disposition: form-data; name="f"; filename="x.txt"; filename*=UTF-8\'\'%E9%80%9A%E7%9F%A5.txt'
    assert uploads_of("/up", FORM, None, form((head, b"x")), LIMIT)[0].name == "通知.txt"


def test_windows_path_in_file_name_is_dropped() -> None:
    body = form((b'Content-Disposition: form-data; name="f"; filename="C:\\\\fakepath\\\\a.txt"', b"x"))
    assert uploads_of("/up", FORM, None, body, LIMIT)[0].name == "a.txt"


def test_empty_file_input_is_no_upload() -> None:
    body = form((b'Content-Disposition: form-data; name="f"; filename=""', b""))
    assert uploads_of("/up", FORM, None, body, LIMIT) == []


def test_base64_part_is_decoded() -> None:
    head = b'Content-Disposition: form-data; name="f"; filename="a.txt"\r\nContent-Transfer-Encoding: base64'
    encoded = base64.b64encode("机密★5年".encode())
    assert uploads_of("/up", FORM, None, form((head, encoded)), LIMIT)[0].data == "机密★5年".encode()


def test_raw_body_is_named_after_the_url() -> None:
    assert uploads_of("/dav/%E6%8A%A5%E5%91%8A.docx?x=1", "application/octet-stream", None, b"x", LIMIT) == [
        Upload("报告.docx", b"x", "body")
    ]


def test_url_without_a_path_names_the_upload_upload() -> None:
    assert name_from_url("http://example.org/") == "upload"


def test_deflate_body_is_inflated() -> None:
    assert uploads_of("/a.txt", "text/plain", "deflate", zlib.compress(b"hello"), LIMIT)[0].data == b"hello"


def test_compressed_body_expanding_past_the_limit_is_unreadable() -> None:
    with pytest.raises(UnreadableBody, match="expands past"):
        uploads_of("/a.txt", "text/plain", "deflate", zlib.compress(b"0" * 5000), 1000)


def test_multipart_without_a_boundary_is_unreadable() -> None:
    with pytest.raises(UnreadableBody, match="boundary"):
        uploads_of("/up", "multipart/form-data", None, b"x", LIMIT)


def test_multipart_with_garbage_is_unreadable() -> None:
    with pytest.raises(UnreadableBody, match="malformed"):
        uploads_of("/up", FORM, None, b"this is not multipart\r\n", LIMIT)


def test_a_gzip_body_of_several_members_is_read_to_the_end() -> None:
    import gzip

    body = gzip.compress("第一部分".encode()) + gzip.compress("机密★5年".encode())
    assert decode_content(body, "gzip", 1 << 20).decode() == "第一部分机密★5年"
