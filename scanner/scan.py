"""A scan of many files: each walked file's report reused from the scan index or made by the scanning processes (this
machine's, or a Dask cluster's: scanner.cluster), kept in the index, and handed on in the order of the walk.

Files go in chunks: a chunk is looked up in the index at once, its files to read are submitted while the chunk
before it is still being scanned, and what it read is written to the index in one transaction.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.pool
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from scanner import times
from scanner.config import IndexTable
from scanner.database import DatabaseError, shown
from scanner.engine import Scanner
from scanner.i18n import Message, msg, msg_n
from scanner.index.records import decode
from scanner.index.reuse import Examiner, FileState, How, IndexReader, Job, Kept, Looked, Outcome, Plan
from scanner.index.store import Listing, Row, Run, ScanIndex, Stored, default_index_location
from scanner.model import FileReport
from scanner.policy import Config
from scanner.report import Told
from scanner.walk import Entry, Files, file_entry, scan_entry

CHUNK = 1024  # files looked up, submitted and written together
SAVE_SECONDS = 2.0  # the longest a report stays unsaved (a scan killed loses at most this much work)
SAVE_ROWS = 256  # the most reports that wait to be written to the index
LOOK_AHEAD = 6  # chunks looked up ahead of those whose reads are submitted: the look-ups come back through a thread


class ScanError(Exception):
    """A scan that cannot be carried out or go on: its scanning processes cannot be had, or were lost."""


class Pending(Protocol):
    """Listings being looked up."""

    def get(self) -> list[Looked]: ...


@dataclass
class Done:
    """Listings looked up in this process."""

    looked: list[Looked]

    def get(self) -> list[Looked]:
        return self.looked


class Executor(Protocol):
    """Scanning processes: `look` looks listings up in the index, `submit` starts the jobs and returns their outcomes,
    in order, as they come; `ahead` chunks are submitted before the oldest one's reports are handed on (enough to keep
    every process busy)."""

    ahead: int

    def look(self, reader: IndexReader, listings: list[Listing]) -> Pending: ...

    def submit(self, jobs: list[Job]) -> Iterator[Outcome]: ...

    def close(self) -> None: ...


@dataclass
class Tally:
    """How each file's report came about, for the closing line of a scan."""

    how: Counter[How] = field(default_factory=Counter)
    resumed: int = 0  # reports reused that the interrupted scan being resumed had made or seen

    @property
    def files(self) -> int:
        return sum(self.how.values())

    @property
    def reused(self) -> int:
        return self.how[How.UNCHANGED] + self.how[How.SAME] + self.how[How.COPY]


@dataclass(slots=True)
class _Slot:
    """One file the client hands on itself: its key in the index, its metadata and stored report as a look-up found
    them, and its report once reused (or the walk's own finding)."""

    entry: Entry
    folder: bytes = b""
    name: bytes = b""
    state: FileState | None = None
    kept: Kept | None = None
    resumed: bool = False  # its report would be one the interrupted scan being resumed made or saw
    report: FileReport | None = None


@dataclass(slots=True)
class _Listed:
    """Files of a chunk looked up together: a listing of a folder the walk listed, or of a path named on its own."""

    listing: Listing
    named: Entry | None = None  # the entry of the path named on its own

    def entry(self, at: int) -> Entry:
        return self.named or file_entry(self.listing.shown, self.listing.names[at])


@dataclass
class _Chunk:
    """Files handed on together: looked up in the index at once (by folder), then their reads submitted. Before the
    look-up, what the walk found (files of folders in listings); after it, what to hand on, in order."""

    parts: list[_Slot | _Listed] = field(default_factory=list)
    size: int = 0  # files and entries
    listed: list[bytes] = field(default_factory=list)  # folders whose last files these are
    looking: Pending | None = None
    handed: list[_Slot | Told] = field(default_factory=list)
    outcomes: Iterator[Outcome] = field(default_factory=lambda: iter(()))
    gone: list[tuple[bytes, bytes]] = field(default_factory=list)

    @property
    def listings(self) -> list[Listing]:
        return [part.listing for part in self.parts if isinstance(part, _Listed)]


class Sweep:
    """The reports on the walked files, reusing what `index` holds for `run` (no index: every file is scanned). The
    look-ups run in the scanning processes, LOOK_AHEAD chunks ahead of the reads, through `reader`; reused reports
    come as the reader rendered them (Told), a run at a time, where the reader has a Rendering."""

    def __init__(
        self,
        scanner: Scanner,
        channel: str,
        executor: Executor,
        index: ScanIndex | None = None,
        run: Run | None = None,
        reader: IndexReader | None = None,
    ) -> None:
        self.scanner, self.channel, self.executor = scanner, channel, executor
        self.index, self.run, self.reader = index, run, reader
        self.tally = Tally()
        self._folder = ("", b"")  # the last folder's path as walked, and as the index keys it
        # What is yet to be written to the index: rows of files read, files gone, folders listed whole.
        self._rows: list[Row] = []
        self._gone: list[tuple[bytes, bytes]] = []
        self._listed: list[bytes] = []
        self._saved = time.monotonic()

    def reports(self, walked: Iterable[Entry | Files]) -> Generator[FileReport | Told, None, None]:
        looking: deque[_Chunk] = deque()  # chunks being looked up, LOOK_AHEAD of them before their files are submitted
        window: deque[_Chunk] = deque()
        for chunk in self._chunks(walked):
            if self.reader is not None:
                chunk.looking = self.executor.look(self.reader, chunk.listings)
            looking.append(chunk)
            if len(looking) > LOOK_AHEAD:
                window.append(self._submit(looking.popleft()))
            while len(window) > self.executor.ahead:
                yield from self._hand_on(window.popleft())
        while looking or window:
            if looking:
                window.append(self._submit(looking.popleft()))
            if len(window) > self.executor.ahead or not looking:
                yield from self._hand_on(window.popleft())
        self._save()

    def _chunks(self, walked: Iterable[Entry | Files]) -> Iterator[_Chunk]:
        """The walk in chunks of CHUNK, each folder's files in listings: bounded by the names where the folder's part
        in the chunk before ends and its part in the next begins, and by the entries the walk found a problem with
        (each handed on by itself: its name is in the range of the listing after it)."""
        chunk = _Chunk()
        folder, key, after = "", b"", None  # the folder being listed, its key, the last name of its listing before
        for item in walked:
            if isinstance(item, Entry):
                chunk.parts.append(self._named(item))
                chunk.size += 1
                if chunk.size == CHUNK:
                    yield chunk
                    chunk = _Chunk()
                continue
            if item.folder != folder:
                folder, key, after = item.folder, os.fsencode(os.path.abspath(item.folder)), None
            start, ending = 0, False
            while not ending:
                piece = item.names[start : start + CHUNK - chunk.size]
                start += len(piece)
                ending = start == len(item.names)
                upto = None if ending and item.last else piece[-1]
                if self.reader is None:  # nothing to look up
                    chunk.parts += [_Slot(file_entry(folder, name)) for name in piece]
                else:
                    chunk.parts.append(_Listed(Listing(key, piece, True, after, upto, folder)))
                    chunk.listed += [key] if upto is None else []
                after = upto
                chunk.size += len(piece)
                if chunk.size == CHUNK:
                    yield chunk
                    chunk = _Chunk()
        if chunk.parts:
            yield chunk

    def _named(self, entry: Entry) -> _Slot | _Listed:
        """A path given on its own (looked up by its name alone), or any entry with nothing to look up."""
        if self.reader is None or entry.problem is not None:
            return _Slot(entry)
        folder, name = (os.fsencode(part) for part in os.path.split(os.path.abspath(entry.shown)))
        return _Listed(Listing(folder, [name]), entry)

    def _submit(self, chunk: _Chunk) -> _Chunk:
        """The chunk's look-up taken in (what it found in the order to hand it on, the reused reports decoded) and
        its files to read submitted."""
        found = iter(chunk.looking.get() if chunk.looking is not None else ())
        run = self.run.id if self.run is not None else 0
        for part in chunk.parts:
            if isinstance(part, _Slot):
                chunk.handed.append(part)
                continue
            listing = part.listing
            looked = next(found)
            chunk.gone += [(listing.folder, name) for name in looked.gone]
            listed_here = looked.listed_by == run
            for file in looked.files:
                if isinstance(file, Told):
                    chunk.handed.append(file)
                    continue
                at, decided, kept, state = file
                slot = _Slot(part.entry(at), listing.folder, listing.names[at], state, kept)
                if kept is not None:
                    slot.resumed = listed_here or kept[3] == run
                    if decided is Plan.REUSE:
                        slot.report = decode(kept[0], slot.entry.shown, kept[1], kept[2])
                chunk.handed.append(slot)
        jobs = []
        for item in chunk.handed:
            if isinstance(item, Told) or item.report is not None:
                continue
            if item.entry.problem is not None:  # the walk's own finding: nothing to read
                item.report = scan_entry(self.scanner, item.entry, self.channel).report
            else:
                kept = item.kept
                jobs.append(Job(os.path.abspath(item.entry.shown), item.entry.shown, kept[2] if kept else None))
        chunk.outcomes = self.executor.submit(jobs) if jobs else iter(())
        return chunk

    def _hand_on(self, chunk: _Chunk) -> Iterator[FileReport | Told]:
        """The chunk's reports in order, those rendered where they were looked up a run of them at a time. What was
        read is written to the index in one transaction once SAVE_ROWS rows wait (a re-scan hands on a chunk in
        milliseconds, and reads a few of its files), every SAVE_SECONDS, at the end of the sweep, and when the scan
        is interrupted (the generator closed) after any report; the folders a chunk ends are marked listed once all
        their reports are handed on."""
        self._gone += chunk.gone
        done = False
        unchanged = resumed = 0  # counted here, and into the tally at the end: a re-scan's millions go this way
        try:
            for slot in chunk.handed:
                if isinstance(slot, Told):  # reused unread, rendered
                    unchanged += slot.files
                    resumed += slot.resumed
                    yield slot
                    continue
                if slot.report is not None and slot.kept is not None:  # reused unread
                    unchanged += 1
                    resumed += slot.resumed
                    yield slot.report
                else:
                    report, how = self._report(slot, chunk.outcomes)
                    self.tally.how[how] += 1
                    yield report
                if len(self._rows) >= SAVE_ROWS or time.monotonic() - self._saved > SAVE_SECONDS:
                    self._save()
            self._listed += chunk.listed
            done = True
        finally:
            self.tally.how[How.UNCHANGED] += unchanged
            self.tally.resumed += resumed
            if not done:
                self._save()

    def _save(self) -> None:
        if self.index is not None and self.run is not None and (self._rows or self._gone or self._listed):
            self.index.save(self.run, self._rows, self._gone, self._listed, self.tally.files, self.tally.reused)
        self._rows, self._gone, self._listed = [], [], []
        self._saved = time.monotonic()

    def _report(self, slot: _Slot, outcomes: Iterator[Outcome]) -> tuple[FileReport, How]:
        kept = slot.kept
        if slot.report is not None:  # the walk's finding
            return slot.report, How.UNREAD
        outcome = next(outcomes)
        if outcome.report is None:  # read, and the content the index holds
            assert kept is not None
            report = decode(kept[0], slot.entry.shown, kept[1], kept[2])
            text = kept[0]
            self.tally.resumed += slot.resumed
        else:
            report, text = outcome.report, outcome.stored
        if slot.state is not None and text:
            sha256, state = bytes.fromhex(report.sha256), slot.state
            kept_now = Stored(report.size, state.mtime_ns, state.ctime_ns, state.inode, outcome.read_ns, sha256, text)
            self._rows.append(Row(slot.folder, slot.name, kept_now))
        return report, outcome.how


class Serial:
    """Scanning in this process, one file at a time, as the outcomes are asked for."""

    ahead = 2

    def __init__(self, examiner: Examiner) -> None:
        self.examiner = examiner

    def look(self, reader: IndexReader, listings: list[Listing]) -> Pending:
        return Done(reader.look(listings))

    def submit(self, jobs: list[Job]) -> Iterator[Outcome]:
        return (self.examiner.examine(job) for job in jobs)

    def close(self) -> None:
        if self.examiner.contents is not None:
            self.examiner.contents.close()


_examiner: Examiner | None = None  # a scanning process's own


class Processes(Serial):
    """A pool of scanning processes on this machine, started when there are two files to look up or read at once: a
    scan of one file, or a re-scan that finds one changed, is not worth the processes. The look-ups run there too (a
    stat and a row a file: in one process, the metadata of a re-scan's millions of unchanged files sets its pace)."""

    def __init__(self, examiner: Examiner, jobs: int) -> None:
        super().__init__(examiner)
        self.jobs = jobs
        self.pool: Any = None

    def look(self, reader: IndexReader, listings: list[Listing]) -> Pending:
        few = self.pool is None and sum(len(listing.names) for listing in listings) < 2
        if few or reader is not self.examiner.contents:
            return super().look(reader, listings)
        self.pool = self.pool or self._start()
        result: Pending = self.pool.apply_async(_look, (listings,))
        return result

    def submit(self, jobs: list[Job]) -> Iterator[Outcome]:
        if self.pool is None and len(jobs) < 2:
            return super().submit(jobs)
        self.pool = self.pool or self._start()
        return self.pool.imap(_examine, jobs, chunksize=4)

    def _start(self) -> Any:
        global _examiner
        if threading.active_count() == 1:
            # Forked workers inherit the compiled automaton instead of each loading it again.
            _examiner = self.examiner
            return _Pool(self.jobs, context=multiprocessing.get_context("fork"))
        # A process with threads (a caller's, a test's) cannot be forked safely: a lock another thread held stays
        # locked in the child. Fresh workers each build the scanner from the configuration (from the disk cache).
        context = multiprocessing.get_context("forkserver")
        examiner = self.examiner
        recipe = (examiner.scanner.config, examiner.channel, examiner.keep, examiner.contents)
        return _Pool(self.jobs, initializer=_start_worker, initargs=recipe, context=context)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
        super().close()


class _Pool(multiprocessing.pool.Pool):
    """A process pool whose thread that keeps the processes running wakes when one of them ends or the pool is told
    to change, not also whenever a result waits to be read: until the thread that reads results had read it, that
    thread woke again and again (0.48 s of CPU in a 2.8 s re-scan, the client's other threads kept waiting for the
    interpreter lock). The processes' sentinels alone tell it a process ended, as they do for ThreadPool."""

    def _get_sentinels(self) -> list[Any]:
        return [self._change_notifier._reader]  # type: ignore[attr-defined]


def _start_worker(config: Config, channel: str, keep: bool, contents: IndexReader | None) -> None:
    global _examiner
    _examiner = Examiner(Scanner(config), channel, keep, contents)


def _examine(job: Job) -> Outcome:
    assert _examiner is not None
    return _examiner.examine(job)


def _look(listings: list[Listing]) -> list[Looked]:
    assert _examiner is not None and _examiner.contents is not None
    return _examiner.contents.look(listings)


def open_index(config: Config, given: str | None) -> tuple[ScanIndex | None, Message | None]:
    """The scan index --index or [index] names, or the default one; and a warning when the default one cannot be
    opened (then the scan goes on without it: a named index that cannot be opened is an error)."""
    table = config.table(IndexTable)
    location = default_index_location(table, given)
    try:
        return ScanIndex(location), None
    except DatabaseError as exc:
        if given or table.url or table.path:
            raise
        return None, msg(
            "The scan index {location} cannot be used ({error}); every file is scanned and nothing is kept.",
            location=shown(location),
            error=str(exc),
        )


def start_run(
    index: ScanIndex, paths: Sequence[Path], rules: str, channel: str, rescan: bool, resume: bool
) -> tuple[Run, Message | None]:
    """The run of this scan: the interrupted one of the same paths and rules with `resume`, else a new one; and
    what to say about it."""
    roots = [os.path.abspath(path) for path in paths]
    if resume:
        interrupted = index.interrupted(roots, rules, channel)
        if interrupted is not None:
            resuming = msg_n(
                "Resuming the scan of these paths started {started}, interrupted after {count} file.",
                "Resuming the scan of these paths started {started}, interrupted after {count} files.",
                interrupted.files,
                started=times.shown(interrupted.started),
            )
            return interrupted, resuming
    nothing = msg("No interrupted scan of these paths under these rules: scanning them, reusing what the index holds.")
    return index.start(roots, rules, channel, rescan), nothing if resume else None


def closing_line(tally: Tally, location: str | Path) -> Message:
    """How many reports the index gave, and how."""
    line = msg_n(
        "{reused} of {count} report reused from the scan index {location} ({unchanged} files unchanged, {same} read "
        "and found unchanged, {copies} copies of files already scanned); {scanned} files scanned.",
        "{reused} of {count} reports reused from the scan index {location} ({unchanged} files unchanged, {same} read "
        "and found unchanged, {copies} copies of files already scanned); {scanned} files scanned.",
        tally.files,
        reused=tally.reused,
        location=shown(location),
        unchanged=tally.how[How.UNCHANGED],
        same=tally.how[How.SAME],
        copies=tally.how[How.COPY],
        scanned=tally.how[How.SCANNED],
    )
    if not tally.resumed:
        return line
    resumed = msg(
        "{resumed} of the reused reports were made or checked by the interrupted scan.", resumed=tally.resumed
    )
    return msg("{line} {more}", line=line, more=resumed)
