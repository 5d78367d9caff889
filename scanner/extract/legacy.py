"""Legacy Office and WPS (OLE compound files): .doc/.xls/.ppt and Kingsoft's .wps/.et/.dps, plus encrypted OOXML.

Encryption is recognised in the OLE streams before any text is read, and the structures that locate the text are
checked (office97.py). Word 97+ text is read from its piece table here, Word 6/95 through catdoc; Excel through
xls2csv, which reads Chinese; PowerPoint from its text atoms here, since catppt loses Chinese (bench/extract-corpus.md
has the measurements). Embedded objects are read through the dispatcher.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import tempfile
import zlib
from collections.abc import Iterator
from typing import Any

from scanner.extract.base import Context, Unscannable
from scanner.extract.cfb import TooLarge, compound_file
from scanner.extract.embedded import open_ole, read_object_storage
from scanner.extract.html import codec_for
from scanner.extract.office97 import (
    PERSIST_DAMAGED,
    check_persist_directory,
    check_record_tree,
    sheet_names,
    word_layout,
    word_segments,
    word_text,
)
from scanner.i18n import msg
from scanner.model import Role, Segment

_EX_OLE_OBJ_STG = 0x1011
_EXCEL_OBJECT = re.compile(r"mbd[0-9a-f]{8}")
_DOCUMENT_STREAMS = frozenset({"worddocument", "workbook", "book", "powerpoint document"})


def read_encrypted_ooxml(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    """An OOXML document with a password: an OLE container holding EncryptionInfo and EncryptedPackage."""
    raise Unscannable("encrypted", msg("A password-protected Office document (EncryptedPackage)."), prefix.rstrip("!"))
    yield  # a generator, like every reader


def read_ole(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    where = prefix.rstrip("!")
    with open_ole(data, where) as ole:
        streams = {"/".join(entry).lower(): entry for entry in ole.listdir(streams=True, storages=True)}
        if any(name.startswith("\x06dataspaces") for name in streams):
            raise Unscannable("encrypted", msg("Rights-protected content (IRM/DRM)."), where)
        yield from _properties(ole, prefix)
        if "worddocument" in streams:
            document = ole.openstream("WordDocument").read()
            layout = word_layout(document, where)
            if layout.encrypted:
                raise Unscannable("encrypted", msg("A password-protected Word document."), where)
            if layout.table.lower() not in streams:
                missing = msg("The {stream} stream that locates the text is missing.", stream=layout.table)
                raise Unscannable("corrupt", missing, where)
            if layout.word97:
                text = word_text(document, ole.openstream(layout.table).read(), layout, where)
                ctx.charge(len(text), where)
                yield from word_segments(text, layout, prefix)
            else:
                yield from _word_text(data, prefix, ctx, layout.stories[0])
        elif "workbook" in streams or "book" in streams:
            workbook = ole.openstream(streams.get("workbook") or streams["book"]).read()
            sheets = sheet_names(workbook, where)
            if sheets:
                yield Segment("\n".join(sheets), f"{prefix}sheet-names", Role.METADATA)
            yield from _excel_text(data, prefix, ctx)
        elif "powerpoint document" in streams:
            current_user = ole.openstream("Current User").read() if "current user" in streams else b""
            if "encryptedsummary" in streams or current_user[12:16] == b"\xdf\xc4\xd1\xf3":
                raise Unscannable("encrypted", msg("A password-protected PowerPoint presentation."), where)
            document = ole.openstream("PowerPoint Document").read()
            check_record_tree(document, where)
            history = check_persist_directory(document, current_user, where)
            if history is not None:
                ctx.problem("repaired", PERSIST_DAMAGED, where, history)
            yield from _slide_text(document, prefix, ctx)
        else:
            raise Unscannable("unsupported", msg("An OLE file of no known kind."), where)
        yield from _object_storages(ole, prefix, ctx)


def _object_storages(ole: Any, prefix: str, ctx: Context) -> Iterator[Segment]:
    """Objects embedded in a Word 97 file (ObjectPool/_N storages) or an Excel 97 one (MBDxxxxxxxx storages): the
    file each holds, through the dispatcher. An embedded Word, Excel or PowerPoint 97 document is a storage of
    streams; it is written out as the compound file it was before it was embedded, and read as one."""
    objects: dict[tuple[str, ...], dict[str, list[str]]] = {}
    for entry in ole.listdir(streams=True, storages=False):
        top = entry[0].lower()
        depth = 2 if top == "objectpool" else 1 if _EXCEL_OBJECT.fullmatch(top) else 0
        if depth and len(entry) > depth:
            objects.setdefault(tuple(entry[:depth]), {})["/".join(entry[depth:]).lower()] = entry
    for storage, streams in sorted(objects.items()):
        name = "/".join(storage)
        try:
            if _DOCUMENT_STREAMS & set(streams):
                yield from ctx.descend(_as_file(ole, storage, streams), name, prefix)
            else:
                yield Segment(storage[-1], prefix + name, Role.FILENAME)
                yield from read_object_storage(ole, list(storage), streams, f"{prefix}{name}!", ctx)
        except Unscannable as exc:
            ctx.problem(exc.reason, exc.detail, exc.part or prefix + name, exc.cause)


def _as_file(ole: Any, storage: tuple[str, ...], streams: dict[str, list[str]]) -> bytes:
    contents = {tuple(entry[len(storage) :]): ole.openstream(entry).read() for entry in streams.values()}
    try:
        return compound_file(
            contents, bytes.fromhex((ole.getclsid(list(storage)) or "").replace("-", "")[:32] or "00" * 16)
        )
    except (TooLarge, ValueError) as exc:
        raise Unscannable("unsupported", msg("An embedded document too large to write out."), cause=str(exc)) from None


def _properties(ole: Any, prefix: str) -> Iterator[Segment]:
    """Title, subject, keywords and comments from the summary information, in the code page it declares."""
    try:
        meta = ole.get_metadata()
    except Exception:
        return
    codepage = (meta.codepage or 1252) & 0xFFFF
    codec = {65001: "utf-8", 1200: "utf-16-le"}.get(codepage) or codec_for(f"cp{codepage}") or "cp1252"
    for field, role in (("title", Role.TITLE), ("subject", Role.METADATA), ("keywords", Role.METADATA)):
        value = getattr(meta, field, None)
        if isinstance(value, bytes):
            value = value.decode(codec, "replace")
        if value and value.strip("\x00 "):
            yield Segment(value.strip("\x00 "), f"{prefix}{field}", role)
    comments = getattr(meta, "comments", None)
    if isinstance(comments, bytes) and comments.strip(b"\x00 "):
        yield Segment(comments.decode(codec, "replace").strip("\x00 "), f"{prefix}comments", Role.METADATA)


def _word_text(data: bytes, prefix: str, ctx: Context, expected: int) -> Iterator[Segment]:
    text = _run_tool(["catdoc", "-d", "utf-8", "-w"], data, prefix, ctx)
    if text.strip():
        yield Segment(text, f"{prefix}body")
    elif expected > 0:
        none = msg("The document holds {count} characters and none came out.", count=expected)
        raise Unscannable("no-text", none, prefix.rstrip("!"))


def _excel_text(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    text = _run_tool(["xls2csv", "-d", "utf-8", "-q", "0"], data, prefix, ctx)
    for number, sheet in enumerate(text.split("\f"), 1):
        if sheet.strip():
            yield Segment(sheet, f"{prefix}sheet{number}", Role.CELL)


def _slide_text(stream: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    """Every TextCharsAtom (UTF-16), TextBytesAtom (8-bit) and CString of the PowerPoint Document stream: slides,
    notes, masters and the text of earlier edits that is still in the file; then every embedded object (ExOleObjStg:
    an OLE storage, zlib-compressed when its instance is 1) through the dispatcher."""
    texts = []
    objects = []
    pos = 0
    while pos + 8 <= len(stream):
        ver_instance, kind, size = struct.unpack_from("<HHI", stream, pos)
        pos += 8
        if ver_instance & 0x000F == 0x000F:
            continue  # a container: its children follow
        body = stream[pos : pos + size]
        pos += size
        if kind in (0x0FA0, 0x0FBA):
            texts.append(body.decode("utf-16-le", "replace"))
        elif kind == 0x0FA8:
            texts.append(body.decode("latin-1"))
        elif kind == _EX_OLE_OBJ_STG:
            objects.append((ver_instance >> 4, body))
    text = "\n".join(t.replace("\r", "\n").replace("\x0b", "\n") for t in texts if t.strip())
    if not text:  # even an empty presentation carries its masters' placeholder text
        raise Unscannable("no-text", msg("The presentation holds no text atoms."), prefix.rstrip("!"))
    yield Segment(text, f"{prefix}slides")
    for number, (instance, body) in enumerate(objects, 1):
        name = f"object{number}"
        if instance == 1:
            try:
                body = _inflate(body, ctx, prefix + name)
            except Unscannable as exc:
                yield Segment(name, prefix + name, Role.FILENAME)
                ctx.problem(exc.reason, exc.detail, prefix + name, exc.cause)
                continue
        yield from ctx.descend(body, name, prefix)


def _inflate(body: bytes, ctx: Context, part: str) -> bytes:
    """A compressed ExOleObjStg: its decompressed size, then a zlib stream that must give exactly that many bytes."""
    if len(body) < 4:
        raise Unscannable("corrupt", msg("An embedded object's storage is cut short."), part)
    (size,) = struct.unpack_from("<I", body, 0)
    ctx.charge(size, part)
    inflater = zlib.decompressobj()
    try:
        content = inflater.decompress(body[4:], size + 1)
    except zlib.error as exc:
        raise Unscannable("corrupt", msg("An embedded object's storage does not inflate."), part, str(exc)) from None
    if len(content) != size:
        short = msg("An embedded object's storage gives {got} of its {size} bytes.", got=len(content), size=size)
        raise Unscannable("corrupt", short, part)
    if not inflater.eof:
        raise Unscannable("corrupt", msg("An embedded object's compressed storage does not end: it is damaged."), part)
    return content


def _run_tool(command: list[str], data: bytes, prefix: str, ctx: Context) -> str:
    """Run a Debian text extractor on `data` (written to a private temporary file) and return its UTF-8 output."""
    where = prefix.rstrip("!")
    if shutil.which(command[0]) is None:
        missing = msg("{tool} is not installed (Debian package catdoc).", tool=command[0])
        raise Unscannable("unsupported", missing, where)
    with tempfile.TemporaryDirectory(prefix="baomi-") as tmp:
        path = os.path.join(tmp, "document")
        with open(path, "wb") as fh:
            fh.write(data)
        try:
            done = subprocess.run(
                [*command, path],
                capture_output=True,
                timeout=ctx.remaining(),
                check=False,
            )
        except subprocess.TimeoutExpired:
            late = msg("{tool} ran out of the file's time.", tool=command[0])
            raise Unscannable("seconds", late, where) from None
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip()[:200]
        failed = msg("{tool} could not read it.", tool=command[0])
        raise Unscannable("corrupt", failed, where, detail or f"exit status {done.returncode}")
    return done.stdout.decode("utf-8", "replace")
