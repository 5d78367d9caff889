"""Legacy Office and WPS (OLE compound files): .doc/.xls/.ppt and Kingsoft's .wps/.et/.dps, plus encrypted OOXML.

Encryption is recognised in the OLE streams before any text is read. Text comes from catdoc (Word, WPS) and xls2csv
(Excel, ET), which read Chinese; PowerPoint text is read from its text atoms here, since catppt loses Chinese
(bench/extract-corpus.md has the measurements).
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterator
from typing import Any

from scanner.extract.base import Context, Unscannable
from scanner.extract.html import codec_for
from scanner.model import Role, Segment


def read_encrypted_ooxml(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    """An OOXML document with a password: an OLE container holding EncryptionInfo and EncryptedPackage."""
    raise Unscannable("encrypted", "a password-protected Office document (EncryptedPackage)", prefix.rstrip("!"))
    yield  # a generator, like every reader


def read_ole(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    import olefile

    where = prefix.rstrip("!")
    try:
        ole = olefile.OleFileIO(data)
    except Exception as exc:  # olefile raises assorted errors on damaged containers
        raise Unscannable("corrupt", f"not a readable OLE file: {type(exc).__name__}: {exc}", where) from None
    with ole:
        streams = {"/".join(entry).lower(): entry for entry in ole.listdir(streams=True, storages=True)}
        if any(name.startswith("\x06dataspaces") for name in streams):
            raise Unscannable("encrypted", "rights-protected (IRM/DRM) content", where)
        yield from _properties(ole, prefix)
        if "worddocument" in streams:
            expected = _word_text_length(ole.openstream("WordDocument").read(), where)
            yield from _word_text(data, prefix, ctx, expected)
        elif "workbook" in streams or "book" in streams:
            workbook = ole.openstream(streams.get("workbook") or streams["book"]).read()
            sheets = _sheet_names(workbook, where)
            if sheets:
                yield Segment("\n".join(sheets), f"{prefix}sheet-names", Role.METADATA)
            yield from _excel_text(data, prefix, ctx)
        elif "powerpoint document" in streams:
            current_user = ole.openstream("Current User").read(12) if "current user" in streams else b""
            if "encryptedsummary" in streams or current_user[8:12] == b"\xdf\xc4\xd1\xf3":
                raise Unscannable("encrypted", "a password-protected PowerPoint presentation", where)
            yield from _slide_text(ole.openstream("PowerPoint Document").read(), prefix)
        else:
            raise Unscannable("unsupported", "an OLE file of no known kind", where)


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


def _word_text_length(fib: bytes, where: str) -> int:
    """Check the File Information Block and return ccpText, the characters of main text it promises.

    The fEncrypted bit (0x0100 of the flags at 0x0A) marks RC4 and XOR-obfuscated documents."""
    if len(fib) < 0x50 or fib[:2] not in (b"\xec\xa5", b"\xdc\xa5"):
        raise Unscannable("corrupt", "a WordDocument stream without a Word header", where)
    (flags,) = struct.unpack_from("<H", fib, 0x0A)
    if flags & 0x0100:
        raise Unscannable("encrypted", "a password-protected Word document", where)
    (length,) = struct.unpack_from("<i", fib, 0x4C)
    return length


def _word_text(data: bytes, prefix: str, ctx: Context, expected: int) -> Iterator[Segment]:
    text = _run_tool(["catdoc", "-d", "utf-8", "-w"], data, prefix, ctx)
    if text.strip():
        yield Segment(text, f"{prefix}body")
    elif expected > 0:
        raise Unscannable("no-text", f"the document holds {expected} characters and none came out", prefix.rstrip("!"))


def _excel_text(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    text = _run_tool(["xls2csv", "-d", "utf-8", "-q", "0"], data, prefix, ctx)
    for number, sheet in enumerate(text.split("\f"), 1):
        if sheet.strip():
            yield Segment(sheet, f"{prefix}sheet{number}", Role.CELL)


def _sheet_names(workbook: bytes, where: str) -> list[str]:
    """BoundSheet8 records (0x0085) of the workbook globals; a FilePass record (0x002F) there means encryption."""
    names = []
    pos = 0
    while pos + 4 <= len(workbook):
        kind, size = struct.unpack_from("<HH", workbook, pos)
        body = workbook[pos + 4 : pos + 4 + size]
        pos += 4 + size
        if kind == 0x002F:
            raise Unscannable("encrypted", "a password-protected Excel workbook", where)
        if kind == 0x000A:  # EOF of the globals substream
            break
        if kind == 0x0085 and len(body) >= 8:
            length, high = body[6], body[7] & 0x01
            raw = body[8 : 8 + length * (2 if high else 1)]
            names.append(raw.decode("utf-16-le" if high else "latin-1", "replace"))
    return names


def _slide_text(stream: bytes, prefix: str) -> Iterator[Segment]:
    """Every TextCharsAtom (UTF-16), TextBytesAtom (8-bit) and CString of the PowerPoint Document stream: slides,
    notes, masters and the text of earlier edits that is still in the file."""
    texts = []
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
    text = "\n".join(t.replace("\r", "\n").replace("\x0b", "\n") for t in texts if t.strip())
    if not text:  # even an empty presentation carries its masters' placeholder text
        raise Unscannable("no-text", "no text atoms in the presentation", prefix.rstrip("!"))
    yield Segment(text, f"{prefix}slides")


def _run_tool(command: list[str], data: bytes, prefix: str, ctx: Context) -> str:
    """Run a Debian text extractor on `data` (written to a private temporary file) and return its UTF-8 output."""
    where = prefix.rstrip("!")
    if shutil.which(command[0]) is None:
        raise Unscannable("unsupported", f"{command[0]} is not installed (Debian package catdoc)", where)
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
            raise Unscannable("seconds", f"{command[0]} ran out of the file's time", where) from None
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip()[:200]
        raise Unscannable("corrupt", f"{command[0]} could not read it: {detail or done.returncode}", where)
    return done.stdout.decode("utf-8", "replace")
