"""Taking a request body apart into what it carries out: files with their names, form text, JSON strings."""

from __future__ import annotations

import base64
import zlib
from urllib.parse import quote, quote_from_bytes

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


# -- bodies a web server could take apart differently: refused, or read as the server would read them

FILE = b'Content-Disposition: form-data; name="f"; filename="a.txt"'
SMUGGLED = b'--xYzZy\r\nContent-Disposition: form-data; name="g"; filename="m.txt"\r\n\r\nsecret\r\n--xYzZy--\r\n'


def test_a_part_after_the_closing_boundary_is_refused() -> None:
    with pytest.raises(UnreadableBody, match="boundary occurs 4 times"):
        uploads_of("/up", FORM, None, form((FILE, b"x")) + SMUGGLED, LIMIT)


def test_anything_after_the_closing_boundary_is_refused() -> None:
    with pytest.raises(UnreadableBody, match="after the closing boundary"):
        uploads_of("/up", FORM, None, form((FILE, b"x")) + b"secret\r\n", LIMIT)


def test_blank_lines_after_the_closing_boundary_are_harmless() -> None:
    assert uploads_of("/up", FORM, None, form((FILE, b"x")) + b"\r\n\r\n", LIMIT) == [Upload("a.txt", b"x", "file")]


def test_a_delimiter_in_another_case_is_refused() -> None:
    hidden = b"x\r\n" + SMUGGLED.replace(b"xYzZy", b"XYZZY", 1).rsplit(b"--xYzZy--", 1)[0] + b"y"
    with pytest.raises(UnreadableBody, match="boundary occurs"):
        uploads_of("/up", FORM, None, form((FILE, hidden)), LIMIT)


@pytest.mark.parametrize(
    "content_type",
    [
        f"multipart/form-data; boundary={BOUNDARY}; boundary=other",
        f'multipart/form-data; boundary="{BOUNDARY};boundary=other"',
        f"multipart/form-data; xboundary=other; boundary={BOUNDARY}",
        f'multipart/form-data; boundary="{BOUNDARY} "',
    ],
    ids=["twice", "quoted-second", "inside-another-name", "trailing-space"],
)
def test_an_ambiguous_boundary_is_refused(content_type: str) -> None:
    with pytest.raises(UnreadableBody, match="ambiguous boundary"):
        uploads_of("/up", content_type, None, form((FILE, b"x")), LIMIT)


def test_a_part_with_two_transfer_encodings_is_refused() -> None:
    head = FILE + b"\r\nContent-Transfer-Encoding: base64\r\nContent-Transfer-Encoding: 7bit"
    with pytest.raises(UnreadableBody, match="two content-transfer-encoding"):
        uploads_of("/up", FORM, None, form((head, b"eA==")), LIMIT)


def test_a_transfer_encoding_is_read_whatever_its_case_and_spacing() -> None:
    head = FILE + b"\r\nContent-Transfer-Encoding:   BASE64  "
    assert uploads_of("/up", FORM, None, form((head, base64.b64encode(b"secret"))), LIMIT)[0].data == b"secret"


def test_an_unknown_transfer_encoding_is_refused() -> None:
    with pytest.raises(UnreadableBody, match="x-uuencode"):
        uploads_of("/up", FORM, None, form((FILE + b"\r\nContent-Transfer-Encoding: x-uuencode", b"x")), LIMIT)


@pytest.mark.parametrize(
    "body",
    [
        form((b'Content-Disposition: form-data; name="f";\r\n filename="a.docx"', b"x")),  # a folded header
        form((FILE, b"x")).replace(b"\r\n", b"\n"),  # LF line ends
        b"preamble\r\n" + form((FILE, b"x")),
    ],
    ids=["folded-header", "lf-only", "preamble"],
)
def test_a_form_this_parser_cannot_read_as_a_server_might_is_refused(body: bytes) -> None:
    with pytest.raises(UnreadableBody):
        uploads_of("/up", FORM, None, body, LIMIT)


def test_a_document_in_a_field_without_a_file_name_is_scanned_as_a_file_of_its_own() -> None:
    # `name="a;filename=x.docx"` is a plain field here and a file to a server that splits the header at `;`.
    docx = b"PK\x03\x04" + bytes(range(256))
    body = form(
        (b'Content-Disposition: form-data; name="a;filename=x.docx"', docx),
        (b'Content-Disposition: form-data; name="t"', b"title"),
    )
    assert uploads_of("/up", FORM, None, body, LIMIT) == [
        Upload("a;filename=x.docx", docx, "fields"),
        Upload(FIELDS_NAME, b"title", "fields"),
    ]


def test_a_field_in_another_charset_is_scanned_on_its_own() -> None:
    gbk = "机密★5年\n关于某项目的通知".encode("gb18030")
    body = form(
        (b'Content-Disposition: form-data; name="text"', gbk), (b'Content-Disposition: form-data; name="t"', b"x")
    )
    assert uploads_of("/up", FORM, None, body, LIMIT) == [
        Upload("text", gbk, "fields"),
        Upload(FIELDS_NAME, b"x", "fields"),
    ]


def test_an_urlencoded_value_in_another_charset_is_scanned_on_its_own() -> None:
    # A server decoding every field as GB 18030 reads the mark; joined with UTF-8 text it would be taken for noise.
    gbk = quote_from_bytes("机密★5年\n关于某项目的通知".encode("gb18030")).encode()
    body = b"title=" + quote("关于春季运动会报名事宜的通知，请各单位认真组织。").encode() + b"&text=" + gbk
    uploads = uploads_of("/post", "application/x-www-form-urlencoded", None, body, LIMIT)
    assert [(u.name, u.kind) for u in uploads] == [("text", "fields"), (FIELDS_NAME, "fields")]
    assert uploads[0].data == "机密★5年\n关于某项目的通知".encode("gb18030")


def test_urlencoded_values_are_split_at_semicolons_as_well() -> None:
    body = "a=1;text=机密★5年%0A通知&b=2".encode()
    [fields] = uploads_of("/post", "application/x-www-form-urlencoded", None, body, LIMIT)
    assert fields.data.decode().split("\n") == ["1", "机密★5年", "通知", "2"]


def test_a_json_key_written_twice_keeps_both_values() -> None:
    body = b'{"text": "\\u673a\\u5bc6\\u2605\\u0035\\u5e74", "text": "ok"}'
    [upload] = uploads_of("/api", "application/json", None, body, LIMIT)
    assert upload.data.decode().split("\n") == ["text", "机密★5年", "text", "ok"]
