"""The journal of moves in progress: a row exists from before a file starts moving until its decision is recorded,
so that after a crash at any step the mover can finish or undo the move.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from scanner.audit import Decision

Identity = tuple[int, int]  # (st_dev, st_ino): which file a name pointed at


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
    method: str  # copy: a copy of the bytes scanned; rename: the file itself (one nobody may read)
    state: str  # begun; copied once the copy is complete and synced
    temp: Path | None
    sidecar: Path | None
    decision: Decision
    root: Path | None = None  # the outbox (or held folder) the source is in: no link below it is followed


_JOURNAL_SCHEMA = """
CREATE TABLE IF NOT EXISTS moves (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token TEXT NOT NULL, owner INTEGER NOT NULL, boot TEXT NOT NULL, started TEXT NOT NULL,
    source BLOB NOT NULL, target BLOB NOT NULL, dev INTEGER NOT NULL, ino INTEGER NOT NULL,
    method TEXT NOT NULL, state TEXT NOT NULL, temp BLOB, sidecar BLOB, decision TEXT NOT NULL, root BLOB
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
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(moves)")}
        if "root" not in columns:  # a journal from before sources were held by descriptor
            self._db.execute("ALTER TABLE moves ADD COLUMN root BLOB")
        self.boot = _boot_id()

    def begin(
        self,
        source: Path,
        target: Path,
        identity: Identity,
        sidecar: Path | None,
        decision: Decision,
        method: str,
        root: Path | None,
    ) -> Move:
        move = Move(
            id=0,
            token=uuid.uuid4().hex,
            owner=os.getpid(),
            boot=self.boot,
            started=datetime.now(UTC).isoformat(timespec="milliseconds"),
            source=source,
            target=target,
            identity=identity,
            method=method,
            state="begun",
            temp=None,
            sidecar=sidecar,
            decision=decision,
            root=root,
        )
        decision.extra["move"] = move.token
        cursor = self._db.execute(
            "INSERT INTO moves (token, owner, boot, started, source, target, dev, ino, method, state, temp, sidecar,"
            " decision, root) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                os.fsencode(root) if root else None,
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
            "SELECT id, token, owner, boot, started, source, target, dev, ino, method, state, temp, sidecar, decision,"
            " root FROM moves ORDER BY id"
        ).fetchall()
        for row in rows:
            (
                mid,
                token,
                owner,
                boot,
                started,
                source,
                target,
                dev,
                ino,
                method,
                state,
                temp,
                sidecar,
                decision,
                root,
            ) = row
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
                root=Path(os.fsdecode(root)) if root else None,
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
