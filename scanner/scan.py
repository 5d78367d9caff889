"""A scan of many files: each walked file's report reused from the scan index or made by the scanning processes (this
machine's, or a Dask cluster's: scanner.cluster), kept in the index, and handed on in the order of the walk.

Files go in chunks: a chunk is looked up in the index at once, its files to read are submitted while the chunk
before it is still being scanned, and what it read is written to the index in one transaction.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Protocol

from scanner import times
from scanner.config import IndexTable
from scanner.database import DatabaseError, shown
from scanner.engine import Scanner
from scanner.i18n import Message, msg, msg_n
from scanner.index.records import decode
from scanner.index.reuse import ContentLookup, Examiner, FileState, How, Job, Outcome, Plan, plan
from scanner.index.store import Row, Run, ScanIndex, Stored, default_index_location
from scanner.model import FileReport
from scanner.policy import Config
from scanner.walk import Entry, scan_entry

CHUNK = 256  # files looked up, submitted and written together
SAVE_SECONDS = 2.0  # the longest a report stays unsaved (a scan killed loses at most this much work)


class ScanError(Exception):
    """A scan that cannot be carried out or go on: its scanning processes cannot be had, or were lost."""


class Executor(Protocol):
    """Scanning processes: `submit` starts the jobs and returns their outcomes, in order, as they come; `ahead`
    chunks are submitted before the oldest one's reports are handed on (enough to keep every process busy)."""

    ahead: int

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
    """One file of a chunk: its report when the index has it, else its place among the chunk's jobs."""

    entry: Entry
    key: bytes = b""
    state: FileState | None = None
    stored: Stored | None = None
    report: FileReport | None = None


@dataclass
class _Chunk:
    slots: list[_Slot]
    outcomes: Iterator[Outcome]


class Sweep:
    """The reports on the walked files, reusing what `index` holds for `run` (no index: every file is scanned)."""

    def __init__(
        self, scanner: Scanner, channel: str, executor: Executor, index: ScanIndex | None = None, run: Run | None = None
    ) -> None:
        self.scanner, self.channel, self.executor = scanner, channel, executor
        self.index, self.run = index, run
        self.tally = Tally()

    def reports(self, entries: Iterable[Entry]) -> Generator[FileReport, None, None]:
        window: deque[_Chunk] = deque()
        it = iter(entries)
        while chunk := list(islice(it, CHUNK)):
            window.append(self._submit(chunk))
            if len(window) > self.executor.ahead:
                yield from self._hand_on(window.popleft())
        while window:
            yield from self._hand_on(window.popleft())

    def _submit(self, entries: list[Entry]) -> _Chunk:
        slots = [self._slot(entry) for entry in entries]
        known = self.index.known([s.key for s in slots if s.state]) if self.index is not None else {}
        jobs = []
        for slot in slots:
            if slot.entry.problem is not None:  # the walk's own finding: nothing to read
                slot.report = scan_entry(self.scanner, slot.entry, self.channel).report
                continue
            slot.stored = known.get(slot.key)
            decided = self._plan(slot)
            if decided == Plan.REUSE and slot.stored is not None:
                slot.report = decode(slot.stored.report, str(slot.entry.path), slot.stored.size, slot.stored.sha256)
                continue
            expect = slot.stored.sha256 if decided == Plan.VERIFY and slot.stored is not None else None
            jobs.append(Job(os.path.abspath(slot.entry.path), str(slot.entry.path), expect))
        return _Chunk(slots, self.executor.submit(jobs) if jobs else iter(()))

    def _slot(self, entry: Entry) -> _Slot:
        if entry.problem is not None or self.index is None:
            return _Slot(entry)
        path = str(entry.path)
        key = os.fsencode(os.path.abspath(path))
        try:
            return _Slot(entry, key, FileState.of(os.stat(path)))
        except OSError:
            return _Slot(entry, key)

    def _plan(self, slot: _Slot) -> Plan:
        run = self.run
        if run is None:
            return Plan.SCAN
        return plan(slot.state, slot.stored, run.fingerprint, run.channel, run.id if run.full else None)

    def _hand_on(self, chunk: _Chunk) -> Iterator[FileReport]:
        """The chunk's reports in order. What it read is written to the index at the end of the chunk, every
        SAVE_SECONDS within it, and when the scan is interrupted (the generator closed) after any report."""
        rows: list[Row] = []
        seen: list[bytes] = []
        saved = time.monotonic()
        try:
            for slot in chunk.slots:
                report, how = self._report(slot, chunk.outcomes, rows, seen)
                self.tally.how[how] += 1
                yield report
                if time.monotonic() - saved > SAVE_SECONDS:
                    self._save(rows, seen)
                    saved = time.monotonic()
        finally:
            self._save(rows, seen)

    def _save(self, rows: list[Row], seen: list[bytes]) -> None:
        if self.index is not None and self.run is not None and (rows or seen):
            self.index.save(self.run, rows, seen, self.tally.files, self.tally.reused)
        rows.clear()
        seen.clear()

    def _report(
        self, slot: _Slot, outcomes: Iterator[Outcome], rows: list[Row], seen: list[bytes]
    ) -> tuple[FileReport, How]:
        stored = slot.stored
        if slot.report is not None:  # the walk's finding, or reused unread
            if stored is None:
                return slot.report, How.UNREAD
            seen.append(slot.key)
            self._count_resumed(stored)
            return slot.report, How.UNCHANGED
        outcome = next(outcomes)
        if outcome.report is None:  # read, and the content the index holds
            assert stored is not None
            report = decode(stored.report, str(slot.entry.path), stored.size, stored.sha256)
            text = stored.report
            self._count_resumed(stored)
        else:
            report, text = outcome.report, outcome.stored
        if slot.state is not None and text:
            sha256 = bytes.fromhex(report.sha256)
            state = slot.state
            rows.append(Row(report.size, state.mtime_ns, state.ctime_ns, state.inode, outcome.read_ns, sha256, text,
                            path=slot.key))  # fmt: skip
        return report, outcome.how

    def _count_resumed(self, stored: Stored) -> None:
        if self.run is not None and stored.scan == self.run.id:
            self.tally.resumed += 1


class Serial:
    """Scanning in this process, one file at a time, as the outcomes are asked for."""

    ahead = 2

    def __init__(self, examiner: Examiner) -> None:
        self.examiner = examiner

    def submit(self, jobs: list[Job]) -> Iterator[Outcome]:
        return (self.examiner.examine(job) for job in jobs)

    def close(self) -> None:
        if self.examiner.contents is not None:
            self.examiner.contents.close()


_examiner: Examiner | None = None  # a scanning process's own


class Processes(Serial):
    """A pool of scanning processes on this machine, started when there are two files to read at once: a scan of one
    file, or a re-scan that finds one changed, is not worth the processes."""

    def __init__(self, examiner: Examiner, jobs: int) -> None:
        super().__init__(examiner)
        self.jobs = jobs
        self.pool: Any = None

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
            return multiprocessing.get_context("fork").Pool(self.jobs)
        # A process with threads (a caller's, a test's) cannot be forked safely: a lock another thread held stays
        # locked in the child. Fresh workers each build the scanner from the configuration (from the disk cache).
        context = multiprocessing.get_context("forkserver")
        examiner = self.examiner
        recipe = (examiner.scanner.config, examiner.channel, examiner.keep, examiner.contents)
        return context.Pool(self.jobs, initializer=_start_worker, initargs=recipe)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
        super().close()


def _start_worker(config: Config, channel: str, keep: bool, contents: ContentLookup | None) -> None:
    global _examiner
    _examiner = Examiner(Scanner(config), channel, keep, contents)


def _examine(job: Job) -> Outcome:
    assert _examiner is not None
    return _examiner.examine(job)


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
