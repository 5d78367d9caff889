"""`baomi watch`: an outbox gateway. A file dropped into an outbox is scanned once it is completely written, then
released, held for review or quarantined; scanner.outbox does the moving, so nothing is lost, overwritten or sent twice.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import fnmatch
import hashlib
import logging
import multiprocessing
import os
import select
import signal
import sqlite3
import stat
import threading
import time
from collections import deque
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool as BrokenExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from watchdog.events import (
    DirCreatedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from scanner.audit import AuditLog, Decision, default_audit_path
from scanner.cli import UsageError, build_scanner
from scanner.engine import Scanner
from scanner.model import FileReport
from scanner.outbox import (
    PRIVATE_MODE,
    ROUTES,
    ContentChanged,
    Identity,
    Journal,
    Mover,
    Outbox,
    OutboxError,
    display_name,
    fingerprint,
    identity_of,
    load_outboxes,
    make_folder,
)
from scanner.policy import Config

log = logging.getLogger("baomi.watch")

# Names editors, browsers and copy tools write under before renaming to the final name (or that are lock files).
TEMPORARY = (
    "~$*",  # Office owner files
    "~*.tmp",
    "*.tmp",
    "*.temp",
    "*.part",
    "*.partial",
    "*.crdownload",  # Chrome
    "*.download",  # Safari
    "*.filepart",  # WinSCP
    "*.!ut",
    ".*.sw?",  # vim swap files
    "*.swp",
    "4913",  # vim's probe file
    ".~lock.*#",  # LibreOffice locks
    ".#*",  # Emacs locks
    "#*#",  # Emacs auto-saves
    ".goutputstream-*",  # GLib atomic saves
    ".fuse_hidden*",
    ".nfs*",
    ".syncthing.*",
    "*.baomi-part",  # our own copies in flight
)
_TICK = 0.25  # seconds between looks at files waiting to settle
_RETRY = (5.0, 30.0, 120.0, 600.0)  # delays before trying again a file that could not be moved
_SYNC_EVERY = 100  # moves between flushes of the destination folders to disk


def is_temporary(name: str, patterns: Iterable[str] = TEMPORARY) -> bool:
    lowered = name.lower()
    return any(fnmatch.fnmatchcase(lowered, p.lower()) for p in patterns)


def someone_writing(path: Path) -> bool | None:
    """Whether another process has `path` open for writing: a read lease is refused exactly then. None when the
    kernel cannot say (a file we do not own, a network file system): the stability check alone decides."""
    set_lease = getattr(fcntl, "F_SETLEASE", None)  # Linux only
    if set_lease is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        fcntl.fcntl(fd, set_lease, fcntl.F_RDLCK)
    except OSError as exc:
        return True if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK) else None
    else:
        fcntl.fcntl(fd, set_lease, fcntl.F_UNLCK)
        return False
    finally:
        os.close(fd)


@dataclass
class Settings:
    settle: float = 2.0  # seconds a file's size and time must stay unchanged when no close-after-write was seen
    jobs: int = field(default_factory=lambda: os.cpu_count() or 2)
    temporary: tuple[str, ...] = TEMPORARY
    # Seconds between walks of the outboxes: for events the kernel dropped (a queue overflow), for network file
    # systems whose remote writers inotify cannot see, and instead of events when inotify cannot be had at all.
    rescan: float = 60.0
    processes: bool = False  # scan in processes (the command's default) rather than threads of this process


@dataclass
class Candidate:
    """A file seen in an outbox and not yet delivered."""

    path: Path
    outbox: Outbox
    closed: bool = False  # a close-after-write or a rename into place says its writer is done
    signature: tuple[int, int] | None = None  # (size, mtime) at the last look
    changed: float = 0.0  # monotonic time of the last change seen
    retry_at: float = 0.0
    failures: int = 0
    queued: bool = False  # in the tracker's due queue


class Tracker:
    """Files seen in the outboxes, and which of them are completely written. Fed by watchdog's thread and by walks,
    read by the watcher's loop; a file is handed out once at a time."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lock = threading.Condition()
        self.pending: dict[Path, Candidate] = {}
        self.due: deque[Path] = deque()  # believed ready: closed, or found stable
        self.in_flight: set[Path] = set()
        self.last_tick = 0.0
        self.left_alone: set[tuple[Path, int]] = set()  # links, pipes and devices already logged

    def note(self, path: Path, outbox: Outbox, closed: bool, event: bool = True) -> None:
        """A file was written, closed or moved in (`event`), or was found by a walk."""
        if is_temporary(path.name, self.settings.temporary):
            return
        with self.lock:
            candidate = self.pending.get(path)
            if candidate is None:
                candidate = self.pending[path] = Candidate(path, outbox, changed=time.monotonic())
            elif event:
                candidate.changed = time.monotonic()
            if closed:
                candidate.closed = True
                self._queue(candidate)

    def note_folder(self, folder: Path, outbox: Outbox, closed: bool, event: bool = True) -> None:
        """A folder dropped in (or created, or walked): each file below it is a candidate of its own."""
        for root, dirs, names in os.walk(folder):
            dirs.sort()
            for name in sorted(names):
                self.note(Path(root) / name, outbox, closed, event)

    def _queue(self, candidate: Candidate) -> None:
        if not candidate.queued:
            candidate.queued = True
            self.due.append(candidate.path)
            self.lock.notify_all()

    def forget(self, path: Path) -> None:
        with self.lock:
            self.pending.pop(path, None)

    def take(self, limit: int) -> list[Candidate]:
        """Up to `limit` files that are completely written, marked in flight."""
        now = time.monotonic()
        if now - self.last_tick >= _TICK:
            self.last_tick = now
            self._look_at_waiting(now)
        taken: list[Candidate] = []
        while len(taken) < limit:
            with self.lock:
                if not self.due:
                    break
                path = self.due.popleft()
                candidate = self.pending.get(path)
                if candidate is None:
                    continue
                candidate.queued = False
                if path in self.in_flight:  # written again while being scanned: looked at again once settled
                    continue
            if self._ready(candidate):
                with self.lock:
                    if self.pending.get(path) is candidate:
                        del self.pending[path]
                        self.in_flight.add(path)
                        taken.append(candidate)
        return taken

    def done(self, candidate: Candidate) -> None:
        with self.lock:
            self.in_flight.discard(candidate.path)

    def again(self, candidate: Candidate, delay: float = 0.0) -> None:
        """Back to waiting: changed since its scan (delay 0: wait to settle again) or failed (try again later)."""
        with self.lock:
            self.in_flight.discard(candidate.path)
            candidate.closed = False
            candidate.changed = time.monotonic()
            candidate.retry_at = time.monotonic() + delay
            self.pending.setdefault(candidate.path, candidate)

    def idle(self) -> bool:
        with self.lock:
            return not self.pending and not self.in_flight

    def waiting(self) -> list[Path]:
        with self.lock:
            return sorted(self.pending)

    def wait(self, timeout: float) -> None:
        with self.lock:
            if not self.due:
                self.lock.wait(timeout)

    def wake(self) -> None:
        with self.lock:
            self.lock.notify_all()

    def _look_at_waiting(self, now: float) -> None:
        """The stability fallback: files whose size and time have not moved for `settle` seconds become due."""
        with self.lock:
            waiting = [c for c in self.pending.values() if c.retry_at <= now and not c.queued]
        wall = time.time()
        for candidate in waiting:
            try:
                st = os.lstat(candidate.path)
            except FileNotFoundError:
                self.forget(candidate.path)
                continue
            except OSError:
                continue
            signature = (st.st_size, st.st_mtime_ns)
            if signature != candidate.signature:
                first_look = candidate.signature is None
                candidate.signature = signature
                # On a first look, an old modification time counts as stable already (files there at start).
                age = max(0.0, wall - st.st_mtime) if first_look else 0.0
                candidate.changed = min(candidate.changed, now - age) if first_look else now
            if candidate.closed or now - candidate.changed >= self.settings.settle:
                with self.lock:
                    self._queue(candidate)

    def _ready(self, candidate: Candidate) -> bool:
        try:
            st = os.lstat(candidate.path)
        except FileNotFoundError:
            self.forget(candidate.path)
            return False
        except OSError as exc:
            log.warning("cannot look at %s: %s", display_name(candidate.path), exc.strerror)
            return False
        if stat.S_ISDIR(st.st_mode):
            self.forget(candidate.path)
            self.note_folder(candidate.path, candidate.outbox, closed=False)
            return False
        if not stat.S_ISREG(st.st_mode):
            self.forget(candidate.path)
            if (candidate.path, st.st_ino) not in self.left_alone:
                self.left_alone.add((candidate.path, st.st_ino))
                log.warning(
                    "left %s in the outbox: not a regular file (a link, a pipe or a device)",
                    display_name(candidate.path),
                )
            return False
        if someone_writing(candidate.path):
            candidate.closed = False
            candidate.changed = time.monotonic()
            return False
        return True


class Handler(FileSystemEventHandler):
    """watchdog's events for one outbox, turned into candidates. Reads (ours included) are not events of interest."""

    def __init__(self, tracker: Tracker, outbox: Outbox) -> None:
        self.tracker = tracker
        self.outbox = outbox

    def on_any_event(self, event: FileSystemEvent) -> None:
        source = Path(os.fsdecode(event.src_path))
        if isinstance(event, FileClosedEvent):
            self.tracker.note(source, self.outbox, closed=True)
        elif isinstance(event, FileCreatedEvent | FileModifiedEvent | FileAttribEvent):
            self.tracker.note(source, self.outbox, closed=False)
        elif isinstance(event, FileMovedEvent | DirMovedEvent):
            self.tracker.forget(source)
            target = Path(os.fsdecode(event.dest_path))
            if self.outbox.path in target.parents:
                if event.is_directory:
                    self.tracker.note_folder(target, self.outbox, closed=True)
                else:
                    self.tracker.note(target, self.outbox, closed=True)
        elif isinstance(event, DirCreatedEvent):
            self.tracker.note_folder(source, self.outbox, closed=False)
        elif isinstance(event, FileDeletedEvent):
            self.tracker.forget(source)


class Watcher:
    """Scans what the tracker hands out on a bounded pool (of processes, or threads) and delivers each file by its
    verdict, one at a time, in this thread. At most 2 × jobs files are in flight, so memory stays bounded however many
    files wait."""

    def __init__(self, scanner: Scanner, outboxes: list[Outbox], mover: Mover, settings: Settings) -> None:
        self.scanner = scanner
        self.outboxes = outboxes
        self.mover = mover
        self.settings = settings
        self.tracker = Tracker(settings)
        self.stopping = False
        self.once = False
        self.failures = 0
        self.delivered = 0
        self._pool_in_use: Executor | None = None

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
                observer.stop()
                observer.join(timeout=5)
            self.mover.sync()
        for path in self.tracker.waiting() if once else ():
            log.warning("left %s in the outbox: still being written", display_name(path))
        return 1 if once and self.failures else 0

    def _loop(self) -> None:
        pool = self._pool()
        try:
            self._run_pool(pool)
        finally:
            if self._pool_in_use is not None:
                self._pool_in_use.shutdown(wait=True, cancel_futures=True)

    def _pool(self) -> Executor:
        """Scanning processes (each with its own Scanner: text scans are CPU-bound Python, which threads cannot run
        side by side), or threads in this process (for tests that hook the scanner)."""
        if self.settings.processes:
            context = multiprocessing.get_context("forkserver")  # not fork: this process runs watchdog's threads
            pool: Executor = ProcessPoolExecutor(
                self.settings.jobs,
                mp_context=context,
                initializer=_start_worker,
                initargs=(self.scanner.config, os.getpid()),
            )
        else:
            pool = ThreadPoolExecutor(self.settings.jobs, thread_name_prefix="baomi-scan")
        self._pool_in_use = pool
        return pool

    def _submit(self, pool: Executor, candidate: Candidate) -> Future[FileReport | None]:
        name = display_name(candidate.path.relative_to(candidate.outbox.path))
        if self.settings.processes:
            return pool.submit(_scan_in_worker, candidate.path, name, candidate.outbox.channel)
        return pool.submit(scan_file, self.scanner, candidate.path, name, candidate.outbox.channel)

    def _run_pool(self, pool: Executor) -> None:
        in_flight: dict[Future[FileReport | None], Candidate] = {}
        since_sync = 0
        last_walk = last_progress = time.monotonic()
        while True:
            if not self.stopping:
                taken = self.tracker.take(2 * self.settings.jobs - len(in_flight))
                for index, candidate in enumerate(taken):
                    try:
                        in_flight[self._submit(pool, candidate)] = candidate
                    except BrokenExecutor:  # a scanning process was killed (the OOM killer): start afresh
                        log.error("a scanning process died; starting new ones")
                        for left in taken[index:]:
                            self.tracker.again(left, _RETRY[0])
                        pool.shutdown(wait=False, cancel_futures=True)
                        pool = self._pool()
                        break
            if in_flight:
                finished, _ = wait(in_flight, timeout=_TICK, return_when=FIRST_COMPLETED)
                for future in finished:
                    self._settle_one(in_flight.pop(future), future)
                    since_sync += 1
                last_progress = time.monotonic()
            elif self.stopping or (self.once and self._nothing_more(last_progress)):
                return
            else:
                self.tracker.wait(_TICK)
            if since_sync and ((not in_flight and not self.tracker.due) or since_sync >= _SYNC_EVERY):
                self.mover.sync()
                since_sync = 0
            if not self.once and time.monotonic() - last_walk > self.settings.rescan:
                self._walk()
                self._recover()  # decisions whose recording failed (a locked or full disk) are recorded now
                last_walk = time.monotonic()

    def _nothing_more(self, last_progress: float) -> bool:
        """For --once: nothing waits, or what waits has not settled for a while (a writer still at work)."""
        return self.tracker.idle() or time.monotonic() - last_progress > self.settings.settle + 4 * _TICK

    def _settle_one(self, candidate: Candidate, future: Future[FileReport | None]) -> None:
        """Deliver one scanned file; whatever goes wrong is a log line and a later try, never the watcher's end."""
        try:
            self._deliver(candidate, future.result())
        except Exception as exc:
            log.exception("unexpected trouble with %s", display_name(candidate.path))
            self._failed(candidate, f"{type(exc).__name__}: {exc}")

    def _recover(self) -> None:
        try:
            lines = self.mover.recover()
        except (OSError, sqlite3.Error) as exc:
            log.error("cannot finish the moves a stopped watcher left yet: %s", exc)
            return
        for line in lines:
            log.warning("%s", line)

    def _observe(self) -> Any:
        """A watchdog observer on every outbox; without one (inotify's limits reached), walks every `settle`."""
        _shorten_move_pairing()
        try:
            observer = _new_observer()
            for outbox in self.outboxes:
                observer.schedule(Handler(self.tracker, outbox), str(outbox.path), recursive=True)
            observer.start()
        except OSError as exc:
            self.settings.rescan = max(1.0, self.settings.settle)
            log.error(
                "cannot watch the outboxes for events (%s; see fs.inotify.max_user_watches): looking every %g s",
                exc.strerror or exc,
                self.settings.rescan,
            )
            return None
        return observer

    def _walk(self) -> None:
        for outbox in self.outboxes:
            self.tracker.note_folder(outbox.path, outbox, closed=False, event=False)

    def _deliver(self, candidate: Candidate, report: FileReport | None) -> None:
        shown = display_name(candidate.path)
        if report is None:
            log.warning("%s vanished before it was scanned", shown)
            self.tracker.done(candidate)
            return
        try:
            identity, sha256 = fingerprint(candidate.path)
        except FileNotFoundError:
            log.warning("%s vanished after its scan", shown)
            self.tracker.done(candidate)
            return
        except OSError as exc:
            if report.sha256:  # it was readable a moment ago: try again rather than guess
                self._failed(candidate, f"cannot read it again: {exc.strerror}")
                return
            unreadable = identity_of(candidate.path)  # unreadable from the start: it goes to quarantine as it is
            if unreadable is None:
                log.warning("%s vanished after its scan", shown)
                self.tracker.done(candidate)
                return
            identity, sha256 = unreadable, ""
        if sha256 != report.sha256:
            log.info("%s changed after its scan; scanning it again", shown)
            self.tracker.again(candidate)
            return
        self._move(candidate, report, identity)

    def _move(self, candidate: Candidate, report: FileReport, identity: Identity) -> None:
        outbox = candidate.outbox
        action = ROUTES[report.verdict]
        decision = Decision.of(report, outbox.channel, display_name(outbox.path), action)
        sidecar = None if action == "released" else verdict_record(report, outbox, action)
        try:
            target = self.mover.deliver(
                candidate.path,
                outbox.folder(action),
                candidate.path.relative_to(outbox.path),
                identity,
                decision,
                sidecar,
                private=action == "quarantine",
            )
        except FileNotFoundError:
            log.warning("%s vanished before it could be moved", display_name(candidate.path))
            self.tracker.done(candidate)
            return
        except ContentChanged:
            log.info("%s changed while it was copied out; scanning it again", display_name(candidate.path))
            self.tracker.again(candidate)
            return
        except OSError as exc:
            self._failed(candidate, f"cannot move it to {display_name(outbox.folder(action))}: {exc.strerror or exc}")
            return
        self.tracker.done(candidate)
        self.delivered += 1
        rules = f" ({', '.join(report.rules)})" if report.rules else ""
        log.info("%s %s → %s%s", report.verdict, display_name(candidate.path), display_name(target), rules)

    def _failed(self, candidate: Candidate, why: str) -> None:
        self.failures += 1
        if self.once:
            log.error("%s stays in the outbox: %s", display_name(candidate.path), why)
            self.tracker.done(candidate)
            return
        delay = _RETRY[min(candidate.failures, len(_RETRY) - 1)]
        candidate.failures += 1
        log.error("%s stays in the outbox: %s; trying again in %g s", display_name(candidate.path), why, delay)
        self.tracker.again(candidate, delay)


def _new_observer() -> Any:
    """On Linux, inotify with full events: a file moved in from elsewhere comes as a move (complete), not as a
    creation (to wait for)."""
    try:
        from watchdog.observers.inotify import InotifyObserver
    except ImportError:
        return Observer()
    return InotifyObserver(generate_full_events=True)


def _shorten_move_pairing() -> None:
    """watchdog holds each unpaired IN_MOVED_FROM for 0.5 s, hoping for its IN_MOVED_TO, and every later event waits
    behind it; each of our own deliveries out of the outbox is such an event, so a busy outbox would see all its
    close-after-write events up to half a second late. The kernel queues both halves of a rename together, so 20 ms
    is plenty; a pair missed anyway is a delete and a create, and the file simply waits to settle."""
    with contextlib.suppress(ImportError):
        from watchdog.observers.inotify_move_event_grouper import InotifyMoveEventGrouper

        InotifyMoveEventGrouper.delay = 0.02


def verdict_record(report: FileReport, outbox: Outbox, action: str) -> dict[str, Any]:
    """The sidecar `NAME.verdict.json` beside a held file: the report (its contexts are short already) and where the
    file came from."""
    return {
        "verdict": str(report.verdict),
        "action": action,
        "file": report.path,
        "outbox": display_name(outbox.path),
        "channel": outbox.channel,
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "size": report.size,
        "sha256": report.sha256,
        "format": report.format,
        "rules": report.rules,
        "findings": [f.to_dict() for f in report.findings],
        "errors": report.errors,
    }


def scan_file(scanner: Scanner, path: Path, name: str, channel: str) -> FileReport | None:
    """The report of the file at `path` (called `name`), or None if it vanished before it could be read."""
    try:
        data, whole = _read(path, scanner.config.limits.max_bytes + 1)
    except FileNotFoundError:
        return None
    except OSError:
        report = scanner.scan_path(path, channel)  # the engine words an unreadable file's finding
        report.path = name
        return report
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
    _worker_scanner = Scanner(config)
    _worker_scanner.scan_bytes("预热".encode(), "warm-up.txt")  # loads the dictionaries now, not on a user's file


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


def _scan_in_worker(path: Path, name: str, channel: str) -> FileReport | None:
    assert _worker_scanner is not None
    return scan_file(_worker_scanner, path, name, channel)


def _read(path: Path, limit: int) -> tuple[bytes, tuple[int, str] | None]:
    """Up to `limit` bytes of the file; when there is more, also the whole file's size and SHA-256 (read in chunks,
    so a file of any size costs `limit` bytes of memory at most)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        data = fh.read(limit)
        if len(data) < limit:
            return data, None
        digest, size = hashlib.sha256(data), len(data)
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return data, (size, digest.hexdigest())


# The command line.


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "watch",
        parents=[common],
        help="release, hold or quarantine the files dropped into outbox folders",
        description="Watch outbox folders: each file, once completely written, is scanned and moved to the released "
        "folder (pass), the review folder (flag) or the quarantine folder (block). Outboxes come from "
        "[[watch.outbox]] in the configuration, or one is named on the command line.",
    )
    add_outbox_arguments(parser)
    parser.add_argument("--channel", default="watch", choices=("scan", "watch", "mail", "web"), help="policy channel")
    parser.add_argument("--once", action="store_true", help="deliver what is in the outboxes now, then exit (cron)")
    parser.add_argument("--log", type=Path, metavar="FILE", help="log to FILE instead of standard error")
    parser.add_argument("--jobs", type=int, metavar="N", help="files scanned at once (default: [watch] jobs, cores)")
    parser.add_argument("--settle", type=float, metavar="SECONDS", help="quiet time for files never closed (2)")
    parser.add_argument("--quiet", "-q", action="store_true", help="log problems only, not every file")
    parser.add_argument("--threads", action="store_true", help="scan in threads of one process, not in processes")
    parser.set_defaults(run=run_watch)


def add_outbox_arguments(parser: argparse.ArgumentParser, positional: bool = True) -> None:
    """The arguments `baomi watch` and `baomi review` share: one outbox on the command line, the logs' places."""
    if positional:
        parser.add_argument("outbox", nargs="?", type=Path, metavar="OUTBOX", help="an outbox folder to watch")
    else:
        parser.add_argument("--outbox", type=Path, metavar="DIR", help="the outbox (else [[watch.outbox]])")
    parser.add_argument("--released", type=Path, metavar="DIR", help="where passed files go")
    parser.add_argument("--review", type=Path, metavar="DIR", help="where flagged files wait for a person")
    parser.add_argument("--quarantine", type=Path, metavar="DIR", help="where blocked files are kept (mode 0700)")
    parser.add_argument("--audit", type=Path, metavar="PATH", help="the decision log (default: [audit] path)")
    parser.add_argument("--journal", type=Path, metavar="PATH", help="moves in progress (default: beside the audit)")


def outboxes_of(args: argparse.Namespace, config: Config) -> list[Outbox]:
    """The outbox on the command line, else those of [[watch.outbox]]; each checked and made absolute."""
    channel = getattr(args, "channel", "watch")
    if args.outbox is not None:
        folders = {k: getattr(args, k) for k in ("released", "review", "quarantine")}
        missing = [f"--{k}" for k, v in folders.items() if v is None]
        if missing:
            raise UsageError(f"an outbox on the command line needs {', '.join(missing)}")
        outboxes = [Outbox(args.outbox, **folders, channel=channel)]
    else:
        try:
            outboxes = load_outboxes(config.doors.get("watch", {}), _config_base(args))
        except OutboxError as exc:
            raise UsageError(str(exc)) from None
        if not outboxes:
            raise UsageError("no outbox: name one on the command line or in [[watch.outbox]] of --config")
    made = []
    for outbox in outboxes:
        absolute = replace(
            outbox,
            path=outbox.path.absolute(),
            released=outbox.released.absolute(),
            review=outbox.review.absolute(),
            quarantine=outbox.quarantine.absolute(),
        )
        try:
            absolute.check()
        except OutboxError as exc:
            raise UsageError(str(exc)) from None
        made.append(absolute)
    return made


def audit_path(args: argparse.Namespace, config: Config) -> Path:
    return Path(args.audit or default_audit_path(config.doors))


def open_logs(args: argparse.Namespace, config: Config) -> tuple[AuditLog, Journal]:
    """The audit log, and the journal of moves in progress (by default beside it)."""
    audit = audit_path(args, config)
    configured = config.doors.get("watch", {}).get("journal")
    journal = args.journal or (_config_base(args) / configured if configured else audit.parent / "watch-journal.db")
    return AuditLog(audit), Journal(Path(journal))


def _config_base(args: argparse.Namespace) -> Path:
    """What relative paths in the configuration file are relative to."""
    return args.config.parent if args.config else Path.cwd()


def prepare(outboxes: list[Outbox]) -> None:
    """Create the folders; quarantine is mode 0700 whoever made it."""
    for outbox in outboxes:
        if not outbox.path.is_dir():
            raise UsageError(f"no such outbox folder: {outbox.path}")
        for action in ROUTES.values():
            make_folder(outbox.folder(action), private=action == "quarantine")
        os.chmod(outbox.quarantine, PRIVATE_MODE)


WATCH_KEYS = frozenset({"outbox", "settle", "jobs", "temporary", "rescan", "journal", "log", "processes"})


def settings_of(args: argparse.Namespace, table: dict[str, Any]) -> Settings:
    unknown = set(table) - WATCH_KEYS
    if unknown:
        raise UsageError(f"[watch]: unknown keys {', '.join(sorted(unknown))} (known: {', '.join(sorted(WATCH_KEYS))})")
    settings = Settings()
    settings.jobs = int(args.jobs or table.get("jobs") or settings.jobs)
    settings.settle = float(args.settle if args.settle is not None else table.get("settle", settings.settle))
    settings.temporary = (*TEMPORARY, *table.get("temporary", ()))
    settings.rescan = float(table.get("rescan", settings.rescan))
    settings.processes = not args.threads and bool(table.get("processes", True))
    if settings.jobs < 1 or settings.settle < 0:
        raise UsageError("--jobs takes 1 or more, --settle 0 or more seconds")
    return settings


def start_logging(path: Path | None, quiet: bool) -> None:
    handler: logging.Handler
    if path is not None:
        from logging.handlers import WatchedFileHandler  # reopens the file after logrotate moves it

        handler = WatchedFileHandler(path, encoding="utf-8")
    else:
        handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s baomi watch: %(levelname)s %(message)s"))
    root = logging.getLogger("baomi")
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING if quiet else logging.INFO)


def run_watch(args: argparse.Namespace) -> int:
    scanner = build_scanner(args)
    table = scanner.config.doors.get("watch", {})
    start_logging(args.log or (_config_base(args) / table["log"] if table.get("log") else None), args.quiet)
    outboxes = outboxes_of(args, scanner.config)
    settings = settings_of(args, table)
    prepare(outboxes)
    audit, journal = open_logs(args, scanner.config)
    watcher = Watcher(scanner, outboxes, Mover(journal, audit), settings)
    # A lease we hold for a moment signals SIGIO when a writer opens the file meanwhile; by default that would kill us.
    signal.signal(signal.SIGIO, signal.SIG_IGN)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: watcher.stop())
    with contextlib.suppress(AttributeError):
        signal.signal(signal.SIGHUP, lambda *_: watcher.stop())
    names = ", ".join(f"{display_name(o.path)} ({o.channel})" for o in outboxes)
    log.info("%s %s", "delivering what is in" if args.once else "watching", names)
    try:
        status = watcher.run(once=args.once)
    finally:
        audit.close()
        journal.close()
    log.info("stopped after %d files", watcher.delivered)
    return status
