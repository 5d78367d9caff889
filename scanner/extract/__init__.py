"""Extraction: bytes of any format in, segments of text out, with the limits enforced in one place.

The dispatcher detects the format by content (never by the name alone); containers recurse through it.
"""

from __future__ import annotations

import hashlib
import importlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from scanner.extract.base import Context, Extraction, Limits, Problem, Unscannable, basename
from scanner.extract.detect import detect
from scanner.extract.text import decode_text
from scanner.model import Role, Segment

__all__ = ["Extraction", "Limits", "Problem", "Unscannable", "extract"]

Reader = Callable[[bytes, str, Context], Iterator[Segment]]

# Format → "module:function" of its reader, imported when first needed.
READERS: dict[str, str] = {
    "text": "scanner.extract:read_text",
    "html": "scanner.extract.html:read_html",
    "docx": "scanner.extract.ooxml:read_docx",
    "xlsx": "scanner.extract.ooxml:read_xlsx",
    "pptx": "scanner.extract.ooxml:read_pptx",
    "pdf": "scanner.extract.pdf:read_pdf",
    "ofd": "scanner.extract.ofd:read_ofd",
    "odf": "scanner.extract.odf:read_odf",
    "ooxml-encrypted": "scanner.extract.legacy:read_encrypted_ooxml",
    "ole-doc": "scanner.extract.legacy:read_ole",
    "ole-xls": "scanner.extract.legacy:read_ole",
    "ole-ppt": "scanner.extract.legacy:read_ole",
    "wps": "scanner.extract.legacy:read_ole",
    "zip": "scanner.extract.archive:read_zip",
    "tar": "scanner.extract.archive:read_tar",
    "gzip": "scanner.extract.archive:read_gzip",
    "bzip2": "scanner.extract.archive:read_bzip2",
    "xz": "scanner.extract.archive:read_xz",
    "lzma": "scanner.extract.archive:read_lzma",
    "7z": "scanner.extract.archive:read_7z",
    "rar": "scanner.extract.archive:read_rar",
    "eml": "scanner.extract.mail:read_eml",
    "mbox": "scanner.extract.mail:read_mbox",
    "msg": "scanner.extract.mail:read_msg",
    **{fmt: "scanner.extract.image:read_image" for fmt in ("png", "jpeg", "gif", "tiff", "bmp", "webp")},
}
# Read in the scanning process itself: our own code, one pass over the input. Everything else (mail too: the email
# package and the attachments) runs in a worker process that a parser's crash, hang or memory blow-up cannot take down.
IN_PROCESS = frozenset({"text", "html"})
# Extensions of formats that are never empty: a file of nothing (or of NUL bytes, a download that never came) named
# like one is a broken file of that format, not an empty text.
BINARY_SUFFIXES = frozenset(
    "pdf ofd docx docm dotx dotm xlsx xlsm xltx pptx pptm potx doc dot xls ppt wps et dps odt ods odp "  # noqa: SIM905
    "zip 7z rar gz tgz tar bz2 xz msg png jpg jpeg gif tif tiff bmp webp".split()
)


def extract(data: bytes, name: str, limits: Limits | None = None, *, ocr: bool = False) -> Extraction:
    """Read every part of `data` (a file called `name`) into segments; what cannot be read becomes a problem."""
    limits = limits or Limits()
    filename = Segment(text=basename(name), part="filename", role=Role.FILENAME)
    if len(data) > limits.max_bytes:
        problem = Problem("max_bytes", f"{len(data)} bytes, over the limit of {limits.max_bytes}")
        return Extraction("unknown", [filename], [problem])
    fmt = detect(data, name)
    if fmt in IN_PROCESS:
        result = read_file(data, name, limits, ocr, fmt)
    else:
        from scanner.extract.worker import run_isolated

        result = run_isolated(data, name, limits, ocr, fmt)
    result.segments.insert(0, filename)
    return result


def read_file(data: bytes, name: str, limits: Limits, ocr: bool, fmt: str) -> Extraction:
    """Read one top-level file in this process (the worker calls this too): its segments and its problems."""
    reading = Reading(limits, ocr, name, ancestry=[hashlib.sha256(data).hexdigest()])
    try:
        for segment in reading.read(data, "", fmt):
            reading.segments.append(segment)
    except MemoryError:
        reading.segments.clear()  # free what we can before saying why
        reading.problem("memory_mb", f"more than {limits.memory_mb} MB needed", "")
    return Extraction(fmt, reading.segments, reading.problems, reading.encoding)


def read_text(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    """Plain text in whichever encoding decode_text finds. XML that declares entities is read as it is written, but
    what its references expand to (a billion laughs, an external file) is not there, so it is not complete."""
    decoded = decode_text(data)
    if isinstance(ctx, Reading) and not prefix:
        ctx.encoding = decoded.encoding
    yield Segment(decoded.text, f"{prefix}body")
    if decoded.text.lstrip("\ufeff \t\r\n").startswith("<") and "<!ENTITY" in decoded.text[:65536]:
        ctx.problem("xml_entities", "XML that declares entities: their expansions are not read", prefix.rstrip("!"))


@dataclass
class Reading:
    """The Context of one top-level file: its limits, what it has used of them, and the problems found so far."""

    limits: Limits
    ocr: bool
    name: str
    problems: list[Problem] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    encoding: str | None = None
    total: int = 0
    ancestry: list[str] = field(default_factory=list)  # digests of the file and the containers being read in it
    deadline: float = 0.0
    seen_folders: set[str] = field(default_factory=set)  # archive folders already given as segments

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.limits.seconds

    def read(self, data: bytes, prefix: str, fmt: str | None = None) -> Iterator[Segment]:
        """The segments of `data` by its format's reader; a reader's failure becomes a problem of that part."""
        name = prefix.rstrip("!").rsplit("!", 1)[-1] if prefix else self.name
        fmt = fmt or detect(data, name)
        where = prefix.rstrip("!")
        try:
            self.check_time(where)
            suffix = name.rpartition(".")[2].lower() if "." in basename(name) else ""
            if suffix in BINARY_SUFFIXES and not data.strip(b"\x00"):
                raise Unscannable("corrupt", f"{len(data)} bytes of nothing in a file named as .{suffix}")
            reader = _reader(fmt)
            yield from reader(data, prefix, self)
        except Unscannable as exc:
            self.problem(exc.reason, exc.detail, exc.part or where)
        except (MemoryError, KeyboardInterrupt, SystemExit):
            raise
        except RecursionError:
            self.problem("corrupt", "structure nested too deeply to read", where)
        except Exception as exc:  # parser libraries raise any error on hostile input; it means we could not read it
            self.problem("corrupt", f"{type(exc).__name__}: {exc}"[:300], where)

    def descend(self, data: bytes, name: str, prefix: str) -> Iterator[Segment]:
        part = prefix + name
        yield Segment(basename(name), part, Role.FILENAME)  # its name opens the segment, as a mark would open it
        digest = hashlib.sha256(data).hexdigest()
        if digest in self.ancestry:
            self.problem("max_depth", "a container that contains itself (droste.zip, quine.gz)", part)
            return
        if len(self.ancestry) > self.limits.max_depth:
            self.problem("max_depth", f"nested more than {self.limits.max_depth} containers deep", part)
            return
        self.ancestry.append(digest)
        try:
            yield from self.read(data, part + "!")
        finally:
            self.ancestry.pop()

    def problem(self, reason: str, detail: str, part: str) -> None:
        self.problems.append(Problem(reason, detail, part))

    def charge(self, nbytes: int, part: str) -> None:
        self.total += nbytes
        if self.total > self.limits.max_total_bytes:
            raise Unscannable("max_total_bytes", f"over {self.limits.max_total_bytes} bytes decompressed", part)
        self.check_time(part)

    def check_time(self, part: str) -> None:
        if time.monotonic() > self.deadline:
            raise Unscannable("seconds", f"reading took more than {self.limits.seconds:g} s", part)

    def remaining(self) -> float:
        """Seconds left for this file, for the tools it runs."""
        return max(0.1, self.deadline - time.monotonic())


def _reader(fmt: str) -> Reader:
    target = READERS.get(fmt)
    if target is None:
        raise Unscannable("unsupported", f"no reader for {fmt} content")
    module_name, function = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise Unscannable("unsupported", f"{fmt} files cannot be read yet") from None
    reader: Reader = getattr(module, function)
    return reader
