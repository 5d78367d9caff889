"""The decision log: every verdict a door acts on, kept for the confidentiality officer in SQLite (WAL), or in
PostgreSQL ([audit] url) where several gateway hosts share one log.

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
from scanner.database import Database
from scanner.model import FileReport

_SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    id {serial},
    time TEXT NOT NULL,
    channel TEXT NOT NULL,
    source TEXT NOT NULL,
    name TEXT NOT NULL,
    size {bigint} NOT NULL,
    sha256 TEXT NOT NULL,
    verdict TEXT NOT NULL,
    action TEXT NOT NULL,
    rules TEXT NOT NULL,
    context TEXT NOT NULL,
    actor TEXT,
    reason TEXT,
    extra TEXT NOT NULL,
    rule_set TEXT NOT NULL DEFAULT ''
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
    # Not about a file: the door's rules. The record's rule_set is the one in force afterwards.
    RELOADED = "reloaded"  # new dictionaries or policy put in force while the door runs (name: what asked for it)
    RELOAD_FAILED = "reload-failed"  # they could not be read: the rules in force stay (reason: why)


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
    rule_set: str = ""  # the fingerprint of the rules the verdict was reached under (scanner.ruleset)
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
            rule_set=report.rule_set,
        )


def _add_rule_set_column(db: Database) -> None:
    """A SQLite log written before records named their rule set gets the column (its old records: ""); a log in
    PostgreSQL had it from the start."""
    if db.kind == "sqlite" and "rule_set" not in {row[1] for row in db.rows("PRAGMA table_info(decisions)")}:
        try:
            db.execute("ALTER TABLE decisions ADD COLUMN rule_set TEXT NOT NULL DEFAULT ''")
        except sqlite3.OperationalError as exc:  # another door's process added it a moment ago
            if "duplicate column" not in str(exc):
                raise


def default_audit_path(table: AuditTable) -> Path:
    """Where the decision log lives: [audit] path in the configuration, else $BAOMI_AUDIT, else the user's state
    folder (a service sets one of the first two)."""
    configured = table.path or os.environ.get("BAOMI_AUDIT")
    if configured:
        return Path(configured)
    state = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(state) / "baomi" / "audit.db"


def audit_location(table: AuditTable, given: Path | None = None) -> Path | str:
    """Where a door logs its decisions: `given` (its --audit option), else [audit] url (PostgreSQL), else the SQLite
    file of `default_audit_path`."""
    return given or table.url or default_audit_path(table)


class AuditLog:
    """An append-only log in a SQLite file or a PostgreSQL database (a postgresql:// URL), safe to share between the
    processes of several doors (on several hosts, in PostgreSQL) and the threads of one."""

    def __init__(self, location: str | Path) -> None:
        self.location = location
        self._lock = threading.Lock()  # one connection, used by every thread of the door
        self._db = Database(location)
        self._db.create(_SCHEMA)
        _add_rule_set_column(self._db)

    def record(self, decision: Decision) -> int:
        """Append `decision`; its id (also set on it)."""
        decision.time = decision.time or datetime.now(UTC).isoformat(timespec="milliseconds")
        row = asdict(decision)
        row.pop("id")
        row["rules"] = json.dumps(decision.rules, ensure_ascii=False)
        row["extra"] = json.dumps(decision.extra, ensure_ascii=False)
        sql = f"INSERT INTO decisions ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})"
        with self._lock:
            decision.id = self._db.insert(sql, tuple(row.values()))
        return decision.id

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
