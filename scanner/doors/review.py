"""`baomi review`: the confidentiality officer's view of the files `baomi watch` holds, and their release or keeping.

Every release and every keep is a decision in the audit log, with the reviewer's name and reason.
"""

from __future__ import annotations

import argparse
import errno
import getpass
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scanner.audit import REDACT_CHARS, Action, AuditLog, Decision
from scanner.command import UsageError, config_of
from scanner.outbox.handles import ContentChanged, open_held
from scanner.outbox.layout import Outbox, display_name, is_sidecar, is_temporary, read_record, sidecar_of
from scanner.outbox.mover import Mover
from scanner.outbox.options import add_outbox_arguments, audit_path, open_logs, outboxes_of
from scanner.report import printable

HELD = ("review", "quarantine")


@dataclass
class Held:
    """A file waiting in a review or quarantine folder, with its verdict record (None if it has none)."""

    outbox: Outbox
    route: str  # review or quarantine
    path: Path
    record: dict[str, Any] | None

    @property
    def rel(self) -> Path:
        return self.path.relative_to(self.outbox.folder(self.route))

    @property
    def kept(self) -> dict[str, Any] | None:
        return self.record.get("kept") if self.record else None


def held_files(outboxes: list[Outbox]) -> Iterator[Held]:
    for outbox in outboxes:
        for route in HELD:
            for root, dirs, names in os.walk(outbox.folder(route)):
                dirs.sort()
                for name in sorted(names):
                    path = Path(root) / name
                    if not is_sidecar(path) and not is_temporary(name):
                        yield Held(outbox, route, path, read_record(sidecar_of(path)))


def find_held(outboxes: list[Outbox], name: Path) -> Held:
    """The held file `name`: a path, or a path relative to a review or quarantine folder (which must say which)."""
    wanted = name.absolute()
    found: dict[Path, Held] = {}
    for outbox in outboxes:
        for route in HELD:
            folder = outbox.folder(route)
            for path in (wanted, folder / name):
                if folder in path.parents and path.is_file() and not is_sidecar(path):
                    found.setdefault(path, Held(outbox, route, path, read_record(sidecar_of(path))))
    if len(found) > 1:
        raise UsageError(f"{name} is held in several folders ({', '.join(map(str, found))}): give the full path")
    if not found:
        raise UsageError(f"{name} is not a file held in a review or quarantine folder")
    return next(iter(found.values()))


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "review",
        parents=[common],
        help="list the files held for review or quarantined; release or keep them",
        description="The files `baomi watch` held: list them, show why, release them (with a reason, recorded in the "
        "audit log) or keep them. Outboxes come from [[watch.outbox]] of --config, or from --outbox and the "
        "three folders.",
    )
    add_outbox_arguments(parser, positional=False)
    parser.set_defaults(run=run_list, format="text")
    actions = parser.add_subparsers(metavar="ACTION")
    listing = actions.add_parser("list", help="the held files (the default)")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    listing.set_defaults(run=run_list)
    show = actions.add_parser("show", help="why a file is held: its findings")
    show.add_argument("files", nargs="+", type=Path, metavar="FILE")
    show.set_defaults(run=run_show)
    for verb, helptext, function in (
        ("release", "send held files on to the released folder", run_release),
        ("keep", "keep held files where they are, and say why", run_keep),
    ):
        sub = actions.add_parser(verb, help=helptext)
        sub.add_argument("files", nargs="+", type=Path, metavar="FILE")
        sub.add_argument("--reason", required=True, help="why (recorded in the audit log)")
        sub.add_argument("--reviewer", default=_reviewer(), help="who decides (default: the user running this)")
        sub.set_defaults(run=function)
    actions.choices["release"].add_argument(
        "--force", action="store_true", help="release even a quarantined (blocked) file"
    )


def _say(line: str) -> None:
    """A line for the reviewer's terminal: names and contexts come from outbox writers, so control characters in
    them are shown escaped and cannot forge or hide lines."""
    print(printable(line))


def _reviewer() -> str:
    return os.environ.get("SUDO_USER") or getpass.getuser()


def _outboxes(args: argparse.Namespace) -> list[Outbox]:
    return outboxes_of(args, config_of(args))


def run_list(args: argparse.Namespace) -> int:
    held = list(held_files(_outboxes(args)))
    if args.format == "json":
        rows = [
            {"path": display_name(h.path), "route": h.route, "outbox": display_name(h.outbox.path), "record": h.record}
            for h in held
        ]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if not held:
        _say("nothing is held")
        return 0
    for h in held:
        record = h.record or {}
        state = "kept" if h.kept else h.route
        when = str(record.get("time", "?"))[:16].replace("T", " ")
        rules = ", ".join(record.get("rules", [])) or "(no verdict record)"
        _say(f"{state:10} {record.get('verdict', '?'):5} {when:16}  {display_name(h.path)}  {rules}")
    _say(
        f"{len(held)} held: {sum(h.route == 'review' for h in held)} for review, "
        f"{sum(h.route == 'quarantine' for h in held)} in quarantine"
    )
    return 0


def run_show(args: argparse.Namespace) -> int:
    outboxes = _outboxes(args)
    for name in args.files:
        h = find_held(outboxes, name)
        record = h.record or {}
        _say(f"{display_name(h.path)}: {record.get('verdict', 'no verdict record')} ({h.route})")
        _say(f"  from {record.get('outbox', '?')} ({record.get('channel', '?')}) at {record.get('time', '?')}")
        for finding in record.get("findings", []):
            where = finding.get("location", {}).get("part", "")
            _say(f"  {finding['action']:5} {finding['rule']} in {where}: {finding.get('context') or finding['text']}")
            if finding.get("explanation"):
                _say(f"        {finding['explanation']}")
        for error in record.get("errors", []):
            _say(f"  error: {error}")
        if h.kept:
            _say(f"  kept by {h.kept['by']} at {h.kept['time']}: {h.kept['reason']}")
    return 0


def run_release(args: argparse.Namespace) -> int:
    outboxes = _outboxes(args)
    held = [find_held(outboxes, name) for name in args.files]
    blocked = [h for h in held if h.route == "quarantine" and not args.force]
    if blocked:
        names = ", ".join(display_name(h.path) for h in blocked)
        raise UsageError(f"quarantined (blocked) files are released only with --force: {names}")
    audit, journal = open_logs(args, config_of(args))
    mover = Mover(journal, audit)
    mover.recover()
    status = 0
    for h in held:
        status |= _release(mover, h, args)
    mover.sync()
    audit.close()
    journal.close()
    return status


def _release(mover: Mover, h: Held, args: argparse.Namespace) -> int:
    """Send a held file on: a copy of it, checked against the hash its verdict record names, so that what leaves is
    what was scanned (and what the reviewer was shown)."""
    record = h.record or {}
    folder = h.outbox.folder(h.route)
    try:
        with open_held(folder, h.rel) as held:
            if not record.get("sha256") or held.fd is None:
                raise ContentChanged(errno.EINVAL, "no verdict record", str(h.path))
            decision = _decision(h, record, Action.RELEASED, args)
            target = mover.complete_one(mover.place(held, h.outbox.released, h.rel, decision))
    except ContentChanged:
        print(
            f"baomi: not released: {printable(display_name(h.path))} changed since its scan (or has no verdict "
            "record); put it back into its outbox to be scanned again",
            file=sys.stderr,
        )
        return 1
    os.unlink(sidecar_of(h.path))  # the audit log now holds the decision; an orphan is ignored if we stop first
    _say(f"released {display_name(h.path)} → {display_name(target)}")
    return 0


def run_keep(args: argparse.Namespace) -> int:
    outboxes = _outboxes(args)
    held = [find_held(outboxes, name) for name in args.files]
    audit = AuditLog(audit_path(args, config_of(args)))
    for h in held:
        record = dict(h.record or {})
        audit.record(_decision(h, record, Action.HELD, args))
        record["kept"] = {
            "by": args.reviewer,
            "reason": args.reason,
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        record.setdefault("move", "")
        record.setdefault("verdict", "?")
        sidecar = sidecar_of(h.path)
        temp = sidecar.with_name(f".{sidecar.name}.baomi-part")  # a temporary name: listings skip it
        temp.write_text(json.dumps(record, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        os.replace(temp, sidecar)  # our own record, rewritten whole
        _say(f"kept {display_name(h.path)}")
    audit.close()
    return 0


def _decision(h: Held, record: dict[str, Any], action: Action, args: argparse.Namespace) -> Decision:
    """A reviewer's decision: the file's verdict as the watcher recorded it, what the reviewer did, who and why."""
    contexts = " | ".join(f"{f['rule']}: {f['context']}" for f in record.get("findings", []) if f.get("context"))
    return Decision(
        channel=str(record.get("channel", h.outbox.channel)),
        source=display_name(h.outbox.path),
        name=str(record.get("file", display_name(h.rel))),
        size=int(record.get("size", h.path.stat().st_size)),
        sha256=str(record.get("sha256", "")),
        verdict=str(record.get("verdict", "?")),
        action=action,
        rules=list(record.get("rules", [])),
        context=contexts[:REDACT_CHARS],
        actor=args.reviewer,
        reason=args.reason,
        extra={"held": display_name(h.path)},
    )
