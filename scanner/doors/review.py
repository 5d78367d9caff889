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
from pathlib import Path
from typing import Any

from scanner import times
from scanner.audit import REDACT_CHARS, Action, AuditLog, Decision
from scanner.command import UsageError, config_of
from scanner.i18n import N_, Message, _, msg, render
from scanner.model import Location, Verdict
from scanner.outbox.handles import ContentChanged, open_held
from scanner.outbox.layout import Outbox, display_name, is_sidecar, is_temporary, read_record, sidecar_of
from scanner.outbox.mover import Mover
from scanner.outbox.options import add_outbox_arguments, audit_path, open_logs, outboxes_of
from scanner.report import printable
from scanner.titles import verdict_title, verdict_word, where

HELD = ("review", "quarantine")
# Where a held file waits, and a file kept there by a reviewer, as the listing says it.
STATES = {"review": N_("for review"), "quarantine": N_("quarantined"), "kept": N_("kept")}


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
        folders = ", ".join(map(str, found))
        raise UsageError(
            msg("{name} is held in several folders ({folders}): give the full path.", name=str(name), folders=folders)
        )
    if not found:
        raise UsageError(msg("{name} is not a file held in a review or quarantine folder.", name=str(name)))
    return next(iter(found.values()))


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "review",
        parents=[common],
        help=_("list the files held for review or quarantined; release or keep them"),
        description=_(
            "The files `baomi watch` held: list them, show why, release them (with a reason, recorded in the audit "
            "log) or keep them. Outboxes come from [[watch.outbox]] of --config, or from --outbox and the three "
            "folders."
        ),
    )
    add_outbox_arguments(parser, positional=False)
    parser.set_defaults(run=run_list, format="text")
    actions = parser.add_subparsers(metavar=_("ACTION"))
    listing = actions.add_parser("list", help=_("the held files (the default)"))
    listing.add_argument(
        "--format", choices=("text", "json"), default="text", help=_("text for people, json for tools")
    )
    listing.set_defaults(run=run_list)
    show = actions.add_parser("show", help=_("why a file is held: its findings"))
    show.add_argument("files", nargs="+", type=Path, metavar=_("FILE"), help=_("held files"))
    show.set_defaults(run=run_show)
    for verb, helptext, function in (
        ("release", _("send held files on to the released folder"), run_release),
        ("keep", _("keep held files where they are, and say why"), run_keep),
    ):
        sub = actions.add_parser(verb, help=helptext)
        sub.add_argument("files", nargs="+", type=Path, metavar=_("FILE"), help=_("held files"))
        sub.add_argument("--reason", required=True, metavar=_("REASON"), help=_("why (recorded in the audit log)"))
        sub.add_argument(
            "--reviewer",
            default=_reviewer(),
            metavar=_("NAME"),
            help=_("who decides (default: the user running this)"),
        )
        sub.set_defaults(run=function)
    actions.choices["release"].add_argument(
        "--force", action="store_true", help=_("release even a quarantined (blocked) file")
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
        _say(_("Nothing is held."))
        return 0
    for h in held:
        record = h.record or {}
        state = _(STATES["kept" if h.kept else h.route])
        rules = ", ".join(record.get("rules", [])) or _("(no verdict record)")
        _say(f"{state:10} {_verdict(record, verdict_word):5} {_when(record):16}  {display_name(h.path)}  {rules}")
    held_count = msg(
        "{count} held: {review} for review, {quarantine} in quarantine.",
        count=len(held),
        review=sum(h.route == "review" for h in held),
        quarantine=sum(h.route == "quarantine" for h in held),
    )
    _say(render(held_count))
    return 0


def _verdict(record: dict[str, Any], word: Any) -> str:
    """The record's verdict as `word` (verdict_word or verdict_title) says it; "?" for a record without one."""
    verdict = record.get("verdict")
    return word(Verdict.parse(verdict)) if verdict in ("pass", "flag", "block") else "?"


def _when(record: dict[str, Any]) -> str:
    """When the watcher decided, in the local zone with the zone named; "?" for a record without a time."""
    try:
        return times.shown(str(record["time"]))
    except (KeyError, ValueError):
        return "?"


def _reason(finding: dict[str, Any]) -> str:
    """Why a finding's rule fired, in the reviewer's language when the watcher kept the reason as data, else the
    English sentence of an older record."""
    kept = finding.get("reason")
    if isinstance(kept, dict):
        try:
            return render(Message.from_dict(kept))
        except (KeyError, TypeError, ValueError):
            pass
    return str(finding.get("explanation") or "")


def _where(finding: dict[str, Any]) -> str:
    found = finding.get("location") or {}
    try:
        location = Location(
            str(found["part"]), int(found.get("line", 0)), int(found.get("column", 0)), found.get("page")
        )
    except (KeyError, TypeError, ValueError):
        return str(found.get("part", "?"))
    return where(location)


def run_show(args: argparse.Namespace) -> int:
    outboxes = _outboxes(args)
    for name in args.files:
        h = find_held(outboxes, name)
        record = h.record or {}
        verdict = _verdict(record, verdict_title) if record else _("no verdict record")
        _say(
            render(
                msg(
                    "{file}: {verdict} ({state})",
                    file=display_name(h.path),
                    verdict=verdict,
                    state=msg(STATES[h.route]),
                )
            )
        )
        came = msg(
            "  from {outbox} (channel {channel}) at {time}",
            outbox=str(record.get("outbox", "?")),
            channel=str(record.get("channel", "?")),
            time=_when(record),
        )
        _say(render(came))
        for finding in record.get("findings", []):
            action = Verdict.parse(finding["action"]) if finding.get("action") in ("pass", "flag", "block") else None
            shown = msg(
                "  {action} {rule} at {where}: {context}",
                action=f"{verdict_word(action):5}" if action is not None else "?",
                rule=str(finding.get("rule", "?")),
                where=_where(finding),
                context=str(finding.get("context") or finding.get("text", "")),
            )
            _say(render(shown))
            reason = _reason(finding)
            if reason:
                _say(f"        {reason}")
        if h.kept:
            kept = msg(
                "  kept by {reviewer} at {time}: {reason}",
                reviewer=str(h.kept.get("by", "?")),
                time=_when(h.kept),
                reason=str(h.kept.get("reason", "")),
            )
            _say(render(kept))
    return 0


def run_release(args: argparse.Namespace) -> int:
    outboxes = _outboxes(args)
    held = [find_held(outboxes, name) for name in args.files]
    blocked = [h for h in held if h.route == "quarantine" and not args.force]
    if blocked:
        names = ", ".join(display_name(h.path) for h in blocked)
        raise UsageError(msg("Quarantined (blocked) files are released only with --force: {names}.", names=names))
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
        changed = msg(
            "Not released: {file} changed since its scan (or has no verdict record); put it back into its outbox "
            "to be scanned again.",
            file=printable(display_name(h.path)),
        )
        print(f"baomi: {render(changed)}", file=sys.stderr)
        return 1
    os.unlink(sidecar_of(h.path))  # the audit log now holds the decision; an orphan is ignored if we stop first
    _say(render(msg("Released {file} → {target}", file=display_name(h.path), target=display_name(target))))
    return 0


def run_keep(args: argparse.Namespace) -> int:
    outboxes = _outboxes(args)
    held = [find_held(outboxes, name) for name in args.files]
    audit = AuditLog(audit_path(args, config_of(args)))
    for h in held:
        record = dict(h.record or {})
        audit.record(_decision(h, record, Action.HELD, args))
        record["kept"] = {"by": args.reviewer, "reason": args.reason, "time": times.stored()}
        record["kept"]["time_shown"] = times.shown(record["kept"]["time"])
        record.setdefault("move", "")
        record.setdefault("verdict", "?")
        sidecar = sidecar_of(h.path)
        temp = sidecar.with_name(f".{sidecar.name}.baomi-part")  # a temporary name: listings skip it
        temp.write_text(json.dumps(record, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        os.replace(temp, sidecar)  # our own record, rewritten whole
        _say(render(msg("Kept {file}", file=display_name(h.path))))
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
        rule_set=str(record.get("rule_set", "")),
    )
