"""Delivering files out of an outbox without ever losing, duplicating or overwriting one, and without ever letting out
bytes other than those that were scanned.

Every move is written to the journal before it starts, so after a crash at any step `Mover.recover` finishes or
undoes it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from scanner.audit import AuditLog, Decision
from scanner.i18n import Message, msg
from scanner.outbox.handles import (
    ContentChanged,
    Held,
    NotRegular,
    copy_checked,
    digest_of,
    give_back,
    is_there,
    open_held,
    remove_held,
    rename_noreplace_at,
)
from scanner.outbox.journal import Identity, Journal, Move
from scanner.outbox.layout import display_name, free_name, make_folder, sidecar_of
from scanner.titles import os_error

log = logging.getLogger("baomi.outbox")


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


@dataclass
class Placed:
    """A delivery whose copy (or file) is in place but not yet known to be on disk: the original is still in the
    outbox, and the decision not yet recorded."""

    move: Move
    held: Held
    copy: int | None  # the copy's descriptor, synced before the original may go; None for a file moved as it is

    @property
    def target(self) -> Path:
        return self.move.target


class Mover:
    """Delivers held files to their destination and records each decision exactly once, crash or no crash.

    What arrives at a destination is a copy baomi wrote of exactly the bytes that were scanned (their SHA-256 is
    checked as they are copied); nobody else ever had a handle on it, so no hard link, open descriptor or rename of
    the writer's can change it. Only a file nobody may read is moved as it is, to quarantine.

    The order is: journal entry → verdict record (sidecar) → copy → copy renamed into place (`place`) → copy synced →
    the original's name removed from the outbox → audit record → journal entry removed (`complete`). Completing
    several deliveries at once syncs their copies together. `checkpoint(step)` is called between steps; tests use it
    to stop the mover dead at each one."""

    def __init__(self, journal: Journal, audit: AuditLog, checkpoint: Callable[[str], None] | None = None) -> None:
        self.journal = journal
        self.audit = audit
        self.checkpoint = checkpoint or (lambda step: None)
        self.touched: set[Path] = set()

    def place(
        self,
        held: Held,
        folder: Path,
        rel: PurePath,
        decision: Decision,
        sidecar: dict[str, Any] | None = None,
        private: bool = False,
    ) -> Placed:
        """Put the held file's delivery at `folder/rel` (or a free variant of that name). `decision.sha256` is the
        hash of the bytes scanned; `sidecar`, if given, is written as the verdict record beside the delivered file.

        ContentChanged: the file is not the one scanned any more, and nothing was delivered. Any other OSError leaves
        the file where it was."""
        if not is_there(held):
            raise ContentChanged(errno.ENOENT, "renamed or replaced since it was scanned", str(held.path))
        make_folder((folder / rel).parent, private)
        target_folder = os.open((folder / rel).parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for _attempt in range(1000):
                target = free_name(folder, rel, held=sidecar is not None)
                decision.extra["destination"] = display_name(target)
                record = sidecar_of(target) if sidecar else None
                method = "copy" if held.fd is not None else "rename"
                move = self.journal.begin(held.path, target, held.identity, record, decision, method, held.root)
                self.checkpoint("begun")
                try:
                    if sidecar is not None:
                        _write_new(sidecar_of(target), {**sidecar, "move": move.token})
                        self.checkpoint("sidecar")
                    copy = None
                    if method == "copy":
                        copy = self._copy(move, held, target_folder)
                    else:
                        self._rename(move, held, target_folder)
                except FileExistsError:  # another writer took the name between our look and our move: try the next
                    self._undo(move)
                    continue
                except BaseException:
                    self._undo(move)
                    raise
                return Placed(move, held, copy)
        finally:
            os.close(target_folder)
        raise FileExistsError(errno.EEXIST, "every free name was taken before it could be used", str(folder / rel))

    def complete(self, placed: list[Placed]) -> list[bool | None]:
        """Sync the copies placed (together: one journal commit for many files), then take each original out of its
        outbox and record each decision. For each: whether its original stays in the outbox (written to after its
        copy, or another file under its name: to be scanned again); None if its copy could not be synced, in which
        case the delivery is undone and the original stays."""
        synced: list[bool] = []
        for item in placed:
            try:
                if item.copy is not None:
                    os.fdatasync(item.copy)
                synced.append(True)
            except OSError as exc:
                log.error(
                    msg("cannot write {file} to disk: {error}", file=display_name(item.target), error=os_error(exc))
                )
                synced.append(False)
            finally:
                if item.copy is not None:
                    os.close(item.copy)
                    item.copy = None
        outcomes: list[bool | None] = []
        for item, ok in zip(placed, synced, strict=True):
            if ok:
                outcomes.append(self._complete(item))
            else:  # undone: the copy and its record go, the original stays
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(item.target)
                self._undo(item.move)
                outcomes.append(None)
        return outcomes

    def complete_one(self, placed: Placed) -> Path:
        """Complete one placed delivery; where it went (OSError if its copy could not be written to disk)."""
        if self.complete([placed]) == [None]:
            raise OSError(errno.EIO, "the copy could not be written to disk", str(placed.target))
        return placed.target

    def _complete(self, item: Placed) -> bool:
        stays = item.move.method == "copy" and not remove_held(item.held)
        if stays:
            changed = msg(
                "{file} changed after it was copied: the version scanned is delivered, the new one stays in the outbox",
                file=display_name(item.held.path),
            )
            log.warning(changed)
        self.checkpoint("moved")
        self.touched.update({item.held.path.parent, item.target.parent})
        try:
            self.audit.record(item.move.decision)
        except sqlite3.Error as exc:  # the journal entry stays: recover() records the decision later
            unrecorded = msg(
                "{file} delivered, but its decision is not recorded yet: {error}",
                file=display_name(item.target),
                error=str(exc),
            )
            log.error(unrecorded)
            return stays
        self.checkpoint("recorded")
        self.journal.finish(item.move)
        return stays

    def sync(self) -> None:
        """Flush the folders changed since the last call to disk (a batch at a time: a killed process loses nothing
        without this; it is for power loss)."""
        for folder in self.touched:
            fsync_dir(folder)
        self.touched.clear()

    def recover(self) -> list[Message]:
        """Finish or undo the moves a killed process left; return a line about each. Idempotent."""
        lines = []
        for move in self.journal.unfinished():
            delivered = self._finish_interrupted(move)
            if delivered:
                if not self._recorded(move):
                    move.decision.extra["recovered"] = True
                    self.audit.record(move.decision)
                finished = msg(
                    "finished an interrupted move: {file} → {target}",
                    file=display_name(move.source),
                    target=display_name(move.target),
                )
                lines.append(finished)
            else:
                undone = msg(
                    "undid an interrupted move of {file}; it stays in its outbox", file=display_name(move.source)
                )
                lines.append(undone)
            self.journal.finish(move)
        return lines

    def _copy(self, move: Move, held: Held, target_folder: int) -> int:
        """A copy of the scanned bytes under a hidden name beside the target, renamed into place; its descriptor."""
        temp = f".{move.target.name}.{move.token[:8]}.baomi-part"
        self.journal.update(move, temp=move.target.with_name(temp))
        copy = copy_checked(held, target_folder, temp, move.decision.sha256)
        try:
            self.journal.update(move, state="copied")
            self.checkpoint("copied")
            rename_noreplace_at(target_folder, temp, target_folder, move.target.name)
        except BaseException:
            os.close(copy)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp, dir_fd=target_folder)
            raise
        self.checkpoint("renamed")
        return copy

    def _rename(self, move: Move, held: Held, target_folder: int) -> None:
        """The file itself (one nobody may read, so never released), renamed into place by its folder's descriptor;
        a file swapped in under its name at that moment is given its name back."""
        rename_noreplace_at(held.folder, held.name, target_folder, move.target.name)
        st = os.stat(move.target.name, dir_fd=target_folder, follow_symlinks=False)
        if (st.st_dev, st.st_ino) != held.identity:
            give_back(target_folder, move.target.name, held.folder, held.name)
            raise ContentChanged(errno.EAGAIN, "replaced as it was moved", str(held.path))

    def _undo(self, move: Move) -> None:
        self._undo_files(move)
        self.journal.finish(move)

    def _finish_interrupted(self, move: Move) -> bool:
        """Complete `move` if it got past its point of no return, else undo it. True when the file was delivered."""
        if move.method == "copy":
            placed = move.state == "copied" and (
                move.temp is None
                or not os.path.lexists(move.temp)
                or identity_of(move.temp) == identity_of(move.target)
            )
            if placed and _torn(move.target, move.decision.sha256):  # power lost before the copy was synced
                os.unlink(move.target)
                placed = False
        else:
            placed = identity_of(move.target) == move.identity
        if not placed:
            self._undo_files(move)
            return False
        # The copy (or the file itself, or a second name of it) is in place; the source's name may still be there.
        self._remove_source(move)
        if move.temp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(move.temp)
        return True

    def _remove_source(self, move: Move) -> None:
        """Take the source's name out of its outbox if it still leads to the file delivered, with the content
        delivered; a file changed since keeps its new content and goes through the outbox again."""
        root = move.root or move.source.parent
        try:
            held = open_held(root, move.source.relative_to(root))
        except (FileNotFoundError, NotRegular):
            return
        with held:
            if held.identity != move.identity:
                return
            if move.method == "copy" and held.fd is not None and digest_of(held.fd)[0] != move.decision.sha256:
                log.warning(
                    msg(
                        "{file} changed after it was copied; the new version stays in the outbox", file=str(move.source)
                    )
                )
                return
            remove_held(held)

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


def _torn(copy: Path, sha256: str) -> bool:
    """The copy at `copy` is there but does not hold the bytes it was written with (a power loss before its data
    reached the disk). A copy already taken away by the uploader is no longer ours to judge."""
    try:
        fd = os.open(copy, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        return digest_of(fd)[0] != sha256
    finally:
        os.close(fd)


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
