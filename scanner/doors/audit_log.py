"""`baomi audit`: the decision log for the confidentiality officer: recent decisions, filtered, or exported.

It reads the log every door writes (scanner.audit: SQLite or PostgreSQL) and never changes it.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

from scanner import times
from scanner.audit import Action, AuditLog, Decision, audit_location
from scanner.command import UsageError, config_of, count
from scanner.config import AuditTable
from scanner.database import is_url
from scanner.i18n import Message, _, msg, render
from scanner.model import Verdict
from scanner.policy import CHANNELS
from scanner.report import printable
from scanner.titles import action_title, verdict_word

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
    "rule_set",
)
_RELATIVE = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)?$")


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "audit",
        parents=[common],
        help=_("show or export the decision log"),
        description=_(
            "Recent decisions of every door, newest first. Times are shown in the local zone, with the zone named; "
            "--since and --until take a local date (2026-11-27), a local time (2026-11-27T08:30), 'today', or an "
            "age such as 30m, 12h, 7d, 2w. Exports (csv, json) keep the log's own times, in UTC."
        ),
    )
    parser.add_argument("--verdict", choices=("pass", "flag", "block"), help=_("only decisions with this verdict"))
    parser.add_argument("--channel", choices=CHANNELS, help=_("only decisions of this channel (and those built on it)"))
    parser.add_argument("--since", metavar=_("WHEN"), help=_("from this date or time on"))
    parser.add_argument("--until", metavar=_("WHEN"), help=_("up to this time, or to the end of this date"))
    parser.add_argument(
        "--limit", type=count, metavar="N", help=_("at most N decisions (default: 50 shown, all exported)")
    )
    parser.add_argument(
        "--format", choices=("text", "csv", "json"), default="text", help=_("text for people, csv or json to export")
    )
    parser.add_argument(
        "--output", "-o", type=Path, metavar=_("FILE"), help=_("write to FILE instead of standard output")
    )
    parser.add_argument("--audit", type=Path, metavar=_("PATH"), help=_("the decision log (default: [audit] path)"))
    parser.set_defaults(run=run_audit)


def when(text: str, now: datetime | None = None, *, end: bool = False) -> str:
    """A --since/--until value as the log's own text (UTC, ISO 8601). A date or time is the reader's, in the local
    zone; a date given for the `end` of a range (--until) runs to its end."""
    now = now or times.now()
    text = text.strip()
    relative = _RELATIVE.match(text)
    if relative:
        age = timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
        return times.stored(now - age)
    zone = times.local_zone()
    if text == "today":
        text = now.astimezone(zone).date().isoformat()
    if not _DATE.match(text):
        example = "2026-11-27, 2026-11-27T08:30, today, 12h, 7d"
        raise UsageError(msg("Not a date, time or age: “{text}” (try {examples}).", text=text, examples=example))
    moment = datetime.fromisoformat(text.replace(" ", "T")).replace(tzinfo=zone)
    if end and "T" not in text.replace(" ", "T"):
        moment += timedelta(days=1)
    return times.stored(moment)


def run_audit(args: argparse.Namespace) -> int:
    path = audit_location(config_of(args).table(AuditTable), args.audit)
    if not is_url(path) and not Path(path).is_file():
        raise UsageError(
            msg("There is no audit log at {path} (set [audit] path or url, $BAOMI_AUDIT or --audit).", path=str(path))
        )
    limit = args.limit if args.limit is not None else (50 if args.format == "text" else None)
    log = AuditLog(path)
    try:
        decisions = log.query(
            verdict=args.verdict,
            channel=[c for c, parent in CHANNELS.items() if args.channel in (c, parent)] if args.channel else None,
            since=when(args.since) if args.since else None,
            until=when(args.until, end=True) if args.until else None,
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
            out.write(_("No decisions.") + "\n")


def render_line(d: Decision) -> str:
    """A decision for a person: its time in the local zone (zone named), the door's words in the reader's language."""
    rules = ",".join(d.rules) or "-"
    verdict = verdict_word(Verdict.parse(d.verdict)) if d.verdict in ("pass", "flag", "block") else d.verdict
    said = d.extra.get("message") if d.action in (Action.RELOADED, Action.RELOAD_FAILED) else None
    name = render(Message.from_dict(said)) if isinstance(said, dict) else d.name  # a reload: what came of it
    line = f"{times.shown(d.time)}  {d.channel:5} {verdict:5} {action_title(d.action):11} {name}  {rules}"
    if d.actor:
        line += render(msg("  [{actor}: {reason}]", actor=d.actor, reason=d.reason or ""))
    return printable(line)  # names come from senders and outbox writers: no line of theirs may look like ours
