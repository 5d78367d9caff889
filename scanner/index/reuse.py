"""When a report in the scan index may stand for a file again, and the work of a scanning process: look a folder's
files up in the index (their metadata against their rows), and read a file and scan it unless its content is one the
index already judged under the same rules.

A report is reused unread only when the file's size, mtime, ctime and inode are those it had when it was read, and it
had not been changed within RACY_NS of being read (a change in the same tick of the clock leaves mtime as it was, as
git's "racily clean" entries). Where the metadata is uncertain, the file is read and its SHA-256 decides.
"""

from __future__ import annotations

import enum
import hashlib
import os
import threading
import time
from collections import Counter, OrderedDict
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanner.engine import Refused, Scanner, read_regular_file
from scanner.i18n import speaking
from scanner.index.records import decode, encode
from scanner.index.store import Listing, ScanIndex, Stored
from scanner.model import FileReport, Verdict
from scanner.report import Rendering, Told, printable
from scanner.walk import FS_ENCODING, FS_ERRORS, prefix_of

# A file changed less than this before it was read may change again with no new mtime (FAT keeps mtime to 2 s).
RACY_NS = 2_000_000_000
# Problems that another try may not have (the machine was busy, a parser crashed): such a report is not kept.
PASSING_PROBLEMS = frozenset({"seconds", "timeout", "crash", "internal-error", "unreadable"})
RECENT = 4096  # reports a scanning process keeps of what it scanned itself, for copies that come soon after
_INODE_SIGN = 1 << 63  # st_ino may use all 64 bits; the databases keep signed 64-bit integers


@dataclass(slots=True)
class FileState:
    """What `stat` says of a file, as the index compares it."""

    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int

    @classmethod
    def of(cls, info: os.stat_result) -> FileState:
        return cls(info.st_size, info.st_mtime_ns, info.st_ctime_ns, _signed(info.st_ino))


def _signed(inode: int) -> int:
    return inode - (1 << 64) if inode >= _INODE_SIGN else inode


def settled(info: os.stat_result, stored: Stored) -> bool:
    """Unchanged since `stored` was read, for sure: the same metadata, and not changed just before the read."""
    same = (info.st_size, info.st_mtime_ns, info.st_ctime_ns, _signed(info.st_ino)) == stored[:4]
    return same and max(stored.mtime_ns, stored.ctime_ns) < stored.read_ns - RACY_NS


class Plan(enum.Enum):
    REUSE = "reuse"  # the stored report stands, unread
    VERIFY = "verify"  # read it: the stored report stands if its SHA-256 is the stored one
    SCAN = "scan"  # read it: reuse a report of the same content made elsewhere, or scan it


def plan(info: os.stat_result | None, stored: Stored | None, same_rules: bool, only_run: int | None) -> Plan:
    """What to do with a file whose metadata is `info` (None: it could not be examined) and whose row is `stored`,
    judged under the rules of this scan or not (`same_rules`); `only_run` is set for a --rescan: only reports that
    scan made itself count."""
    if info is None or stored is None or not same_rules:
        return Plan.SCAN
    if only_run is not None and stored.scan != only_run:
        return Plan.SCAN
    if settled(info, stored):
        return Plan.REUSE
    return Plan.VERIFY if info.st_size == stored.size else Plan.SCAN


# A stored report as a re-scan reuses it: the report, the file's size and SHA-256, the scan that wrote it. Plain
# values: a re-scan hands millions from the scanning processes to the client.
Kept = tuple[str, int, bytes, int]


# A file of a listing the client is to handle (not reused unread, or reused where the reader does not render): its
# index in the listing's names, what to do, the stored report (where the plan may use it), and its metadata (where it
# is to be read). A plain tuple, like Kept.
Decided = tuple[int, Plan, Kept | None, FileState | None]


@dataclass(slots=True)
class Looked:
    """A listing looked up by a scanning process: its files in order, each run of those reused unread as the reader
    rendered them (Told, where the reader has a Rendering), the others one by one (Decided); the names of files gone
    from the folder; and the scan that last listed the whole folder (0: none)."""

    files: list[Told | Decided] = field(default_factory=list)
    gone: list[bytes] = field(default_factory=list)
    listed_by: int = 0


@dataclass(slots=True)
class _Run:
    """A run of reused reports being rendered, told once it ends."""

    texts: list[str] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    resumed: int = 0

    def add(self, text: str, verdict: Verdict) -> None:
        self.texts.append(text)
        self.verdicts.append(verdict)

    def end(self, files: list[Told | Decided]) -> None:
        if self.texts:
            files.append(Told("".join(self.texts), dict(Counter(self.verdicts)), self.resumed))
            self.texts, self.verdicts, self.resumed = [], [], 0


@dataclass(slots=True)
class Job:
    """One file for a scanning process: where to read it, the name its report gives it (the path as the walk found
    it), and the SHA-256 the index holds for it when only a read can tell whether it changed."""

    path: str
    name: str
    expect: bytes | None = None


class How(enum.StrEnum):
    UNCHANGED = "unchanged"  # the stored report, unread
    SAME = "same"  # read: the content the index holds for this path
    COPY = "copy"  # read: the content of another file the index holds, with the same name
    SCANNED = "scanned"
    UNREAD = "unread"  # not read (not a regular file, too large, unreadable): not kept in the index


@dataclass
class Outcome:
    """A scanning process's answer for one job: the report (None when the index's own report for the path stands),
    how it came about, when the file was read (ns since the epoch), and the report as the index keeps it (made here,
    in parallel, rather than by the scan's one client; empty when it is not to be kept)."""

    report: FileReport | None
    how: How
    read_ns: int = 0
    stored: str = ""


@dataclass
class IndexReader:
    """What the index holds under the rule set of the scan (and, for a --rescan, what it made itself), for a process
    that only reads it: the rows of a folder's files, and reports found by content (SHA-256) and file name (a file's
    name is part of what is judged: its words, the format its suffix hints). What this process scanned itself is
    found at once, before the scan's client has written it to the index. The threads of a Dask worker share one.
    With a `rendering`, the reports a look-up reuses are rendered here for the printer: a re-scan's one client
    then only writes them out."""

    location: str | Path
    fingerprint: str
    channel: str
    run: int = 0  # the scan looking up: the reports it made or saw count as resumed
    only_run: int | None = None
    rendering: Rendering | None = None
    _index: ScanIndex | None = field(default=None, repr=False)
    _pid: int = 0
    # Oldest first. An OrderedDict: a dict's oldest key, after many taken from its front, is found by walking past
    # every slot they left empty.
    _recent: OrderedDict[tuple[bytes, bytes], str] = field(default_factory=OrderedDict, repr=False)
    # A text rendering, but for the path, of each stored report a look-up reused (Rendering.around_path).
    _around: dict[str, tuple[str, str, Verdict]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def look(self, listings: list[Listing]) -> list[Looked]:
        """Each listing's files: their metadata now against their rows, and so what to do with each."""
        language = speaking(self.rendering.language) if self.rendering is not None else nullcontext()
        with self._lock, language:
            index = self._open()
            return [self._look(index, listing) for listing in listings]

    def _look(self, index: ScanIndex, listing: Listing) -> Looked:
        found = index.known(listing)
        looked = Looked(gone=found.gone, listed_by=found.listed_by)
        ours = (self.fingerprint, self.channel)
        try:  # each file's stat relative to its folder: one name for the kernel to resolve, not the whole path
            folder: int | None = os.open(listing.folder, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:  # a folder one may pass through but not list (a file named on its own there)
            folder = None
        prefix = listing.folder.rstrip(b"/") + b"/"
        render = self.rendering if listing.shown else None
        shown = prefix_of(listing.shown)
        listed_here = found.listed_by == self.run
        run = _Run()
        try:
            stat, stored_as, rules_of, only_run = os.stat, found.stored.get, index.rules_of, self.only_run
            reuse, scan = Plan.REUSE, Plan.SCAN
            for at, name in enumerate(listing.names):
                try:
                    info = stat(name, dir_fd=folder) if folder is not None else stat(prefix + name)
                except OSError:
                    info = None
                stored = stored_as(name)
                decided = plan(info, stored, stored is not None and rules_of(stored.scan) == ours, only_run)
                if decided is reuse and render is not None:
                    assert stored is not None
                    run.add(*self._told(render, stored, shown + name.decode(FS_ENCODING, FS_ERRORS)))
                    run.resumed += listed_here or stored.scan == self.run
                    continue
                run.end(looked.files)
                kept: Kept | None = None
                if stored is not None and decided is not scan:
                    kept = (stored.report, stored.size, stored.sha256, stored.scan)
                state = None if decided is reuse or info is None else FileState.of(info)
                looked.files.append((at, decided, kept, state))
            run.end(looked.files)
        finally:
            if folder is not None:
                os.close(folder)
        return looked

    def _told(self, rendering: Rendering, stored: Stored, path: str) -> tuple[str, Verdict]:
        """A reused report rendered. Where the rendering names the file only by its path (text), the rest is made
        once per stored report: a share's clean files have a few between them."""
        around = self._around.get(stored.report)
        if around is None:
            report = decode(stored.report, path, stored.size, stored.sha256)
            parts = rendering.around_path(report)
            if parts is None:
                return rendering(report), report.verdict
            if len(self._around) >= RECENT:
                self._around.clear()
            around = self._around[stored.report] = (*parts, report.verdict)
        before, after, verdict = around
        return before + printable(path) + after, verdict

    def find(self, sha256: bytes, name: str) -> str | None:
        """A stored report of a file named `name` (its last part) with this content, or None."""
        base = os.fsencode(os.path.basename(name))
        with self._lock:
            if (sha256, base) in self._recent:
                return self._recent[sha256, base]
            for other, report in self._open().same_content(sha256, self.fingerprint, self.channel, self.only_run):
                if other == base:
                    return report
        return None

    def remember(self, sha256: bytes, name: str, text: str) -> None:
        """Keep the report this process made (as stored), for copies of the file that come before the index has it."""
        with self._lock:
            if len(self._recent) >= RECENT:
                self._recent.popitem(last=False)
            self._recent[sha256, os.fsencode(os.path.basename(name))] = text

    def _open(self) -> ScanIndex:
        if self._index is None or self._pid != os.getpid():  # a connection never crosses a fork
            self._index, self._pid = ScanIndex(self.location, create=False), os.getpid()
        return self._index

    def close(self) -> None:
        with self._lock:
            if self._index is not None and self._pid == os.getpid():
                self._index.close()
            self._index = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_index": None, "_pid": 0, "_recent": OrderedDict(), "_around": {}, "_lock": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _lock=threading.Lock())


@dataclass
class Examiner:
    """What a scanning process needs: the scanner, the channel, whether the reports are kept in an index, and where
    to look for content already judged."""

    scanner: Scanner
    channel: str
    keep: bool = False
    contents: IndexReader | None = None

    def examine(self, job: Job) -> Outcome:
        read_ns = time.time_ns()
        try:
            data = read_regular_file(job.path, self.scanner.config.limits.max_bytes)
        except (Refused, OSError):  # the engine says why, in its words, and reads again if it can
            report = self.scanner.scan_path(job.path, self.channel)
            report.path = job.name
            return Outcome(report, How.UNREAD)
        sha256 = hashlib.sha256(data).digest()
        if job.expect == sha256:
            return Outcome(None, How.SAME, read_ns)
        stored = self.contents.find(sha256, job.name) if self.contents is not None else None
        if stored is not None:
            return Outcome(decode(stored, job.name, len(data), sha256), How.COPY, read_ns, stored)
        content = [data]
        del data  # the engine lets the bytes go once it has extracted them
        report = self.scanner.scan_read(content, job.name, self.channel, sha256=sha256)
        if not self.keep or not keeps(report):
            return Outcome(report, How.SCANNED, read_ns)
        text = encode(report)
        if self.contents is not None:
            self.contents.remember(sha256, job.name, text)
        return Outcome(report, How.SCANNED, read_ns, text)


def keeps(report: FileReport) -> bool:
    """Whether the index keeps `report` for next time: not when another try might read the file better."""
    return not any(error.partition(":")[0] in PASSING_PROBLEMS for error in report.errors)
