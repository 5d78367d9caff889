"""OpenDocument (.odt/.ods/.odp, as LibreOffice and WPS save them): body, headers and footers, and metadata,
read from the XML parts with entity declarations refused."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

from scanner.extract.base import Context, Unscannable, parse_xml
from scanner.model import Role, Segment

_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_STYLE = "{urn:oasis:names:tc:opendocument:xmlns:style:1.0}"
_META = "{urn:oasis:names:tc:opendocument:xmlns:meta:1.0}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_PARAGRAPHS = (f"{_TEXT}p", f"{_TEXT}h")


def read_odf(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    where = prefix.rstrip("!")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise Unscannable("corrupt", f"not a readable OpenDocument file: {exc}", where) from None
    with zf:
        names = set(zf.namelist())
        if b"encryption-data" in _member(zf, "META-INF/manifest.xml", names, ctx, prefix):
            raise Unscannable("encrypted", "a password-protected OpenDocument file", where)
        meta = _member(zf, "meta.xml", names, ctx, prefix)
        if meta:
            yield from _metadata(parse_xml(meta, f"{prefix}meta.xml"), prefix)
        styles = _member(zf, "styles.xml", names, ctx, prefix)
        if styles:
            root = parse_xml(styles, f"{prefix}styles.xml")
            for tag, role in ((f"{_STYLE}header", Role.HEADER), (f"{_STYLE}footer", Role.FOOTER)):
                for element in root.iter(tag):
                    text = _paragraphs(element)
                    if text:
                        yield Segment(text, f"{prefix}{role.value}", role)
        content = _member(zf, "content.xml", names, ctx, prefix)
        if not content:
            raise Unscannable("corrupt", "an OpenDocument file without content.xml", where)
        yield Segment(_paragraphs(parse_xml(content, f"{prefix}content.xml")), f"{prefix}body")


def _member(zf: zipfile.ZipFile, name: str, names: set[str], ctx: Context, prefix: str) -> bytes:
    if name not in names:
        return b""
    from scanner.extract.archive import read_member

    return read_member(zf, zf.getinfo(name), ctx, prefix + name)


def _paragraphs(root: Any) -> str:
    return "\n".join("".join(p.itertext()) for p in root.iter() if p.tag in _PARAGRAPHS)


def _metadata(root: Any, prefix: str) -> Iterator[Segment]:
    for tag, field, role in (
        (f"{_DC}title", "title", Role.TITLE),
        (f"{_DC}subject", "subject", Role.METADATA),
        (f"{_DC}description", "description", Role.METADATA),
        (f"{_META}keyword", "keywords", Role.METADATA),
    ):
        for element in root.iter(tag):
            if element.text and element.text.strip():
                yield Segment(element.text.strip(), f"{prefix}{field}", role)
