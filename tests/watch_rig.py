"""A gateway on temporary folders for the watch, review and crash tests: an outbox, its three destinations, an audit
log, and a real watcher (watchdog observer included) running in a thread or as a `baomi watch` process."""

from __future__ import annotations

import ctypes
import os
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from scanner.audit import AuditLog, Decision
from scanner.engine import Scanner
from scanner.outbox.journal import Journal
from scanner.outbox.layout import SIDECAR_SUFFIX, Outbox
from scanner.outbox.mover import Mover
from scanner.outbox.watcher import Settings, Watcher
from tests.conftest import require

PASS_TEXT = "今天天气很好，下午三点在三楼会议室开会。\n"
FLAG_TEXT = "内部资料 注意保存\n会议纪要\n"
BLOCK_TEXT = "机密★5年\n关于某事的通知\n"
TEXTS = {"released": PASS_TEXT, "review": FLAG_TEXT, "quarantine": BLOCK_TEXT}
ROUTES = ("released", "review", "quarantine")


def random_bytes(size: int = 4096) -> bytes:
    """Content of no known format: the engine cannot read it, so it is unscannable."""
    return b"\x00" + os.urandom(size - 1)


@dataclass
class Gateway:
    root: Path

    def __post_init__(self) -> None:
        for folder in ("outbox", *ROUTES):
            (self.root / folder).mkdir(parents=True, exist_ok=True)

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @property
    def audit_path(self) -> Path:
        return self.root / "audit.db"

    @property
    def journal_path(self) -> Path:
        return self.root / "watch-journal.db"  # where `baomi watch` keeps it by default: beside the audit log

    def folder(self, route: str) -> Path:
        return self.root / route

    def box(self) -> Outbox:
        return Outbox(self.outbox, self.folder("released"), self.folder("review"), self.folder("quarantine"))

    def args(self) -> list[str]:
        """The command-line form of this gateway, for `baomi watch` and `baomi review`."""
        return [
            *("--released", str(self.folder("released")), "--review", str(self.folder("review"))),
            *("--quarantine", str(self.folder("quarantine")), "--audit", str(self.audit_path)),
        ]

    def drop(self, rel: str, content: str | bytes) -> Path:
        path = self.outbox / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        return path

    def places(self, rel: str) -> list[str]:
        """Every folder holding a file at `rel` (the outbox or a route); a file delivered once is in exactly one."""
        return [f for f in ("outbox", *ROUTES) if (self.root / f / rel).exists()]

    def files(self, route: str) -> list[str]:
        """The files (not the verdict records) in a folder, as paths relative to it."""
        folder = self.root / route
        return sorted(
            str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and not p.name.endswith(SIDECAR_SUFFIX)
        )

    def decisions(self) -> list[Decision]:
        log = AuditLog(self.audit_path)
        try:
            return log.query(limit=None)
        finally:
            log.close()

    def mover(self) -> Mover:
        return Mover(Journal(self.journal_path), AuditLog(self.audit_path))


def wait_for(condition: Callable[[], bool], timeout: float = 15.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@contextmanager
def watching(gateway: Gateway, scanner: Scanner, settle: float = 0.5, jobs: int = 2) -> Iterator[Watcher]:
    """A watcher with a real watchdog observer on the gateway's outbox, running until the block ends."""
    watcher = Watcher(scanner, [gateway.box()], gateway.mover(), Settings(settle=settle, jobs=jobs))
    thread = threading.Thread(target=watcher.run, name="watcher", daemon=True)
    thread.start()
    time.sleep(0.3)  # the observer's inotify watches are in place
    try:
        yield watcher
    finally:
        watcher.stop()
        thread.join(timeout=10)
        assert not thread.is_alive(), "the watcher did not stop"


@contextmanager
def folder_elsewhere(gateway: Gateway, name: str) -> Iterator[Path]:
    """An empty folder on another file system than the outbox's (/dev/shm), removed afterwards; skips without one."""
    shm = Path("/dev/shm")
    require(shm.is_dir() and shm.stat().st_dev != gateway.root.stat().st_dev, "/dev/shm on a file system of its own")
    folder = shm / f"baomi-test-{os.getpid()}-{name}"
    folder.mkdir()
    try:
        yield folder
    finally:
        for leftover in folder.iterdir():
            leftover.unlink()
        folder.rmdir()


def descendants(pid: int) -> set[int]:
    """The processes started by `pid`, and by them, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


# Root reads any file whatever its mode; without these two capabilities it is held to modes like anyone else.
AS_A_USER = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []


def baomi_watch(gateway: Gateway, *extra: str, unprivileged: bool = False) -> subprocess.Popen[bytes]:
    """`baomi watch` as a real process, logging to gateway/watch.log; `unprivileged`: held to file modes even when
    the tests run as root."""
    command = [sys.executable, "-m", "scanner.cli", "watch", str(gateway.outbox), *gateway.args(), *extra]
    return subprocess.Popen(
        [*(AS_A_USER if unprivileged else []), *command],
        stdout=subprocess.DEVNULL,
        stderr=open(gateway.root / "watch.log", "ab"),
        env={**os.environ, "BAOMI_AUDIT": str(gateway.audit_path)},
    )


class Inotify:
    """The kernel's inotify, as an attacker uses it: which file was opened, read or closed, and when."""

    OPEN, ACCESS, CLOSE_NOWRITE = 0x20, 0x01, 0x10
    _EVENT = struct.Struct("iIII")

    def __init__(self) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")

    def watch(self, path: Path, mask: int) -> int:
        wd = int(self.libc.inotify_add_watch(self.fd, os.fsencode(path), mask))
        if wd < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch", str(path))
        return wd

    def events(self, timeout: float) -> list[tuple[int, int]]:
        """(watch, mask) of the events that came within `timeout` seconds, in order."""
        if not select.select([self.fd], [], [], timeout)[0]:
            return []
        data = os.read(self.fd, 64 * 1024)
        found, offset = [], 0
        while offset < len(data):
            wd, mask, _cookie, length = self._EVENT.unpack_from(data, offset)
            found.append((wd, mask))
            offset += self._EVENT.size + length
        return found

    def close(self) -> None:
        os.close(self.fd)
