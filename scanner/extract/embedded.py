"""Embedded objects: what Office stores when a file is inserted into a document (an OLE storage such as a docx's
oleObject1.bin, or an OLE 1 object in RTF). The file inside is read through the dispatcher like any container member.

Formats from MS-OLEDS: the Ole10Native stream and the Package object it carries, the OLE 1 ObjectHeader.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

from scanner.extract.base import Context, Unscannable, decode_name
from scanner.i18n import msg
from scanner.model import Segment

# The class of OLE Package objects (a file of any kind wrapped by the Packager): {0003000C-0000-0000-C000-...}.
_PACKAGE_CLSID = "0003000C-0000-0000-C000-000000000046"
_LINKED = 0x00000001  # OLEStream Flags: the object's data is in another file; only its picture is in this one
# Streams holding an embedded file as it is (an OOXML package, a PDF, an ODF document, ...).
_CONTENT_STREAMS = ("package", "contents", "embeddedodf", "conents")


class _Truncated(Exception):
    pass


def open_ole(data: bytes, where: str) -> Any:
    """The compound file `data` opened with olefile, or Unscannable("corrupt")."""
    import olefile

    try:
        return olefile.OleFileIO(data)
    except Exception as exc:  # olefile raises assorted errors on damaged containers
        unreadable = msg("This is not a readable OLE file.")
        raise Unscannable("corrupt", unreadable, where, f"{type(exc).__name__}: {exc}") from None


def read_ole_object(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    """An OLE storage that is no Word, Excel or PowerPoint file: an embedded object. Its file is read; a linked
    object has none (its picture in the document is read there)."""
    with open_ole(data, prefix.rstrip("!")) as ole:
        streams = {"/".join(entry).lower(): entry for entry in ole.listdir(streams=True, storages=False)}
        yield from read_object_storage(ole, [], streams, prefix, ctx)


def read_object_storage(
    ole: Any, storage: list[str], streams: dict[str, list[str]], prefix: str, ctx: Context
) -> Iterator[Segment]:
    """The file an object storage holds (`storage`, the path of the storage in `ole`; `streams`, its streams by lower-
    case name relative to it), read through the dispatcher below `prefix`."""
    where = prefix.rstrip("!")
    if "\x01ole" in streams and _linked(ole.openstream(streams["\x01ole"]).read(8)):
        return
    if "\x01ole10native" in streams:
        native = ole.openstream(streams["\x01ole10native"]).read()
        name, content = _native(native, _is_package(ole, storage), where)
        yield from ctx.descend(content, name, prefix)
        return
    for stream in _CONTENT_STREAMS:
        if stream in streams:
            yield from ctx.descend(ole.openstream(streams[stream]).read(), streams[stream][-1], prefix)
            return
    kind = _class_name(ole, storage)
    unreadable = (
        msg("An embedded object ({kind}) that baomi cannot read.", kind=kind)
        if kind
        else msg("An embedded object of no known kind, which baomi cannot read.")
    )
    raise Unscannable("unsupported", unreadable, where)


def ole1_object(data: bytes, part: str) -> tuple[str, str, bytes | None]:
    """The class name, file name and bytes of an OLE 1 object (RTF's \\objdata); bytes None for a linked object."""
    try:
        _version, format_id = struct.unpack_from("<II", data, 0)
        at = 8
        class_name, at = _length_prefixed(data, at)
        _topic, at = _length_prefixed(data, at)
        _item, at = _length_prefixed(data, at)
        if format_id != 2:  # 1 is a link, 0 a static picture only
            return class_name, "", None
        (size,) = struct.unpack_from("<I", data, at)
    except (struct.error, _Truncated):
        raise Unscannable("corrupt", msg("An embedded object whose OLE 1 header is cut short."), part) from None
    native = data[at + 4 : at + 4 + size]
    if len(native) < size:
        raise Unscannable("corrupt", msg("An embedded {kind} object cut short.", kind=class_name), part)
    if class_name.lower() == "package":
        name, content = _package(native, part)
        return class_name, name, content
    return class_name, class_name, native


def _native(stream: bytes, package: bool, part: str) -> tuple[str, bytes]:
    """The file in an Ole10Native stream: a Package's named file, or another class's native data as it is."""
    if len(stream) < 4:
        raise Unscannable("corrupt", msg("An embedded object's Ole10Native stream is cut short."), part)
    (size,) = struct.unpack_from("<I", stream, 0)
    native = stream[4 : 4 + size]
    if package:
        return _package(native, part)
    return "native", native


def _package(native: bytes, part: str) -> tuple[str, bytes]:
    """A Package object: a label, the file's original path, a temporary path and the file's bytes (MS-OLEDS 2.3.6)."""
    try:
        at = 2
        label, at = _zero_terminated(native, at)
        path, at = _zero_terminated(native, at)
        at += 8
        _temp, at = _zero_terminated(native, at)
        (size,) = struct.unpack_from("<I", native, at)
    except (struct.error, _Truncated):
        raise Unscannable("corrupt", msg("An embedded package whose header is cut short."), part) from None
    content = native[at + 4 : at + 4 + size]
    if len(content) < size:
        short = msg("An embedded package holds {got} of its {size} bytes.", got=len(content), size=size)
        raise Unscannable("corrupt", short, part)
    name = path.replace("\\", "/").rsplit("/", 1)[-1] or label or "package"
    return name, content


def _zero_terminated(data: bytes, at: int) -> tuple[str, int]:
    end = data.find(b"\x00", at)
    if end < 0:
        raise _Truncated
    return decode_name(data[at:end]), end + 1


def _length_prefixed(data: bytes, at: int) -> tuple[str, int]:
    (length,) = struct.unpack_from("<I", data, at)
    if at + 4 + length > len(data):
        raise _Truncated
    return decode_name(data[at + 4 : at + 4 + length].rstrip(b"\x00")), at + 4 + length


def _linked(ole_stream: bytes) -> bool:
    return len(ole_stream) >= 8 and bool(struct.unpack_from("<I", ole_stream, 4)[0] & _LINKED)


def _is_package(ole: Any, storage: list[str]) -> bool:
    clsid = ole.getclsid(storage) if storage else ole.root.clsid
    return (clsid or "").upper() == _PACKAGE_CLSID or _class_name(ole, storage).lower() == "package"


def _class_name(ole: Any, storage: list[str]) -> str:
    """The object's class as its CompObj stream names it (Package, Excel.Sheet.8, Equation.3), if it does."""
    path = [*storage, "\x01CompObj"]
    if not ole.exists("/".join(path)):
        return ""
    data = ole.openstream(path).read()
    try:
        _user_type, at = _length_prefixed(data, 28)
        (marker,) = struct.unpack_from("<I", data, at)
        if marker in (0xFFFFFFFF, 0xFFFFFFFE):  # a standard clipboard format, by number
            at += 8
        elif marker == 0:
            at += 4
        else:
            _clipboard, at = _length_prefixed(data, at)
        program, _ = _length_prefixed(data, at)
    except (struct.error, _Truncated):
        return ""
    return program
