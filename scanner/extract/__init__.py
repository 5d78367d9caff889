"""Extraction: bytes of any format in, segments of text out, with the limits enforced in one place.

The dispatcher detects the format by content (never by the name alone); containers recurse through it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from scanner.extract.base import (
    Detail,
    Extraction,
    Limits,
    Problem,
    Reader,
    Unscannable,
    basename,
    memory_needed,
    readable_name,
    took_too_long,
)
from scanner.extract.html import read_html
from scanner.extract.sniff import sniff
from scanner.extract.text import read_text
from scanner.i18n import msg
from scanner.model import Role, Segment

__all__ = ["Extraction", "Limits", "Problem", "Unscannable", "extract", "read_file"]

# Read in the scanning process itself: our own code, one pass over the input. Everything else (mail too: the email
# package and the attachments) runs in a worker process that a parser's crash, hang or memory blow-up cannot take down.
IN_PROCESS: dict[str, Reader] = {"text": read_text, "html": read_html}
# Extensions of formats that are never empty: a file of nothing (or of NUL bytes, a download that never came) named
# like one is a broken file of that format, not an empty text.
BINARY_SUFFIXES = frozenset(
    "pdf ofd docx docm dotx dotm xlsx xlsm xltx pptx pptm potx doc dot xls ppt wps et dps odt ods odp "  # noqa: SIM905
    "zip 7z rar gz tgz tar bz2 xz msg png jpg jpeg gif tif tiff bmp webp".split()
)


def extract(
    data: bytes, name: str, limits: Limits | None = None, *, ocr: bool = False, sha256: str | None = None
) -> Extraction:
    """Read every part of `data` (a file called `name`) into segments; what cannot be read becomes a problem.
    `sha256` is the content's digest when the caller has it already."""
    limits = limits or Limits()
    filename = Segment(text=readable_name(basename(name)), part="filename", role=Role.FILENAME)
    if len(data) > limits.max_bytes:
        problem = Problem(
            "max_bytes", msg("{size} bytes, over the limit of {limit}.", size=len(data), limit=limits.max_bytes)
        )
        return Extraction("unknown", [filename], [problem])
    fmt = sniff(data, name)
    if fmt in IN_PROCESS:
        result = read_file(data, name, limits, ocr, fmt, sha256)
    else:
        from scanner.extract.worker import run_isolated

        result = run_isolated(data, name, limits, ocr, fmt)
    result.segments.insert(0, filename)
    return result


def read_file(data: bytes, name: str, limits: Limits, ocr: bool, fmt: str, sha256: str | None = None) -> Extraction:
    """Read one top-level file in this process (the worker calls this too): its segments and its problems."""
    reading = Reading(limits, ocr, name, ancestry=[sha256 or hashlib.sha256(data).hexdigest()])
    try:
        for segment in reading.read(data, "", fmt):
            reading.segments.append(segment)
    except MemoryError:
        reading.segments.clear()  # free what we can before saying why
        reading.problem("memory_mb", memory_needed(limits), "")
    return Extraction(fmt, reading.segments, reading.problems, reading.encoding)


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
        fmt = fmt or sniff(data, name)
        where = prefix.rstrip("!")
        try:
            self.check_time(where)
            suffix = name.rpartition(".")[2].lower() if "." in basename(name) else ""
            if suffix in BINARY_SUFFIXES and not data.strip(b"\x00"):
                nothing = msg("{size} bytes of nothing in a file named as .{suffix}.", size=len(data), suffix=suffix)
                raise Unscannable("corrupt", nothing)
            reader = _reader(fmt)
            yield from reader(data, prefix, self)
        except Unscannable as exc:
            self.problem(exc.reason, exc.detail, exc.part or where, exc.cause)
        except (MemoryError, KeyboardInterrupt, SystemExit):
            raise
        except RecursionError:
            self.problem("corrupt", msg("Its structure is nested too deeply to read."), where)
        except Exception as exc:  # parser libraries raise any error on hostile input; it means we could not read it
            self.problem(
                "corrupt", msg("The reader of this format failed on it."), where, f"{type(exc).__name__}: {exc}"[:300]
            )

    def descend(self, data: bytes, name: str, prefix: str) -> Iterator[Segment]:
        part = prefix + name
        yield Segment(basename(name), part, Role.FILENAME)  # its name opens the segment, as a mark would open it
        digest = hashlib.sha256(data).hexdigest()
        if digest in self.ancestry:
            self.problem("max_depth", msg("A container that contains itself (such as droste.zip or quine.gz)."), part)
            return
        if len(self.ancestry) > self.limits.max_depth:
            deep = msg("Nested more than {limit} containers deep.", limit=self.limits.max_depth)
            self.problem("max_depth", deep, part)
            return
        self.ancestry.append(digest)
        try:
            yield from self.read(data, part + "!")
        finally:
            self.ancestry.pop()

    def encoding_found(self, encoding: str, part: str) -> None:
        if not part:
            self.encoding = encoding

    def problem(self, reason: str, detail: Detail, part: str, cause: str = "") -> None:
        self.problems.append(Problem(reason, detail, part, cause))

    def charge(self, nbytes: int, part: str) -> None:
        self.total += nbytes
        if self.total > self.limits.max_total_bytes:
            over = msg("Over {limit} bytes decompressed.", limit=self.limits.max_total_bytes)
            raise Unscannable("max_total_bytes", over, part)
        self.check_time(part)

    def check_time(self, part: str) -> None:
        if time.monotonic() > self.deadline:
            raise Unscannable("seconds", took_too_long(self.limits), part)

    def remaining(self) -> float:
        """Seconds left for this file, for the tools it runs."""
        return max(0.1, self.deadline - time.monotonic())


def _reader(fmt: str) -> Reader:
    reader = IN_PROCESS.get(fmt)
    if reader is None:
        from scanner.extract.readers import reader_of

        reader = reader_of(fmt)
    if reader is None:
        raise Unscannable("unsupported", msg("There is no reader for {format} content.", format=fmt))
    return reader
