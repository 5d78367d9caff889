"""The watcher: scans what the tracker hands out on a bounded pool of processes (or threads), and delivers each file
by its verdict: released, held for review or quarantined. The mover does the moving, so nothing is lost or sent twice.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import select
import signal
import sqlite3
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool as BrokenExecutor
from dataclasses import dataclass, field
from typing import Any

from scanner import times
from scanner.audit import Decision
from scanner.engine import Scanner
from scanner.extract.base import Problem
from scanner.i18n import Message, msg
from scanner.model import FileReport, Finding
from scanner.outbox.handles import CHUNK, ContentChanged
from scanner.outbox.layout import ACTIONS, ROUTES, TEMPORARY, Outbox, display_name
from scanner.outbox.mover import Mover, Placed
from scanner.outbox.tracking import TICK, Candidate, Tracker, observe
from scanner.policy import Config
from scanner.reloading import Rules, build, stop_observer
from scanner.titles import os_error, verdict_word

log = logging.getLogger("baomi.watch")

_RETRY = (5.0, 30.0, 120.0, 600.0)  # delays before trying again a file that could not be moved
_SYNC_EVERY = 100  # moves between flushes of the destination folders to disk
_BATCH = 32  # deliveries whose copies are synced to disk together (one journal commit instead of one each)


@dataclass
class Settings:
    settle: float = 2.0  # seconds a file's size and time must stay unchanged when no close-after-write was seen
    jobs: int = field(default_factory=lambda: os.cpu_count() or 2)
    temporary: tuple[str, ...] = TEMPORARY
    # Seconds between walks of the outboxes: for events the kernel dropped (a queue overflow), for network file
    # systems whose remote writers inotify cannot see, and instead of events when inotify cannot be had at all.
    rescan: float = 60.0
    processes: bool = False  # scan in processes (the command's default) rather than threads of this process


class Watcher:
    """Scans what the tracker hands out on a bounded pool (of processes, or threads) and delivers each file by its
    verdict, one at a time, in this thread. At most 2 × jobs files are in flight, so memory stays bounded however many
    files wait."""

    def __init__(self, rules: Rules, outboxes: list[Outbox], mover: Mover, settings: Settings) -> None:
        self.rules = rules
        self.outboxes = outboxes
        self.mover = mover
        self.settings = settings
        self.tracker = Tracker(settings.settle, settings.temporary)
        self.stopping = False
        self.once = False
        self.failures = 0
        self.delivered = 0
        # Deliveries placed and not yet completed (their copies are synced together), and since when the first waits.
        self.placed: list[tuple[Candidate, FileReport, Placed]] = []
        self.placed_since = 0.0
        self._pools: list[Executor] = []  # the pool in use last; before it, those of earlier rules finishing
        self._pool_rules: Scanner | None = None  # the rules the scanning processes of the pool in use were given

    def stop(self) -> None:
        """Finish the files in hand, start no others."""
        self.stopping = True
        self.tracker.wake()

    def run(self, once: bool = False) -> int:
        """Watch until stopped; with `once`, deliver what is there and return (1 if a file could not be moved)."""
        self.once = once
        self._recover()
        observer = None if once else self._observe()  # before the walk: a file dropped meanwhile is not missed
        self._walk()
        try:
            self._loop()
        finally:
            if observer is not None:
                stop_observer(observer, timeout=5)
            self.mover.sync()
        for path in self.tracker.waiting() if once else ():
            log.warning(msg("left {file} in the outbox: it is still being written", file=display_name(path)))
        return 1 if once and self.failures else 0

    def _loop(self) -> None:
        pool = self._pool()
        try:
            self._run_pool(pool)
        finally:
            for each in self._pools:
                each.shutdown(wait=True, cancel_futures=True)

    def _pool(self) -> Executor:
        """Scanning processes (each with its own Scanner: text scans are CPU-bound Python, which threads cannot run
        side by side), or threads in this process (for tests that hook the scanner)."""
        if self.settings.processes:
            context = multiprocessing.get_context("forkserver")  # not fork: this process runs watchdog's threads
            self._pool_rules = self.rules.scanner
            pool: Executor = ProcessPoolExecutor(
                self.settings.jobs,
                mp_context=context,
                initializer=_start_worker,
                initargs=(self._pool_rules.config, os.getpid()),
            )
        else:
            pool = ThreadPoolExecutor(self.settings.jobs, thread_name_prefix="baomi-scan")
        self._pools.append(pool)
        return pool

    def _pool_for_the_rules_in_force(self, pool: Executor) -> Executor:
        """After a reload, scanning processes with the new rules; those of the old ones finish the files they have
        (threads take the rules in force with each file)."""
        if not self.settings.processes or self.rules.scanner is self._pool_rules:
            return pool
        pool.shutdown(wait=False)  # what it was given it still scans
        return self._pool()

    def _submit(self, pool: Executor, candidate: Candidate) -> Future[FileReport | None]:
        """Scan the file the tracker holds open: a scanning process reads that very file through this process's
        descriptor, so no name or folder changed since can make it read another."""
        held = candidate.held
        assert held is not None
        name = display_name(held.rel)
        channel = candidate.outbox.channel
        if held.fd is None:  # nobody may read it: it goes to quarantine as it is, by the policy's word
            done: Future[FileReport | None] = Future()
            done.set_result(self.rules.scanner.unscanned(name, Problem("unreadable", "permission denied"), channel))
            return done
        if self.settings.processes:
            return pool.submit(_scan_in_worker, held.proc_path(), name, channel)
        return pool.submit(scan_file, self.rules.scanner, held.proc_path(), name, channel)

    def _run_pool(self, pool: Executor) -> None:
        in_flight: dict[Future[FileReport | None], Candidate] = {}
        since_sync = 0
        last_walk = last_progress = time.monotonic()
        while True:
            if not self.stopping:
                pool = self._pool_for_the_rules_in_force(pool)
                taken = self.tracker.take(2 * self.settings.jobs - len(in_flight))
                for index, candidate in enumerate(taken):
                    try:
                        in_flight[self._submit(pool, candidate)] = candidate
                    except BrokenExecutor:  # a scanning process was killed (the OOM killer): start afresh
                        log.error(msg("a scanning process died; starting new ones"))
                        for left in taken[index:]:
                            self.tracker.again(left, _RETRY[0])
                        pool.shutdown(wait=False, cancel_futures=True)
                        pool = self._pool()
                        break
            if in_flight:
                finished, _ = wait(in_flight, timeout=TICK, return_when=FIRST_COMPLETED)
                for future in finished:
                    self._settle_one(in_flight.pop(future), future)
                    since_sync += 1
                last_progress = time.monotonic()
            elif self.stopping or (self.once and self._nothing_more(last_progress)):
                self._complete()
                return
            else:
                self.tracker.wait(TICK)
            if self.placed and (
                not in_flight or len(self.placed) >= _BATCH or time.monotonic() - self.placed_since >= TICK
            ):
                self._complete()
            if since_sync and ((not in_flight and not self.tracker.due) or since_sync >= _SYNC_EVERY):
                self.mover.sync()
                since_sync = 0
            if not self.once and time.monotonic() - last_walk > self.settings.rescan:
                self._walk()
                self._complete()  # nothing of ours may look interrupted to the recovery
                self._recover()  # decisions whose recording failed (a locked or full disk) are recorded now
                last_walk = time.monotonic()

    def _nothing_more(self, last_progress: float) -> bool:
        """For --once: nothing waits, or what waits has not settled for a while (a writer still at work)."""
        return self.tracker.idle() or time.monotonic() - last_progress > self.settings.settle + 4 * TICK

    def _settle_one(self, candidate: Candidate, future: Future[FileReport | None]) -> None:
        """Deliver one scanned file; whatever goes wrong is a log line and a later try, never the watcher's end."""
        try:
            self._deliver(candidate, future.result())
        except Exception as exc:
            log.exception(msg("unexpected trouble with {file}", file=display_name(candidate.path)))
            self._failed(candidate, f"{type(exc).__name__}: {exc}")

    def _recover(self) -> None:
        try:
            lines = self.mover.recover()
        except (OSError, sqlite3.Error) as exc:
            log.error(msg("cannot finish the moves a stopped watcher left yet: {error}", error=str(exc)))
            return
        for line in lines:
            log.warning(line)

    def _observe(self) -> Any:
        """A watchdog observer on every outbox; without one (inotify's limits reached), walks every `settle`."""
        try:
            return observe(self.tracker, self.outboxes)
        except OSError as exc:
            self.settings.rescan = max(1.0, self.settings.settle)
            unwatched = msg(
                "cannot watch the outboxes for events ({error}; see fs.inotify.max_user_watches): looking every "
                "{seconds} s",
                error=os_error(exc),
                seconds=f"{self.settings.rescan:g}",
            )
            log.error(unwatched)
            return None

    def _walk(self) -> None:
        for outbox in self.outboxes:
            self.tracker.note_folder(outbox.path, outbox, closed=False, event=False)

    def _deliver(self, candidate: Candidate, report: FileReport | None) -> None:
        held = candidate.held
        assert held is not None
        shown = display_name(candidate.path)
        if report is None:
            self._failed(candidate, msg("the scanning process could not read it"))
            return
        if not held.unchanged():
            log.info(msg("{file} changed while it was scanned; scanning it again", file=shown))
            self.tracker.again(candidate)
            return
        outbox = candidate.outbox
        route = ROUTES[report.verdict]
        decision = Decision.of(report, outbox.channel, display_name(outbox.path), ACTIONS[route])
        sidecar = None if route == "released" else verdict_record(report, outbox, route)
        try:
            placed = self.mover.place(
                held, outbox.folder(route), held.rel, decision, sidecar, private=route == "quarantine"
            )
        except ContentChanged:
            log.info(msg("{file} changed or was replaced since it was scanned; scanning it again", file=shown))
            self.tracker.again(candidate)
            return
        except FileNotFoundError:
            log.warning(msg("{file} vanished before it could be delivered", file=shown))
            self.tracker.done(candidate)
            return
        except OSError as exc:
            folder = display_name(outbox.folder(route))
            self._failed(candidate, msg("cannot deliver it to {folder}: {error}", folder=folder, error=os_error(exc)))
            return
        if not self.placed:
            self.placed_since = time.monotonic()
        self.placed.append((candidate, report, placed))

    def _complete(self) -> None:
        """Let the deliveries placed since the last call go: their copies are synced together, then their originals
        leave the outbox and their decisions are recorded."""
        if not self.placed:
            return
        batch, self.placed = self.placed, []
        outcomes = self.mover.complete([placed for _, _, placed in batch])
        for (candidate, report, placed), stays in zip(batch, outcomes, strict=True):
            if stays is None:
                self._failed(candidate, msg("its copy could not be written to disk"))
                continue
            self.delivered += 1
            moved = {"verdict": verdict_word(report.verdict), "file": display_name(candidate.path)}
            moved["target"] = display_name(placed.target)
            rules = ", ".join(report.rules)
            log.info(
                msg("{verdict} {file} → {target} ({rules})", rules=rules, **moved)
                if rules
                else msg("{verdict} {file} → {target}", **moved)
            )
            if stays:  # written to after its copy (through another link, unseen by inotify): scanned again
                self.tracker.again(candidate)
            else:
                self.tracker.done(candidate)

    def _failed(self, candidate: Candidate, why: Message | str) -> None:
        self.failures += 1
        if self.once:
            log.error(msg("{file} stays in the outbox: {why}", file=display_name(candidate.path), why=why))
            self.tracker.done(candidate)
            return
        delay = _RETRY[min(candidate.failures, len(_RETRY) - 1)]
        candidate.failures += 1
        again = msg(
            "{file} stays in the outbox: {why}; trying again in {seconds} s",
            file=display_name(candidate.path),
            why=why,
            seconds=f"{delay:g}",
        )
        log.error(again)
        self.tracker.again(candidate, delay)


def verdict_record(report: FileReport, outbox: Outbox, route: str) -> dict[str, Any]:
    """The sidecar `NAME.verdict.json` beside a held file: the report (its contexts are short already) and where the
    file came from. Times are stored in UTC (`time`) and shown in the local zone with the zone named (`time_shown`);
    each finding keeps its reason as data (`reason`), so `baomi review show` says it in the reviewer's language."""
    now = times.stored()
    return {
        "verdict": str(report.verdict),
        "action": str(ACTIONS[route]),
        "file": report.path,
        "outbox": display_name(outbox.path),
        "channel": outbox.channel,
        "time": now,
        "time_shown": times.shown(now),
        "size": report.size,
        "sha256": report.sha256,
        "format": report.format,
        "rules": report.rules,
        "findings": [_with_reason(f) for f in report.findings],
        "errors": report.errors,
        "rule_set": report.rule_set,
    }


def _with_reason(finding: Finding) -> dict[str, Any]:
    kept = finding.to_dict()
    if finding.reason is not None:
        kept["reason"] = finding.reason.to_dict()
    return kept


def scan_file(scanner: Scanner, source: str, name: str, channel: str) -> FileReport | None:
    """The report of the file `source` names (a /proc/PID/fd/N of the watcher's: the file it holds open), called
    `name`; None if it cannot be opened there any more."""
    try:
        fd = os.open(source, os.O_RDONLY | os.O_CLOEXEC)  # following that one link is the point: it is our own fd
    except FileNotFoundError:
        return None
    except OSError as exc:
        return scanner.unscanned(name, Problem("unreadable", f"cannot read the file: {exc.strerror}"), channel)
    try:
        data, whole = _read(fd, scanner.config.limits.max_bytes + 1)
    finally:
        os.close(fd)
    report = scanner.scan_bytes(data, name, channel)
    if whole is not None:  # too big: the engine blocked it by its beginning; the record names the whole file
        report.size, report.sha256 = whole
    return report


_worker_scanner: Scanner | None = None


def _start_worker(config: Config, watcher: int) -> None:
    """In each scanning process: the watcher decides when to stop; its scanner is built once."""
    global _worker_scanner
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(watcher,), name="baomi-exit-with-watcher", daemon=True).start()
    _worker_scanner = build(lambda: config)  # loads the dictionaries now, not on a user's file


def _exit_with(watcher: int) -> None:
    """A watcher killed with SIGKILL cannot tell its scanning processes to stop, and their queue's pipe never reaches
    end of file (each holds both ends): each process waits for the watcher's end itself."""
    try:
        pidfd = os.pidfd_open(watcher)
    except (OSError, AttributeError):  # gone already, or no pidfds (a kernel before 5.3, not Linux)
        while True:
            try:
                os.kill(watcher, 0)
            except ProcessLookupError:
                break
            time.sleep(1.0)
    else:
        select.select([pidfd], [], [])
    os._exit(0)


def _scan_in_worker(source: str, name: str, channel: str) -> FileReport | None:
    assert _worker_scanner is not None
    return scan_file(_worker_scanner, source, name, channel)


def _read(fd: int, limit: int) -> tuple[bytes, tuple[int, str] | None]:
    """Up to `limit` bytes of the file, read a chunk at a time; when there is more, also the whole file's size and
    SHA-256 (so a file of any size costs `limit` bytes of memory at most)."""
    chunks: list[bytes] = []
    size = 0
    while size < limit and (chunk := os.read(fd, min(CHUNK, limit - size))):
        chunks.append(chunk)
        size += len(chunk)
    data = b"".join(chunks)
    if size < limit:
        return data, None
    digest = hashlib.sha256(data)
    while chunk := os.read(fd, CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return data, (size, digest.hexdigest())
