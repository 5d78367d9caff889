"""Delivering files out of an outbox without ever losing, duplicating or overwriting one.

Every move is written to the journal before it starts, so after a crash at any step `Mover.recover` finishes or
undoes it.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import json
import logging
import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import Any

from scanner.audit import AuditLog, Decision
from scanner.outbox.journal import Identity, Journal, Move
from scanner.outbox.layout import display_name, free_name, make_folder, sidecar_of

log = logging.getLogger("baomi.outbox")


def _load_renameat2() -> Callable[..., int] | None:
    try:
        function: Callable[..., int] = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    return function


_RENAMEAT2 = _load_renameat2()
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1


def rename_noreplace(source: Path, target: Path) -> None:
    """Rename atomically, failing with FileExistsError instead of replacing `target`.

    renameat2(RENAME_NOREPLACE) where the kernel and file system have it; else link-then-unlink, which leaves both
    names on the same inode for a moment (recovery tells that apart by the inode); else, on file systems without hard
    links, a check followed by a plain rename (only another writer into our own destination could race it)."""
    if _RENAMEAT2 is not None:
        if _RENAMEAT2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), _RENAME_NOREPLACE) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise OSError(code, os.strerror(code), str(source), None, str(target))
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(target)) from None
        os.rename(source, target)
        return
    os.unlink(source)


def fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def identity_of(path: Path) -> Identity | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def fingerprint(path: Path) -> tuple[Identity, str]:
    """Which file is at `path` now, and the SHA-256 of its content: checked just before a file is let go."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        digest = hashlib.sha256()
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return (st.st_dev, st.st_ino), digest.hexdigest()


class Mover:
    """Moves files to their destination and records each decision exactly once, crash or no crash.

    The order is: journal entry → verdict record (sidecar) → atomic move → audit record → journal entry removed.
    `checkpoint(step)` is called between steps; tests use it to stop the mover dead at each one."""

    def __init__(self, journal: Journal, audit: AuditLog, checkpoint: Callable[[str], None] | None = None) -> None:
        self.journal = journal
        self.audit = audit
        self.checkpoint = checkpoint or (lambda step: None)
        self.touched: set[Path] = set()

    def deliver(
        self,
        source: Path,
        folder: Path,
        rel: PurePath,
        identity: Identity,
        decision: Decision,
        sidecar: dict[str, Any] | None = None,
        private: bool = False,
    ) -> Path:
        """Move `source` to `folder/rel` (or a free variant of that name) and record `decision`; return where it went.

        `identity` is the (device, inode) of the file whose content was checked; `sidecar`, if given, is written as
        the verdict record beside the delivered file. An OSError leaves the file where it was."""
        make_folder((folder / rel).parent, private)
        for _attempt in range(1000):
            target = free_name(folder, rel, held=sidecar is not None)
            decision.extra["destination"] = display_name(target)
            move = self.journal.begin(source, target, identity, sidecar_of(target) if sidecar else None, decision)
            self.checkpoint("begun")
            try:
                if sidecar is not None:
                    _write_new(sidecar_of(target), {**sidecar, "move": move.token})
                    self.checkpoint("sidecar")
                self._move(move)
            except FileExistsError:  # another writer took the name between our look and our move: try the next
                self._undo(move)
                continue
            except BaseException:
                self._undo(move)
                raise
            break
        else:
            raise FileExistsError(errno.EEXIST, "every free name was taken before it could be used", str(folder / rel))
        self.checkpoint("moved")
        self.touched.update({source.parent, target.parent})
        try:
            self.audit.record(decision)
        except sqlite3.Error as exc:  # the journal entry stays: recover() records the decision later
            log.error("%s delivered, but its decision is not recorded yet: %s", display_name(target), exc)
            return target
        self.checkpoint("recorded")
        self.journal.finish(move)
        return target

    def sync(self) -> None:
        """Flush the folders changed since the last call to disk (a batch at a time: a killed process loses nothing
        without this; it is for power loss)."""
        for folder in self.touched:
            fsync_dir(folder)
        self.touched.clear()

    def recover(self) -> list[str]:
        """Finish or undo the moves a killed process left; return a line about each. Idempotent."""
        lines = []
        for move in self.journal.unfinished():
            delivered = self._finish_interrupted(move)
            if delivered:
                if not self._recorded(move):
                    move.decision.extra["recovered"] = True
                    self.audit.record(move.decision)
                lines.append(f"finished an interrupted move: {display_name(move.source)} → {display_name(move.target)}")
            else:
                lines.append(f"undid an interrupted move of {display_name(move.source)}; it stays in its outbox")
            self.journal.finish(move)
        return lines

    def _move(self, move: Move) -> None:
        try:
            rename_noreplace(move.source, move.target)
            return
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
        self._copy_across(move)

    def _copy_across(self, move: Move) -> None:
        """Across file systems: copy to a hidden name beside the target, sync, rename into place, then unlink."""
        temp = move.target.with_name(f".{move.target.name}.{move.token[:8]}.baomi-part")
        self.journal.update(move, method="copy", temp=temp)
        try:
            with open(move.source, "rb") as src, open(temp, "xb") as dst:
                before = os.fstat(src.fileno())
                digest = hashlib.sha256()
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    digest.update(chunk)
                    dst.write(chunk)
                dst.flush()
                os.fsync(dst.fileno())
            if move.decision.sha256 and digest.hexdigest() != move.decision.sha256:
                raise ContentChanged(errno.EAGAIN, "changed while it was being copied", str(move.source))
            shutil.copystat(move.source, temp, follow_symlinks=False)
            self.journal.update(move, state="copied")
            self.checkpoint("copied")
            rename_noreplace(temp, move.target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        fsync_dir(move.target.parent)
        self.checkpoint("renamed")
        if _stamp(move.source) == _stamp_of(before):
            os.unlink(move.source)
        else:  # written to after the copy: the new content stays and goes through the outbox again
            log.warning(
                "%s changed after it was copied; the new version stays in the outbox", display_name(move.source)
            )

    def _undo(self, move: Move) -> None:
        self._undo_files(move)
        self.journal.finish(move)

    def _finish_interrupted(self, move: Move) -> bool:
        """Complete `move` if it got past its point of no return, else undo it. True when the file was delivered."""
        source_is_ours = identity_of(move.source) == move.identity
        if move.method == "copy":
            renamed = move.state == "copied" and (
                move.temp is None
                or not os.path.lexists(move.temp)
                or identity_of(move.temp) == identity_of(move.target)
            )
            if not renamed:
                self._undo_files(move)
                return False
        elif source_is_ours and identity_of(move.target) != move.identity:
            self._undo_files(move)  # the atomic rename never happened
            return False
        # The copy (or hard link) is in place and the source's name was not yet removed; a source changed since its
        # copy keeps its new content and goes through the outbox again.
        if source_is_ours and (move.method != "copy" or _content_is(move.source, move.decision.sha256)):
            os.unlink(move.source)
        if move.temp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(move.temp)
        return True

    def _undo_files(self, move: Move) -> None:
        if move.sidecar is not None and _is_ours(move.sidecar, move.token):
            os.unlink(move.sidecar)
        if move.temp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(move.temp)

    def _recorded(self, move: Move) -> bool:
        since = move.started
        decisions = self.audit.query(channel=move.decision.channel, since=since, limit=None)
        return any(d.extra.get("move") == move.token for d in decisions)


class ContentChanged(OSError):
    """The file changed between its last check and its copy to another file system; it stays and is scanned again."""


def _stamp_of(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        return _stamp_of(os.lstat(path))
    except OSError:
        return None


def _content_is(path: Path, sha256: str) -> bool:
    if not sha256:
        return True
    try:
        return fingerprint(path)[1] == sha256
    except OSError:
        return False


def _write_new(path: Path, record: dict[str, Any]) -> None:
    """Write a verdict record under a name nobody has (FileExistsError otherwise)."""
    with open(path, "x", encoding="utf-8") as fh:
        json.dump(record, fh, ensure_ascii=False, indent=2)
        fh.write("\n")


def _is_ours(sidecar: Path, token: str) -> bool:
    """The record at `sidecar` is the one this move wrote: its token, or cut short by a kill before it had one.
    Another move's record (a name collision) has another token and is left alone."""
    try:
        text = sidecar.read_text(encoding="utf-8")
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        return True
    try:
        return bool(json.loads(text).get("move") == token)
    except (ValueError, AttributeError):
        return True
