"""The decision log: every verdict a door acts on, kept in SQLite (WAL) for the confidentiality officer.

Records carry short redacted contexts only, never documents.
"""

from __future__ import annotations

import enum
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scanner.config import AuditTable
from scanner.model import FileReport

_SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    channel TEXT NOT NULL,
    source TEXT NOT NULL,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    verdict TEXT NOT NULL,
    action TEXT NOT NULL,
    rules TEXT NOT NULL,
    context TEXT NOT NULL,
    actor TEXT,
    reason TEXT,
    extra TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_time ON decisions(time);
"""
REDACT_CHARS = 60  # at most this many characters of context per decision


class Action(enum.StrEnum):
    """What a door did with a file, a message or an upload: one vocabulary for every door."""

    RELEASED = "released"  # sent on to where it was going: an outbox's released folder (by the watcher or a reviewer)
    ALLOWED = "allowed"  # let through as it came: mail accepted, an upload passed on or answered as clean
    HELD = "held"  # waits for a person: a review folder, Postfix's hold queue, the publishing desk; kept by a reviewer
    QUARANTINED = "quarantined"  # put where only the service account can read it
    REFUSED = "refused"  # turned away: SMTP 550, HTTP 403, the content system told to reject it
    TEMPFAILED = "tempfailed"  # not judged now: SMTP 451, the sender tries again later


@dataclass
class Decision:
    """One door's decision about one file (or message, or upload)."""

    channel: str  # scan, watch, mail, web
    source: str  # which outbox, which client, which Message-ID
    name: str
    size: int
    sha256: str
    verdict: str  # pass, flag, block
    action: str  # what the door did: an Action (older logs may hold other words)
    rules: list[str] = field(default_factory=list)
    context: str = ""
    actor: str | None = None  # the reviewer, for a release by hand
    reason: str | None = None  # the reviewer's reason
    extra: dict[str, Any] = field(default_factory=dict)  # sender, recipients, token name, ...
    time: str = ""
    id: int | None = None

    @classmethod
    def of(cls, report: FileReport, channel: str, source: str, action: str, **extra: Any) -> Decision:
        contexts = " | ".join(f"{f.rule}: {f.context}" for f in report.findings if f.context)
        return cls(
            channel=channel,
            source=source,
            name=report.path,
            size=report.size,
            sha256=report.sha256,
            verdict=str(report.verdict),
            action=action,
            rules=report.rules,
            context=contexts[:REDACT_CHARS],
            extra=extra,
        )


def default_audit_path(table: AuditTable) -> Path:
    """Where the decision log lives: [audit] path in the configuration, else $BAOMI_AUDIT, else the user's state
    folder (a service sets one of the first two)."""
    configured = table.path or os.environ.get("BAOMI_AUDIT")
    if configured:
        return Path(configured)
    state = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(state) / "baomi" / "audit.db"


class AuditLog:
    """An append-only SQLite log, safe to share between the processes of several doors and the threads of one."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # one connection, used by every thread of the door
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def record(self, decision: Decision) -> int:
        """Append `decision`; its id (also set on it)."""
        decision.time = decision.time or datetime.now(UTC).isoformat(timespec="milliseconds")
        row = asdict(decision)
        row.pop("id")
        row["rules"] = json.dumps(decision.rules, ensure_ascii=False)
        row["extra"] = json.dumps(decision.extra, ensure_ascii=False)
        sql = f"INSERT INTO decisions ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})"
        with self._lock:
            cursor = self._db.execute(sql, tuple(row.values()))
        decision.id = cursor.lastrowid
        return int(cursor.lastrowid or 0)

    def query(
        self,
        verdict: str | None = None,
        channel: str | Sequence[str] | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int | None = 100,
    ) -> list[Decision]:
        """Newest first. `channel` is one or several; `since` and `until` are ISO dates or times (UTC), compared as
        text."""
        where, args = [], []
        for column, op, value in (("verdict", "=", verdict), ("time", ">=", since)):
            if value:
                where.append(f"{column} {op} ?")
                args.append(value)
        if channel:
            channels = [channel] if isinstance(channel, str) else list(channel)
            where.append(f"channel IN ({', '.join('?' * len(channels))})")
            args.extend(channels)
        if until:
            where.append("time < ?")
            args.append(until if "T" in until else until + "T99")
        sql = "SELECT * FROM decisions" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return list(self._rows(sql, args))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _rows(self, sql: str, args: list[Any]) -> Iterator[Decision]:
        with self._lock:
            cursor = self._db.execute(sql, args)
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        for values in rows:
            row = dict(zip(names, values, strict=True))
            row["rules"] = json.loads(row["rules"])
            row["extra"] = json.loads(row["extra"])
            yield Decision(**row)
