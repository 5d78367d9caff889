"""`baomi audit`: the decision log for the confidentiality officer: recent decisions, filtered, or exported.

It reads the SQLite log every door writes (scanner.audit) and never changes it.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from scanner.audit import AuditLog, Decision, default_audit_path
from scanner.command import UsageError, config_of
from scanner.config import AuditTable
from scanner.policy import CHANNELS
from scanner.report import printable

COLUMNS = (
    "id",
    "time",
    "channel",
    "source",
    "name",
    "size",
    "sha256",
    "verdict",
    "action",
    "rules",
    "context",
    "actor",
    "reason",
    "extra",
)
_RELATIVE = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)?$")


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "audit",
        parents=[common],
        help="show or export the decision log",
        description="Recent decisions of every door, newest first. Times are UTC; --since and --until take a date "
        "(2026-11-27), a time (2026-11-27T08:30), 'today', or an age such as 30m, 12h, 7d, 2w.",
    )
    parser.add_argument("--verdict", choices=("pass", "flag", "block"))
    parser.add_argument("--channel", choices=CHANNELS)
    parser.add_argument("--since", metavar="WHEN", help="from this date or time on")
    parser.add_argument("--until", metavar="WHEN", help="up to this time, or to the end of this date")
    parser.add_argument("--limit", type=int, metavar="N", help="at most N decisions (default: 50 shown, all exported)")
    parser.add_argument("--format", choices=("text", "csv", "json"), default="text")
    parser.add_argument("--output", "-o", type=Path, metavar="FILE", help="write to FILE instead of standard output")
    parser.add_argument("--audit", type=Path, metavar="PATH", help="the decision log (default: [audit] path)")
    parser.set_defaults(run=run_audit)


def when(text: str, now: datetime | None = None) -> str:
    """A --since/--until value as the log's own ISO text (UTC)."""
    now = now or datetime.now(UTC)
    text = text.strip()
    if text == "today":
        return now.date().isoformat()
    relative = _RELATIVE.match(text)
    if relative:
        age = timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
        return (now - age).isoformat(timespec="seconds")
    if _DATE.match(text):
        return text.replace(" ", "T")
    raise UsageError(f"not a date, time or age: {text!r} (try 2026-11-27, 2026-11-27T08:30, today, 12h or 7d)")


def run_audit(args: argparse.Namespace) -> int:
    path = args.audit or default_audit_path(config_of(args).table(AuditTable))
    if not Path(path).is_file():
        raise UsageError(f"no audit log at {path} (set [audit] path, $BAOMI_AUDIT or --audit)")
    limit = args.limit if args.limit is not None else (50 if args.format == "text" else None)
    log = AuditLog(path)
    try:
        decisions = log.query(
            verdict=args.verdict,
            channel=[c for c, parent in CHANNELS.items() if args.channel in (c, parent)] if args.channel else None,
            since=when(args.since) if args.since else None,
            until=when(args.until) if args.until else None,
            limit=limit or None,
        )
    finally:
        log.close()
    if args.output is None:
        write(decisions, args.format, sys.stdout)
    else:
        with args.output.open("w", encoding="utf-8", newline="") as out:
            write(decisions, args.format, out)
    return 0


def write(decisions: list[Decision], fmt: str, out: IO[str]) -> None:
    if fmt == "json":
        json.dump([asdict(d) for d in decisions], out, ensure_ascii=False, indent=2)
        out.write("\n")
    elif fmt == "csv":
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for d in decisions:
            row = asdict(d)
            row["rules"] = " ".join(d.rules)
            row["extra"] = json.dumps(d.extra, ensure_ascii=False)
            writer.writerow(["" if row[c] is None else row[c] for c in COLUMNS])
    else:
        for d in decisions:
            out.write(render_line(d) + "\n")
        if not decisions:
            out.write("no decisions\n")


def render_line(d: Decision) -> str:
    rules = ",".join(d.rules) or "-"
    line = f"{d.time[:19].replace('T', ' ')}  {d.channel:5} {d.verdict:5} {d.action:11} {d.name}  {rules}"
    if d.actor:
        line += f"  [{d.actor}: {d.reason or ''}]"
    return printable(line)  # names come from senders and outbox writers: no line of theirs may look like ours
