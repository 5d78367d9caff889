"""The outboxes a command works on, and its logs: the command-line options `baomi watch` and `baomi review` share,
read together with [[watch.outbox]], [watch] and [audit] of the configuration.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from scanner.audit import AuditLog, audit_location, default_audit_path
from scanner.command import UsageError
from scanner.config import AuditTable, WatchTable
from scanner.i18n import _, msg
from scanner.outbox.journal import Journal
from scanner.outbox.layout import Outbox, OutboxError
from scanner.policy import CHANNELS, Config


def add_outbox_arguments(parser: argparse.ArgumentParser, positional: bool = True) -> None:
    """One outbox on the command line (instead of [[watch.outbox]]), and the logs' places."""
    folder = _("FOLDER")
    if positional:
        parser.add_argument("outbox", nargs="?", type=Path, metavar=_("OUTBOX"), help=_("an outbox folder to watch"))
    else:
        parser.add_argument("--outbox", type=Path, metavar=folder, help=_("the outbox (else [[watch.outbox]])"))
    parser.add_argument("--released", type=Path, metavar=folder, help=_("where passed files go"))
    parser.add_argument("--review", type=Path, metavar=folder, help=_("where flagged files wait for a person"))
    parser.add_argument("--quarantine", type=Path, metavar=folder, help=_("where blocked files are kept (mode 0700)"))
    parser.add_argument("--channel", default="watch", choices=CHANNELS, help=_("the policy channel of that outbox"))
    parser.add_argument("--audit", type=Path, metavar=_("PATH"), help=_("the decision log (default: [audit] path)"))
    parser.add_argument(
        "--journal", type=Path, metavar=_("PATH"), help=_("moves in progress (default: beside the audit log)")
    )


def outboxes_of(args: argparse.Namespace, config: Config) -> list[Outbox]:
    """The outbox on the command line, else those of [[watch.outbox]]; each checked and made absolute."""
    if args.outbox is not None:
        folders = {k: getattr(args, k) for k in ("released", "review", "quarantine")}
        missing = [f"--{k}" for k, v in folders.items() if v is None]
        if missing:
            raise UsageError(msg("An outbox on the command line needs {options}.", options=", ".join(missing)))
        outboxes = [Outbox(args.outbox, **folders, channel=args.channel)]
    else:
        outboxes = [Outbox.of(table) for table in config.table(WatchTable).outbox]
        if not outboxes:
            raise UsageError(msg("No outbox: name one on the command line or in [[watch.outbox]] of --config."))
    made = []
    for outbox in outboxes:
        config.channel(outbox.channel)  # a channel that does not exist is a ConfigError now, not at the first file
        absolute = replace(
            outbox,
            path=outbox.path.absolute(),
            released=outbox.released.absolute(),
            review=outbox.review.absolute(),
            quarantine=outbox.quarantine.absolute(),
        )
        try:
            absolute.check()
        except OutboxError as exc:
            raise UsageError(exc.args[0]) from None
        made.append(absolute)
    return made


def audit_path(args: argparse.Namespace, config: Config) -> Path | str:
    """The audit log's file, or its PostgreSQL URL ([audit] url)."""
    return audit_location(config.table(AuditTable), args.audit)


def open_logs(args: argparse.Namespace, config: Config) -> tuple[AuditLog, Journal]:
    """The audit log, and the journal of moves in progress (by default beside the log's file; a journal is of this
    host, so beside where the file would be when the log is in PostgreSQL)."""
    audit = audit_path(args, config)
    beside = Path(audit) if isinstance(audit, Path) else default_audit_path(config.table(AuditTable))
    journal = args.journal or config.table(WatchTable).journal or beside.parent / "watch-journal.db"
    return AuditLog(audit), Journal(Path(journal))
