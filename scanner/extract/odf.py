"""OpenDocument (.odt/.ods/.odp, as LibreOffice and WPS save them): body, headers and footers, and metadata,
read from the XML parts with entity declarations refused; pictures, embedded objects and other files it holds too."""

from __future__ import annotations

import io
import posixpath
import zipfile
from collections.abc import Iterator
from typing import Any

from scanner.extract.base import Context, Unscannable, parse_xml
from scanner.extract.image import read_media
from scanner.i18n import msg
from scanner.model import Role, Segment

_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_STYLE = "{urn:oasis:names:tc:opendocument:xmlns:style:1.0}"
_META = "{urn:oasis:names:tc:opendocument:xmlns:meta:1.0}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_PARAGRAPHS = (f"{_TEXT}p", f"{_TEXT}h")
_MAIN_PARTS = frozenset({"content.xml", "styles.xml", "meta.xml"})
_NO_TEXT_PARTS = frozenset({"mimetype", "settings.xml", "styles.xml", "manifest.rdf"})
# Folders of bookkeeping and of pictures drawn from the document itself: a preview of its first page, pictures of
# its embedded objects as last rendered (the objects themselves are read), the application's settings.
_NO_TEXT_FOLDERS = ("META-INF/", "Thumbnails/", "ObjectReplacements/", "Configurations2/")


def read_odf(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    where = prefix.rstrip("!")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise Unscannable("corrupt", msg("This is not a readable OpenDocument file."), where, str(exc)) from None
    with zf:
        names = set(zf.namelist())
        if b"encryption-data" in _member(zf, "META-INF/manifest.xml", names, ctx, prefix):
            raise Unscannable("encrypted", msg("A password-protected OpenDocument file."), where)
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
            raise Unscannable("corrupt", msg("An OpenDocument file without content.xml."), where)
        yield Segment(_paragraphs(parse_xml(content, f"{prefix}content.xml")), f"{prefix}body")
        for name in sorted(names):
            yield from _other_member(zf, name, names, prefix, ctx)


def _other_member(zf: zipfile.ZipFile, name: str, names: set[str], prefix: str, ctx: Context) -> Iterator[Segment]:
    """What a document holds besides its main parts: pictures (an `image` finding, or OCR), embedded objects (a chart
    or formula is a document of its own, `Object 1/content.xml`; an OLE object a file) and any other file."""
    if name.endswith("/") or name in _MAIN_PARTS or posixpath.basename(name) in _NO_TEXT_PARTS:
        return
    if name.startswith(_NO_TEXT_FOLDERS):
        return
    data = _member(zf, name, names, ctx, prefix)
    if name.startswith("Pictures/") or name.startswith("media/"):
        yield from read_media(data, name, prefix, ctx)
    elif name.endswith(".xml"):
        root = parse_xml(data, prefix + name)
        lines = [text.strip() for text in root.itertext() if text.strip()]
        if lines:
            yield Segment("\n".join(lines), prefix + name, Role.TEXTBOX)
    else:
        yield from ctx.descend(data, name, prefix)


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
