"""The records every extractor shares: what came out (Extraction), what did not (Problem), and the Limits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from scanner.i18n import Message, msg, render
from scanner.model import Role, Segment

# What a person reads about a problem: a Message (shown in the reader's language), or a plain string (English).
Detail = str | Message


class Unscannable(Exception):
    """A file, or a part of one, that could not be read completely. Never a pass.

    `detail` says what went wrong, for a person; `cause` is what a library said about it, in its own (English)
    words, for the administrator: it goes into FileReport.errors and the English explanation, never into a message
    shown in the reader's language."""

    def __init__(self, reason: str, detail: Detail, part: str = "", cause: str = "") -> None:
        super().__init__(f"{reason}: {english(detail, cause)}")
        # encrypted, corrupt, garbled, no-text, unsupported, image, crash, xml_entities, or a limit's name
        self.reason = reason
        self.detail = detail
        self.part = part
        self.cause = cause


@dataclass(frozen=True)
class Problem:
    """Why some of a file's text did not come out: the reason (a machine word, rule `unscannable.<reason>`), what a
    person reads about it, and what a library said (see Unscannable)."""

    reason: str
    detail: Detail
    part: str = ""
    cause: str = ""

    @property
    def english(self) -> str:
        """The detail in English with the library's words after it: for FileReport.errors, logs and tools."""
        return english(self.detail, self.cause)


def english(detail: Detail, cause: str = "") -> str:
    text = render(detail, "en")
    return f"{text} ({cause})" if cause else text


XML_ENTITIES = msg("XML that declares entities or refers to outside files: they are not expanded.")


@dataclass(frozen=True)
class Limits:
    """How far baomi goes into one file before it calls the file unscannable."""

    max_bytes: int = 256 * 1024 * 1024  # one file as given
    max_depth: int = 8  # containers inside containers
    max_total_bytes: int = 1024 * 1024 * 1024  # decompressed, over the whole file
    max_ratio: int = 200  # decompressed size over compressed size, per member
    max_members: int = 10_000  # entries in one archive
    seconds: float = 120.0  # per file
    memory_mb: int = 2048  # per file, in the worker that parses it


def memory_needed(limits: Limits) -> Message:
    return msg("Reading it needed more than {limit} MB of memory.", limit=limits.memory_mb)


def took_too_long(limits: Limits) -> Message:
    return msg("Reading it took more than {seconds} s.", seconds=f"{limits.seconds:g}")


@dataclass
class Extraction:
    format: str
    segments: list[Segment] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    encoding: str | None = None


class Context(Protocol):
    """What an extractor may ask of the dispatcher while it reads one file.

    An extractor is a function `read(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]`: it yields every
    segment it finds (parts named `prefix + part`), raises Unscannable when the file as a whole cannot be read, and
    reports a part it could not read with `ctx.problem` while yielding the rest.
    """

    limits: Limits
    ocr: bool
    name: str  # the top-level file's name, as given
    seen_folders: set[str]  # archive folders already given as segments, so each is named once

    def descend(self, data: bytes, name: str, prefix: str) -> Iterator[Segment]:
        """The segments of an embedded file (archive member, attachment, embedded object), read by content,
        with its parts named `prefix + name + "!" + part` and the depth and byte limits applied."""
        ...

    def problem(self, reason: str, detail: Detail, part: str, cause: str = "") -> None:
        """Record that `part` could not be read completely (the file will not pass)."""
        ...

    def charge(self, nbytes: int, part: str) -> None:
        """Count `nbytes` of decompressed content against the file's limits; raises Unscannable past them."""
        ...

    def remaining(self) -> float:
        """Seconds the file has left, for an external tool's timeout."""
        ...

    def encoding_found(self, encoding: str, part: str) -> None:
        """Say which text encoding `part` was read in (the report names the top-level file's)."""
        ...


Reader = Callable[[bytes, str, Context], Iterator[Segment]]


def parse_xml(data: bytes, part: str) -> Any:
    """Parse one XML part with entity declarations and external references refused (billion laughs, XXE).

    Returns the root Element; a bomb raises Unscannable("xml_entities"), broken XML Unscannable("corrupt").
    """
    from xml.etree.ElementTree import ParseError

    import defusedxml.ElementTree
    from defusedxml import DefusedXmlException

    try:
        return defusedxml.ElementTree.fromstring(data)
    except DefusedXmlException as exc:
        raise Unscannable("xml_entities", XML_ENTITIES, part, str(exc)) from None
    except ParseError as exc:
        raise Unscannable("corrupt", msg("Its XML is not well-formed."), part, str(exc)) from None


def decode_name(raw: bytes) -> str:
    """A file name stored as bytes without its encoding: UTF-8, else GB 18030 (Chinese Windows), else Latin-1."""
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


def folder_segments(path: str, prefix: str, seen: set[str]) -> Iterator[Segment]:
    """The folders on an archive member's path as FILENAME segments, each once per archive (by `seen`), so that a
    mark opening a folder's name opens a segment (机密★5年/预算.txt). A path ending in / is all folders."""
    names = [n for n in path.replace("\\", "/").split("/") if n]
    folders = len(names) if path.endswith(("/", "\\")) else len(names) - 1
    for depth in range(1, folders + 1):
        folder = prefix + "/".join(names[:depth]) + "/"
        if folder not in seen:
            seen.add(folder)
            yield Segment(names[depth - 1], folder, Role.FILENAME)


def readable_name(name: str) -> str:
    """A name as a person reads it: bytes that were not UTF-8 (which Python keeps as surrogates) decoded as
    decode_name does, GBK names from Chinese Windows being the usual reason."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return decode_name(name.encode("utf-8", "surrogateescape"))
    return name


def basename(path: str) -> str:
    return path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
