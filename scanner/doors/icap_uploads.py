"""What an HTTP request body carries out, as named items to scan: each file of a multipart form, the form's text
fields together, the strings of a JSON body, or the body itself named after the URL.
"""

from __future__ import annotations

import base64
import binascii
import json
import quopri
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, unquote_to_bytes, urlsplit

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from scanner.extract.archive import GzipMembers
from scanner.extract.base import decode_name

FIELDS_NAME = "(表单内容)"  # the name under which a form's text fields are scanned and reported


@dataclass(frozen=True)
class Upload:
    name: str
    data: bytes
    kind: str  # file (a multipart file part), fields (form text fields), json (a JSON body's strings), body


class UnreadableBody(Exception):
    """A body that cannot be taken apart into what it carries; a door must not let it pass unread."""


def uploads_of(
    target: str, content_type: str | None, content_encoding: str | None, body: bytes, max_bytes: int
) -> list[Upload]:
    """The items in `body`, a request to `target` with those Content-Type and Content-Encoding header values;
    `max_bytes` bounds a decompressed body."""
    body = decode_content(body, content_encoding, max_bytes)
    kind, options = parse_options_header(content_type or "")
    kind = kind.lower()
    if kind == b"multipart/form-data":
        boundary = options.get(b"boundary")
        if not boundary:
            raise UnreadableBody("multipart/form-data without a boundary")
        return _multipart(body, boundary)
    if kind == b"application/x-www-form-urlencoded":
        return _fields(_form_values(body))
    name = name_from_url(target)
    if kind == b"application/json" or kind.endswith(b"+json"):
        strings = _json_strings(body)
        if strings is not None:
            return [Upload(f"{name}.json", "\n".join(strings).encode("utf-8"), "json")]
    return [Upload(name, body, "body")]


def decode_content(body: bytes, content_encoding: str | None, max_bytes: int) -> bytes:
    """Undo gzip or deflate content coding (in the reverse order of application); any other coding cannot be read."""
    codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
    for coding in reversed(codings):
        if coding == "identity":
            continue
        if coding not in ("gzip", "x-gzip", "deflate"):
            raise UnreadableBody(f"body in a content coding baomi cannot read: {coding}")
        body = _inflate(body, coding, max_bytes)
    return body


def name_from_url(target: str) -> str:
    """The last segment of the URL's path, percent-decoded, as the file's name (`/dav/报告.docx` → `报告.docx`)."""
    segment = urlsplit(target).path.rstrip("/").rsplit("/", 1)[-1]
    return decode_name(unquote_to_bytes(segment)) or "upload"


def _inflate(body: bytes, coding: str, max_bytes: int) -> bytes:
    if coding != "deflate":
        return _gunzip(body, max_bytes)
    windows = [zlib.MAX_WBITS, -zlib.MAX_WBITS]  # zlib or raw
    for wbits in windows:
        inflater = zlib.decompressobj(wbits)
        try:
            out = inflater.decompress(body, max_bytes + 1)
        except zlib.error:
            continue
        if len(out) > max_bytes:
            raise UnreadableBody(f"{coding} body expands past {max_bytes} bytes")
        if not inflater.eof:
            raise UnreadableBody(f"{coding} body is cut off")
        return out
    raise UnreadableBody(f"body is not valid {coding}")


def _gunzip(body: bytes, max_bytes: int) -> bytes:
    """Every member of a gzip body, as gunzip reads it; bytes after the last member are not a gzip body."""
    stream = GzipMembers(body)
    try:
        out = stream.read(max_bytes + 1)
        while len(out) <= max_bytes and (chunk := stream.read(max_bytes + 1 - len(out))):
            out += chunk
    except (zlib.error, EOFError):
        raise UnreadableBody("body is not valid gzip") from None
    if len(out) > max_bytes:
        raise UnreadableBody(f"gzip body expands past {max_bytes} bytes")
    if stream.trailing.strip(b"\x00"):
        raise UnreadableBody("body is not valid gzip, or has bytes after its gzip stream")
    return out


def _multipart(body: bytes, boundary: bytes) -> list[Upload]:
    parts = list(_parts(body, boundary))
    files = [_file(headers, data) for headers, data in parts if _filename(headers) is not None]
    fields = [data for headers, data in parts if _filename(headers) is None]
    return [f for f in files if f is not None] + _fields(fields)


def _parts(body: bytes, boundary: bytes) -> Iterator[tuple[dict[bytes, bytes], bytes]]:
    """Each part's header fields (names lower-cased) and content, as the parser saw them."""
    parts: list[tuple[dict[bytes, bytes], bytearray]] = []
    field, value = bytearray(), bytearray()
    ended = False

    def end() -> None:
        nonlocal ended
        ended = True

    def header_end() -> None:
        parts[-1][0][bytes(field).strip().lower()] = bytes(value).strip()
        field.clear()
        value.clear()

    callbacks: Any = {
        "on_part_begin": lambda: parts.append(({}, bytearray())),
        "on_header_field": lambda data, start, stop: field.extend(data[start:stop]),
        "on_header_value": lambda data, start, stop: value.extend(data[start:stop]),
        "on_header_end": header_end,
        "on_part_data": lambda data, start, stop: parts[-1][1].extend(data[start:stop]),
        "on_end": end,
    }
    try:
        parser = MultipartParser(boundary, callbacks, max_header_count=32, max_header_size=16384)
        parser.write(body)
        parser.finalize()
    except MultipartParseError as exc:
        raise UnreadableBody(f"malformed multipart body: {exc}") from None
    if not ended:
        raise UnreadableBody("multipart body ends before its closing boundary")
    for headers, data in parts:
        yield headers, _transfer_decoded(headers, bytes(data))


def _transfer_decoded(headers: dict[bytes, bytes], data: bytes) -> bytes:
    encoding = headers.get(b"content-transfer-encoding", b"").lower()
    try:
        if encoding == b"base64":
            return base64.b64decode(data)
        if encoding == b"quoted-printable":
            return quopri.decodestring(data)
    except (binascii.Error, ValueError) as exc:
        raise UnreadableBody(f"part in bad {encoding.decode('latin-1')}: {exc}") from None
    return data


def _disposition(headers: dict[bytes, bytes]) -> dict[bytes, bytes]:
    return parse_options_header(headers.get(b"content-disposition", b""))[1]


def _filename(headers: dict[bytes, bytes]) -> str | None:
    """The part's file name (from `filename*=UTF-8''…` if given), or None for a plain form field."""
    raw = headers.get(b"content-disposition", b"")
    extended = re.search(rb"filename\*\s*=\s*([^;]+)", raw, re.IGNORECASE)
    if extended:
        charset, _, rest = extended.group(1).strip().strip(b'"').partition(b"'")
        text = unquote(rest.partition(b"'")[2].decode("latin-1"), encoding=charset.decode("latin-1") or "utf-8")
        return text.replace("\\", "/").rsplit("/", 1)[-1]
    filename = _disposition(headers).get(b"filename")
    return None if filename is None else decode_name(filename.replace(b"\\", b"/").rsplit(b"/", 1)[-1])


def _file(headers: dict[bytes, bytes], data: bytes) -> Upload | None:
    name = _filename(headers) or ""
    if not name and not data:
        return None  # a file input left empty: browsers send the part with no name and no content
    return Upload(name or "upload", data, "file")


def _fields(values: list[bytes]) -> list[Upload]:
    """A form's text fields as one text, each value on lines of its own (a mark is judged by standing alone on its
    line, so the field's name stays out); nothing when every value is empty."""
    values = [value for value in values if value]
    return [Upload(FIELDS_NAME, b"\n".join(values), "fields")] if values else []


def _form_values(body: bytes) -> list[bytes]:
    """The values of `a=1&b=%E6%9C%BA`; unlike parse_qsl, bytes that should have been escaped are kept, not fatal."""
    return [unquote_to_bytes(item.partition(b"=")[2].replace(b"+", b" ")) for item in body.split(b"&")]


def _json_strings(body: bytes) -> list[str] | None:
    """Every key and string value of a JSON body, so `\\u673a\\u5bc6` is read as 机密; None if it is not JSON."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    strings: list[str] = []
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            strings.append(item)
        elif isinstance(item, dict):
            strings.extend(item.keys())
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return strings
