"""Archives: zip (GBK member names too), tar, gzip/bzip2/xz, 7z and rar; every member goes back through the dispatcher.

Each member's bytes are counted against the file's limits while they are decompressed, never after.
"""

from __future__ import annotations

import bisect
import bz2
import io
import itertools
import lzma
import os
import re
import struct
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from typing import Any, Protocol

from scanner.extract.base import (
    Context,
    Detail,
    Unscannable,
    basename,
    decode_name,
    folder_segments,
    readable_name,
)
from scanner.i18n import msg
from scanner.model import Role, Segment

_CHUNK = 1 << 20
# Below this size a high compression ratio is harmless (a page of spaces compresses a thousandfold): the ratio limit
# is for members that would grow large.
_RATIO_FLOOR = 4 << 20
# Documents that are zips inside: an empty zip by one of these names is a broken document, not an empty folder.
_GZIP_MAGIC = b"\x1f\x8b"
_LOCAL_HEADER = b"PK\x03\x04"
_AFTER_GZIP = "(bytes after the gzip stream)"
PROTECTED_MEMBER = msg("A password-protected member.")
_DOCUMENT_SUFFIXES = (".docx", ".docm", ".dotx", ".xlsx", ".xlsm", ".pptx", ".pptm", ".odt", ".ods", ".odp", ".ofd")


class _Stream(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...
    def close(self) -> None: ...


def read_zip(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    where = prefix.rstrip("!")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise Unscannable("corrupt", msg("This is not a readable zip archive."), where, str(exc)) from None
    with zf:
        infos = _checked_members(zf.infolist(), ctx, where)
        _refuse_overlaps(infos, where)
        hidden = _unlisted_entries(data, zf.infolist())
        if hidden:
            unlisted = msg(
                "{count} members in the zip's local headers that its directory does not list (readers that stream "
                "a zip extract them).",
                count=hidden,
            )
            ctx.problem("corrupt", unlisted, where)
        if not infos and _current_name(prefix, ctx).lower().endswith(_DOCUMENT_SUFFIXES):
            raise Unscannable("corrupt", msg("An empty zip where a document was expected."), where)
        for info in infos:
            name = _zip_name(info)
            if info.is_dir():
                yield from _folders(name, prefix, ctx)
                continue
            if info.flag_bits & 0x1:
                yield from _unread(name, prefix, ctx, "encrypted", PROTECTED_MEMBER)
                continue
            try:
                content = read_member(zf, info, ctx, prefix + name)
            except Unscannable as exc:
                yield from _unread(name, prefix, ctx, exc.reason, exc.detail, exc.cause)
                if exc.reason in ("max_total_bytes", "seconds"):
                    return
                continue
            except NotImplementedError as exc:
                method = msg("A member packed with a method that cannot be unpacked here.")
                yield from _unread(name, prefix, ctx, "unsupported", method, str(exc))
                continue
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as exc:
                damaged = msg("A member that cannot be unpacked: it is damaged.")
                yield from _unread(name, prefix, ctx, "corrupt", damaged, f"{type(exc).__name__}: {exc}")
                continue
            yield from _member(content, name, prefix, ctx)


def read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, ctx: Context, part: str) -> bytes:
    """One zip member's bytes, counted against the ratio and byte limits while it is inflated."""
    return _read_bounded(zf.open(info), info.compress_size, ctx, part, info.file_size)


def read_tar(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    """Every member, as GNU tar reads them and further: past a damaged header (GNU tar skips to the next one) and past
    the end-of-archive blocks (where `tar -i` and other extractors go on). Bytes that belong to no member are a
    problem: what another extractor would make of them cannot be known."""
    where = prefix.rstrip("!")
    try:
        tf = tarfile.open(fileobj=io.BytesIO(data), mode="r:", ignore_zeros=True)  # noqa: SIM115 (closed below)
    except tarfile.TarError as exc:
        raise Unscannable("corrupt", msg("This is not a readable tar archive."), where, str(exc)) from None
    count = 0
    covered: list[tuple[int, int]] = []  # the bytes of each member: its headers and its data
    with tf:
        try:
            for member in tf:
                covered.append((member.offset, tf.offset))
                count += 1
                if count > ctx.limits.max_members:
                    many = msg("More than {limit} members.", limit=ctx.limits.max_members)
                    raise Unscannable("max_members", many, where)
                name = readable_name(member.name)  # tarfile keeps undecodable bytes as surrogates
                if not member.isfile():
                    if member.isdir():
                        yield from _folders(name.rstrip("/") + "/", prefix, ctx)
                    continue
                ctx.charge(member.size, prefix + name)
                handle = tf.extractfile(member)
                content = handle.read() if handle is not None else b""
                yield from _member(content, name, prefix, ctx)
        except tarfile.TarError as exc:
            raise Unscannable("corrupt", msg("The tar archive is damaged."), where, str(exc)) from None
    stray = _stray_blocks(data, covered)
    if stray:
        strays = msg(
            "{blocks} blocks of 512 bytes belong to no member (a damaged header, or bytes hidden between members).",
            blocks=stray,
        )
        ctx.problem("corrupt", strays, where)


def _stray_blocks(data: bytes, covered: list[tuple[int, int]]) -> int:
    """Blocks of 512 bytes, not all zero, outside every member: damaged headers, or bytes hidden between members."""
    stray = 0
    at = 0
    for start, end in [*sorted(covered), (len(data), len(data))]:
        for block in range(at, min(start, len(data)), 512):
            stray += bool(data[block : block + 512].strip(b"\x00"))
        at = max(at, end)
    return stray


def read_gzip(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    """Every member of the stream, joined as gunzip writes them; bytes after the last member (which gunzip ignores
    with a warning) leave with the file all the same, so they are read as a file of their own."""
    name = _gzip_name(data) or _inner_name(prefix, ctx, (".gz", ".tgz", ".z"))
    stream = GzipMembers(data)
    yield from _read_stream(stream, data, name, prefix, ctx)
    if stream.trailing.strip(b"\x00"):
        yield from ctx.descend(stream.trailing, _AFTER_GZIP, prefix)


class GzipMembers:
    """The members of a gzip stream one after another, as gunzip reads them (each one's CRC checked); what follows
    the last member is kept in `trailing`. The ICAP door reads gzip bodies through it too."""

    def __init__(self, data: bytes) -> None:
        self.rest = data
        self.inflater: Any = None
        self.trailing = b""

    def read(self, size: int = -1, /) -> bytes:
        while True:
            if self.inflater is None:
                if self.rest[:2] != _GZIP_MAGIC:
                    self.trailing, self.rest = self.rest, b""
                    return b""
                self.inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
            before = self.rest
            chunk = self.inflater.decompress(self.rest, max(size, 0))
            self.rest = self.inflater.unconsumed_tail
            if self.inflater.eof:
                self.rest, self.inflater = self.inflater.unused_data, None
            elif not chunk and self.rest == before:
                raise EOFError("a gzip member is cut short")
            if chunk:
                return chunk

    def close(self) -> None:
        self.rest = b""


def read_bzip2(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    name = _inner_name(prefix, ctx, (".bz2", ".tbz2", ".tbz"))
    yield from _read_stream(bz2.BZ2File(io.BytesIO(data)), data, name, prefix, ctx)


def read_xz(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    name = _inner_name(prefix, ctx, (".xz", ".txz"))
    yield from _read_stream(lzma.LZMAFile(io.BytesIO(data)), data, name, prefix, ctx)  # noqa: SIM115


def read_lzma(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    name = _inner_name(prefix, ctx, (".lzma", ".tlz"))
    stream = lzma.LZMAFile(io.BytesIO(data), format=lzma.FORMAT_ALONE)  # noqa: SIM115
    yield from _read_stream(stream, data, name, prefix, ctx)


def read_7z(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    import py7zr
    from py7zr.exceptions import Bad7zFile, PasswordRequired, UnsupportedCompressionMethodError

    where = prefix.rstrip("!")
    try:
        with py7zr.SevenZipFile(io.BytesIO(data)) as archive:
            infos = archive.list()
            names = [(info.filename, info.is_directory) for info in infos]
            _check_count(len(names), ctx, where)
            declared = sum(info.uncompressed or 0 for info in infos)
            _check_ratio(declared, len(data), ctx, where)
            factory = _BoundedFactory(ctx, where, max(_RATIO_FLOOR, len(data) * ctx.limits.max_ratio))
            encrypted = archive.needs_password()
            if not encrypted:
                archive.extract(factory=factory)
    except PasswordRequired:
        raise Unscannable("encrypted", msg("A 7z archive with encrypted headers."), where) from None
    except UnsupportedCompressionMethodError as exc:
        method = msg("A 7z archive packed with a method that cannot be unpacked here.")
        raise Unscannable("unsupported", method, where, str(exc)) from None
    except (Bad7zFile, EOFError, lzma.LZMAError, KeyError, IndexError, ValueError, OSError) as exc:
        unreadable = msg("This is not a readable 7z archive.")
        raise Unscannable("corrupt", unreadable, where, f"{type(exc).__name__}: {exc}") from None
    for (name, is_dir), written in zip(names, _py7zr_names([name for name, _ in names]), strict=True):
        product = factory.products.get(written) if written is not None else None
        if is_dir:
            yield from _folders(name + "/", prefix, ctx)
        elif product is None and not encrypted:
            yield from _unread(name, prefix, ctx, "corrupt", msg("A member that is listed but could not be unpacked."))
        elif product is None:
            yield from _name_only(name, prefix, ctx)
        else:
            yield from _member(product.getvalue(), name, prefix, ctx)
    if encrypted:
        raise Unscannable("encrypted", msg("A password-protected 7z archive."), where)


def _py7zr_names(names: list[str]) -> Iterator[str | None]:
    """The name py7zr hands its writer factory for each member: a repeated name gets _0, _1, ...; absolute paths
    and ./ lose their prefix (py7zr's own sanitising). None where py7zr would refuse the name."""
    from py7zr.exceptions import Bad7zFile
    from py7zr.helpers import get_sanitized_output_path

    repeats: dict[str, int] = {}
    for name in names:
        if name in repeats:
            written = f"{name}_{repeats[name]}"
            repeats[name] += 1
        else:
            written, repeats[name] = name, 0
        try:
            yield get_sanitized_output_path(written, None).as_posix()
        except (Bad7zFile, ValueError):
            yield None


def read_rar(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    """Through rarfile, which hands compressed members to unrar, unar or 7z, whichever Debian has installed."""
    import rarfile

    where = prefix.rstrip("!")
    with tempfile.TemporaryDirectory(prefix="baomi-rar-") as tmp:
        path = os.path.join(tmp, "archive.rar")  # the external tools want a file on disk
        with open(path, "wb") as fh:
            fh.write(data)
        try:
            with rarfile.RarFile(path) as rf:
                if rf.needs_password():
                    raise Unscannable("encrypted", msg("A rar archive with encrypted headers."), where)
                infos = _checked_members(rf.infolist(), ctx, where)
                for info in infos:
                    name = info.filename
                    if info.is_dir():
                        yield from _folders(name.rstrip("/") + "/", prefix, ctx)
                        continue
                    if info.needs_password():
                        yield from _unread(name, prefix, ctx, "encrypted", PROTECTED_MEMBER)
                        continue
                    content = _read_bounded(rf.open(info), info.compress_size, ctx, prefix + name, info.file_size)
                    yield from _member(content, name, prefix, ctx)
        except rarfile.RarCannotExec:
            no_tool = msg("There is no unrar, unar or 7z here to unpack rar members.")
            raise Unscannable("unsupported", no_tool, where) from None
        except rarfile.NeedFirstVolume:
            raise Unscannable("unsupported", msg("One volume of a multi-volume rar archive."), where) from None
        except rarfile.Error as exc:
            unreadable = msg("This is not a readable rar archive.")
            raise Unscannable("corrupt", unreadable, where, f"{type(exc).__name__}: {exc}") from None


def _checked_members(infos: list[Any], ctx: Context, where: str) -> list[Any]:
    """The members to read: at most max_members (the rest are a problem), their declared sizes within the limits."""
    if len(infos) > ctx.limits.max_members:
        ctx.problem("max_members", too_many_members(len(infos), ctx), where)
        infos = infos[: ctx.limits.max_members]
    declared = sum(max(0, info.file_size) for info in infos)
    if declared > ctx.limits.max_total_bytes:
        large = msg("The members declare {size} bytes decompressed.", size=declared)
        raise Unscannable("max_total_bytes", large, where)
    return infos


def _check_count(count: int, ctx: Context, where: str) -> None:
    if count > ctx.limits.max_members:
        raise Unscannable("max_members", too_many_members(count, ctx), where)


def too_many_members(count: int, ctx: Context) -> Detail:
    return msg("{count} members, over the limit of {limit}.", count=count, limit=ctx.limits.max_members)


def _check_ratio(size: int, compressed: int, ctx: Context, part: str) -> None:
    if size > max(_RATIO_FLOOR, compressed * ctx.limits.max_ratio):
        ratio = msg(
            "{size} bytes from {compressed} compressed, over the ratio of {limit}.",
            size=size,
            compressed=compressed,
            limit=ctx.limits.max_ratio,
        )
        raise Unscannable("max_ratio", ratio, part)


def _refuse_overlaps(infos: list[zipfile.ZipInfo], where: str) -> None:
    """Entries that share their compressed bytes are how a 42 kB zip declares petabytes (Fifield's zip bombs)."""
    spans = sorted(
        (info.header_offset, info.header_offset + 30 + len(info.orig_filename) + info.compress_size) for info in infos
    )
    for (_, end), (start, _) in itertools.pairwise(spans):
        if start < end:
            raise Unscannable("corrupt", msg("Zip entries that overlap one another (a zip bomb)."), where)


def _unlisted_entries(data: bytes, infos: list[zipfile.ZipInfo]) -> int:
    """Local file headers that the central directory does not list, outside every listed member's data: readers that
    stream a zip from its start (Java's ZipInputStream, unzip's recovery, many web uploaders) extract them."""
    spans = []
    for info in infos:
        start = info.header_offset
        names, extra = struct.unpack_from("<HH", data, start + 26) if start + 30 <= len(data) else (0, 0)
        spans.append((start, start + 30 + names + extra + info.compress_size))
    spans.sort()
    starts = [start for start, _ in spans]
    hidden = 0
    for match in re.finditer(re.escape(_LOCAL_HEADER), data):
        at = match.start()
        index = bisect.bisect_right(starts, at) - 1  # the listed member starting at or before it (none overlap)
        hidden += index < 0 or at >= spans[index][1]
    return hidden


def _read_bounded(handle: _Stream, compressed: int, ctx: Context, part: str, declared: int = 0) -> bytes:
    """A member's content, stopped as soon as it passes the ratio or the file's byte budget."""
    _check_ratio(declared, compressed, ctx, part)
    chunks: list[bytes] = []
    size = 0
    try:
        while chunk := handle.read(_CHUNK):
            size += len(chunk)
            _check_ratio(size, compressed, ctx, part)
            ctx.charge(len(chunk), part)
            chunks.append(chunk)
    finally:
        handle.close()
    return b"".join(chunks)


def _read_stream(handle: _Stream, data: bytes, name: str, prefix: str, ctx: Context) -> Iterator[Segment]:
    where = prefix.rstrip("!")
    try:
        content = _read_bounded(handle, len(data), ctx, where)
    except (OSError, EOFError, lzma.LZMAError, zlib.error, ValueError) as exc:
        damaged = msg("The compressed stream is damaged.")
        raise Unscannable("corrupt", damaged, where, f"{type(exc).__name__}: {exc}") from None
    yield from ctx.descend(content, name, prefix)


class _BoundedFactory:
    """py7zr's writer factory, with every byte written counted against the limits as it arrives."""

    def __init__(self, ctx: Context, part: str, limit: int) -> None:
        self.ctx, self.part, self.limit, self.size = ctx, part, limit, 0
        self.products: dict[str, _BoundedBuffer] = {}

    def create(self, filename: str) -> _BoundedBuffer:
        buffer = _BoundedBuffer(self, filename)
        self.products[filename] = buffer
        return buffer

    def get(self, filename: str) -> _BoundedBuffer:
        return self.products[filename]

    def count(self, nbytes: int) -> None:
        self.size += nbytes
        if self.size > self.limit:
            over = msg("More than {limit} bytes from a 7z archive.", limit=self.limit)
            raise Unscannable("max_ratio", over, self.part)
        self.ctx.charge(nbytes, self.part)


class _BoundedBuffer:
    """One member's bytes (py7zr's Py7zIO); py7zr closes it when done, so it keeps them for us past close."""

    def __init__(self, factory: _BoundedFactory, filename: str) -> None:
        self.factory = factory
        self.filename = filename
        self.chunks: list[bytes] = []
        self.length = 0

    def write(self, s: Any) -> int:
        self.factory.count(len(s))
        self.chunks.append(bytes(s))
        self.length += len(s)
        return len(s)

    def read(self, size: int | None = None) -> bytes:
        return b""

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.length

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None

    def size(self) -> int:
        return self.length

    def getvalue(self) -> bytes:
        return b"".join(self.chunks)


def _zip_name(info: zipfile.ZipInfo) -> str:
    """Chinese Windows writes member names in GBK without setting the UTF-8 flag; zipfile then reads them as cp437."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return decode_name(info.filename.encode("cp437"))
    except UnicodeEncodeError:
        return info.filename


def _gzip_name(data: bytes) -> str:
    """The original file name gzip stores in its header (FNAME), if any."""
    flags = data[3] if len(data) > 10 else 0
    if not flags & 0x08:
        return ""
    pos = 10
    if flags & 0x04:
        pos += 2 + int.from_bytes(data[10:12], "little")
    end = data.find(b"\x00", pos, pos + 1024)
    if end < 0:
        return ""
    return decode_name(data[pos:end])


def _current_name(prefix: str, ctx: Context) -> str:
    """The name of the file being read: the last member in the prefix, or the top-level file's."""
    name = prefix.rstrip("!").rsplit("!", 1)[-1] or ctx.name
    return name.replace("\\", "/").rsplit("/", 1)[-1]


def _inner_name(prefix: str, ctx: Context, suffixes: tuple[str, ...]) -> str:
    """`report.tar.gz` holds `report.tar`; `x.tgz` holds `x.tar`."""
    outer = _current_name(prefix, ctx)
    lowered = outer.lower()
    for suffix in suffixes:
        if lowered.endswith(suffix):
            stem = outer[: -len(suffix)]
            return stem + ".tar" if suffix.startswith(".t") else stem
    return outer + ".content" if outer else "content"


def _folders(name: str, prefix: str, ctx: Context) -> Iterator[Segment]:
    """The folders on a member's path, as names of their own."""
    return folder_segments(name, prefix, ctx.seen_folders)


def _member(content: bytes, name: str, prefix: str, ctx: Context) -> Iterator[Segment]:
    """A member read by content through the dispatcher, after the folders on its path."""
    yield from _folders(name, prefix, ctx)
    yield from ctx.descend(content, name, prefix)


def _name_only(name: str, prefix: str, ctx: Context) -> Iterator[Segment]:
    """A member whose content is not read: its name and its folders' still count."""
    yield from _folders(name, prefix, ctx)
    yield Segment(basename(name), prefix + name, Role.FILENAME)


def _unread(name: str, prefix: str, ctx: Context, reason: str, detail: Detail, cause: str = "") -> Iterator[Segment]:
    """A member that could not be read: its name still counts, and the problem is recorded."""
    ctx.problem(reason, detail, prefix + name, cause)
    return _name_only(name, prefix, ctx)
