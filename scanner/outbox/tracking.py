"""When a file dropped into an outbox is completely written: inotify events (through watchdog) and walks feed a
tracker, which hands out each file once its writer is done, and only one at a time.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import stat
import threading
import time
from collections import deque
from dataclasses import dataclass
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

from scanner.i18n import msg
from scanner.outbox.handles import Held, NotRegular, open_held
from scanner.outbox.layout import Outbox, display_name, is_temporary
from scanner.titles import os_error

log = logging.getLogger("baomi.watch")

TICK = 0.25  # seconds between looks at files waiting to settle


def someone_writing(fd: int) -> bool | None:
    """Whether another process has the file of `fd` (opened read-only) open for writing: a read lease is refused
    exactly then. None when the kernel cannot say (a file we do not own, a network file system): the stability check
    alone decides."""
    set_lease = getattr(fcntl, "F_SETLEASE", None)  # Linux only
    if set_lease is None:
        return None
    try:
        fcntl.fcntl(fd, set_lease, fcntl.F_RDLCK)
    except OSError as exc:
        return True if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK) else None
    fcntl.fcntl(fd, set_lease, fcntl.F_UNLCK)
    return False


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
    held: Held | None = None  # the file, held open from the moment it was found complete until it is delivered

    def let_go(self) -> None:
        if self.held is not None:
            self.held.close()
            self.held = None


class Tracker:
    """Files seen in the outboxes, and which of them are completely written. Fed by watchdog's thread and by walks,
    read by the watcher's loop; a file is handed out once at a time."""

    def __init__(self, settle: float, temporary: tuple[str, ...]) -> None:
        self.settle = settle  # seconds a file's size and time must stay unchanged when no close-after-write was seen
        self.temporary = temporary
        self.lock = threading.Condition()
        self.pending: dict[Path, Candidate] = {}
        self.due: deque[Path] = deque()  # believed ready: closed, or found stable
        self.in_flight: set[Path] = set()
        self.last_tick = 0.0
        self.left_alone: set[tuple[Path, int]] = set()  # links, pipes and devices already logged

    def note(self, path: Path, outbox: Outbox, closed: bool, event: bool = True) -> None:
        """A file was written, closed or moved in (`event`), or was found by a walk."""
        if is_temporary(path.name, self.temporary):
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
        if now - self.last_tick >= TICK:
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
                        continue
                candidate.let_go()  # noted anew meanwhile: the newer candidate is looked at on its own
        return taken

    def done(self, candidate: Candidate) -> None:
        candidate.let_go()
        with self.lock:
            self.in_flight.discard(candidate.path)

    def again(self, candidate: Candidate, delay: float = 0.0) -> None:
        """Back to waiting: changed since its scan (delay 0: wait to settle again) or failed (try again later)."""
        candidate.let_go()
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
            if candidate.closed or now - candidate.changed >= self.settle:
                with self.lock:
                    self._queue(candidate)

    def _ready(self, candidate: Candidate) -> bool:
        try:
            st = os.lstat(candidate.path)
        except FileNotFoundError:
            self.forget(candidate.path)
            return False
        except OSError as exc:
            log.warning(msg("cannot look at {file}: {error}", file=display_name(candidate.path), error=os_error(exc)))
            return False
        if stat.S_ISDIR(st.st_mode):
            self.forget(candidate.path)
            self.note_folder(candidate.path, candidate.outbox, closed=False)
            return False
        try:
            if not stat.S_ISREG(st.st_mode):
                raise NotRegular(errno.EINVAL, "not a regular file")
            held = open_held(candidate.outbox.path, candidate.path.relative_to(candidate.outbox.path))
        except NotRegular:
            self._leave_alone(candidate, st.st_ino)
            return False
        except FileNotFoundError:
            self.forget(candidate.path)
            return False
        except OSError as exc:
            log.warning(msg("cannot open {file}: {error}", file=display_name(candidate.path), error=os_error(exc)))
            return False
        if held.fd is not None and someone_writing(held.fd):
            held.close()
            candidate.closed = False
            candidate.changed = time.monotonic()
            return False
        candidate.held = held
        return True

    def _leave_alone(self, candidate: Candidate, inode: int) -> None:
        """A link (the file or a folder on its way), a pipe or a device: logged once, never opened or moved."""
        self.forget(candidate.path)
        if (candidate.path, inode) not in self.left_alone:
            self.left_alone.add((candidate.path, inode))
            not_regular = msg(
                "left {file} in the outbox: it is not a regular file (a link, a pipe or a device)",
                file=display_name(candidate.path),
            )
            log.warning(not_regular)


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


def observe(tracker: Tracker, outboxes: list[Outbox]) -> Any:
    """A started watchdog observer feeding `tracker` with the events of every outbox (OSError: inotify's limits)."""
    _shorten_move_pairing()
    observer = _new_observer()
    for outbox in outboxes:
        observer.schedule(Handler(tracker, outbox), str(outbox.path), recursive=True)
    observer.start()
    return observer


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
