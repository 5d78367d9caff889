"""Delivering files out of an outbox without ever losing, duplicating or overwriting one.

Every move is written to a journal before it starts, so after a crash at any step `Mover.recover` finishes or undoes it.
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
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePath
from typing import Any

from scanner.audit import AuditLog, Decision
from scanner.model import Verdict

log = logging.getLogger("baomi.outbox")
SIDECAR_SUFFIX = ".verdict.json"
# Where each verdict sends a file, and the name of that route in the audit log.
ROUTES: dict[Verdict, str] = {Verdict.PASS: "released", Verdict.FLAG: "review", Verdict.BLOCK: "quarantine"}
PRIVATE_MODE = 0o700  # quarantine folders: only the service account (and root) may look inside


class OutboxError(ValueError):
    """An outbox described in a way that could lose or loop files (a destination inside the outbox, ...)."""


@dataclass(frozen=True)
class Outbox:
    """A folder people drop files into, and the three folders its files leave for."""

    path: Path
    released: Path
    review: Path
    quarantine: Path
    channel: str = "watch"

    def folder(self, action: str) -> Path:
        return {"released": self.released, "review": self.review, "quarantine": self.quarantine}[action]

    def check(self) -> None:
        """Refuse layouts where a delivered file would land back in an outbox or two routes would share a folder."""
        places = {"outbox": self.path, "released": self.released, "review": self.review, "quarantine": self.quarantine}
        resolved = {name: p.resolve() for name, p in places.items()}
        for a, pa in resolved.items():
            for b, pb in resolved.items():
                if a < b and (pa == pb or pa in pb.parents or pb in pa.parents):
                    raise OutboxError(f"{self.path}: the {a} and {b} folders must be separate ({pa}, {pb})")


def load_outboxes(table: dict[str, Any], base: Path) -> list[Outbox]:
    """The `[[watch.outbox]]` tables of a configuration; relative paths are relative to the configuration file."""
    entries = table.get("outbox", [])
    if isinstance(entries, dict):
        entries = [entries]
    outboxes = []
    for number, entry in enumerate(entries, 1):
        missing = [k for k in ("path", "released", "review", "quarantine") if not entry.get(k)]
        if missing:
            raise OutboxError(f"[[watch.outbox]] number {number} needs {', '.join(missing)}")
        unknown = set(entry) - {"path", "released", "review", "quarantine", "channel"}
        if unknown:
            raise OutboxError(f"[[watch.outbox]] number {number}: unknown keys {', '.join(sorted(unknown))}")
        paths = {k: base / Path(str(entry[k])).expanduser() for k in ("path", "released", "review", "quarantine")}
        outboxes.append(Outbox(**paths, channel=str(entry.get("channel", "watch"))))
    return outboxes


def display_name(name: str | os.PathLike[str]) -> str:
    """Text for logs, reports and the audit log. Names that are not UTF-8 (GBK from old Windows shares) are decoded
    as GB 18030, so their words are scanned too; what still does not decode becomes U+FFFD, never a lone surrogate."""
    text = os.fspath(name)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        raw = os.fsencode(text)
    for encoding in ("gb18030", "big5"):
        with contextlib.suppress(UnicodeDecodeError):
            return raw.decode(encoding)
    return raw.decode("utf-8", "replace")


def sidecar_of(held: Path) -> Path:
    return held.with_name(held.name + SIDECAR_SUFFIX)


def is_sidecar(path: Path) -> bool:
    """A verdict record sits beside the file it describes (or outlived it, when a release was cut short); a user's
    own `x.verdict.json` has no `x` beside it and is not one of our records."""
    if not path.name.endswith(SIDECAR_SUFFIX):
        return False
    return os.path.lexists(path.with_name(path.name[: -len(SIDECAR_SUFFIX)])) or read_record(path) is not None


def read_record(sidecar: Path) -> dict[str, Any] | None:
    """The verdict record at `sidecar`, or None if there is none (or it is not one of ours)."""
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "move" in record and "verdict" in record else None


def free_name(folder: Path, rel: PurePath, held: bool) -> Path:
    """`folder/rel`, or `name (2).ext`, `name (3).ext`, ... when that name (or its verdict record) is taken."""
    first = folder / rel
    stem, suffix = _split_suffix(first.name)
    for number in range(1, 1_000_000):
        candidate = first if number == 1 else first.with_name(f"{stem} ({number}){suffix}")
        if os.path.lexists(candidate) or is_sidecar(candidate):
            continue
        if held and os.path.lexists(sidecar_of(candidate)):
            continue
        return candidate
    raise FileExistsError(errno.EEXIST, "no free name left", str(first))


def _split_suffix(name: str) -> tuple[str, str]:
    if name.startswith(".") and name.count(".") == 1:
        return name, ""
    for double in (".tar.gz", ".tar.bz2", ".tar.xz", ".tar.zst"):
        if name.lower().endswith(double) and len(name) > len(double):
            return name[: -len(double)], name[-len(double) :]
    stem, dot, ext = name.rpartition(".")
    return (stem, dot + ext) if stem else (name, "")


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


def make_folder(folder: Path, private: bool) -> None:
    """Create `folder` and its parents; a private folder (quarantine) and the folders made below it get mode 0700."""
    if folder.is_dir():
        return
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    for part in reversed(missing):
        with contextlib.suppress(FileExistsError):
            part.mkdir(mode=PRIVATE_MODE if private else 0o777)
    if private and missing:
        for part in missing:
            os.chmod(part, PRIVATE_MODE)


Identity = tuple[int, int]  # (st_dev, st_ino): which file a name pointed at


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


@dataclass
class Move:
    """One journal entry: a file on its way from `source` to `target`."""

    id: int
    token: str  # also in the audit record's extra, so recovery can tell whether the decision was recorded
    owner: int
    boot: str
    started: str
    source: Path
    target: Path
    identity: Identity
    method: str  # rename (or link) on one file system; copy across file systems
    state: str  # begun; copied once the copy is complete and synced
    temp: Path | None
    sidecar: Path | None
    decision: Decision


_JOURNAL_SCHEMA = """
CREATE TABLE IF NOT EXISTS moves (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token TEXT NOT NULL, owner INTEGER NOT NULL, boot TEXT NOT NULL, started TEXT NOT NULL,
    source BLOB NOT NULL, target BLOB NOT NULL, dev INTEGER NOT NULL, ino INTEGER NOT NULL,
    method TEXT NOT NULL, state TEXT NOT NULL, temp BLOB, sidecar BLOB, decision TEXT NOT NULL
);
"""


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


class Journal:
    """Moves in progress, in SQLite (WAL): a row exists from before a move starts until its decision is recorded.

    Paths are stored as bytes: names in any encoding survive the round trip."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # a killed process loses nothing; power loss is for fsync
        self._db.executescript(_JOURNAL_SCHEMA)
        self.boot = _boot_id()

    def begin(self, source: Path, target: Path, identity: Identity, sidecar: Path | None, decision: Decision) -> Move:
        move = Move(
            id=0,
            token=uuid.uuid4().hex,
            owner=os.getpid(),
            boot=self.boot,
            started=datetime.now(UTC).isoformat(timespec="milliseconds"),
            source=source,
            target=target,
            identity=identity,
            method="rename",
            state="begun",
            temp=None,
            sidecar=sidecar,
            decision=decision,
        )
        decision.extra["move"] = move.token
        cursor = self._db.execute(
            "INSERT INTO moves (token, owner, boot, started, source, target, dev, ino, method, state, temp, sidecar,"
            " decision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                move.token,
                move.owner,
                move.boot,
                move.started,
                os.fsencode(source),
                os.fsencode(target),
                *identity,
                move.method,
                move.state,
                None,
                os.fsencode(sidecar) if sidecar else None,
                json.dumps(asdict(decision), ensure_ascii=False),
            ),
        )
        move.id = int(cursor.lastrowid or 0)
        return move

    def update(self, move: Move, **fields: str | Path) -> None:
        for name, value in fields.items():
            setattr(move, name, value)
            stored = os.fsencode(value) if isinstance(value, Path) else value
            self._db.execute(f"UPDATE moves SET {name} = ? WHERE id = ?", (stored, move.id))

    def finish(self, move: Move) -> None:
        self._db.execute("DELETE FROM moves WHERE id = ?", (move.id,))

    def unfinished(self) -> Iterator[Move]:
        """Moves whose process is gone (or is this one, between moves): the ones recovery may touch."""
        rows = self._db.execute(
            "SELECT id, token, owner, boot, started, source, target, dev, ino, method, state, temp, sidecar, decision"
            " FROM moves ORDER BY id"
        ).fetchall()
        for row in rows:
            (mid, token, owner, boot, started, source, target, dev, ino, method, state, temp, sidecar, decision) = row
            if owner != os.getpid() and boot == self.boot and _alive(owner):
                continue
            yield Move(
                id=mid,
                token=token,
                owner=owner,
                boot=boot,
                started=started,
                source=Path(os.fsdecode(source)),
                target=Path(os.fsdecode(target)),
                identity=(dev, ino),
                method=method,
                state=state,
                temp=Path(os.fsdecode(temp)) if temp else None,
                sidecar=Path(os.fsdecode(sidecar)) if sidecar else None,
                decision=Decision(**json.loads(decision)),
            )

    def close(self) -> None:
        self._db.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
