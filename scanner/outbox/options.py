"""The outboxes a command works on, and its logs: the command-line options `baomi watch` and `baomi review` share,
read together with [[watch.outbox]], [watch] and [audit] of the configuration.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from scanner.audit import AuditLog, default_audit_path
from scanner.command import UsageError
from scanner.config import AuditTable, WatchTable
from scanner.outbox.journal import Journal
from scanner.outbox.layout import Outbox, OutboxError
from scanner.policy import CHANNELS, Config


def add_outbox_arguments(parser: argparse.ArgumentParser, positional: bool = True) -> None:
    """One outbox on the command line (instead of [[watch.outbox]]), and the logs' places."""
    if positional:
        parser.add_argument("outbox", nargs="?", type=Path, metavar="OUTBOX", help="an outbox folder to watch")
    else:
        parser.add_argument("--outbox", type=Path, metavar="DIR", help="the outbox (else [[watch.outbox]])")
    parser.add_argument("--released", type=Path, metavar="DIR", help="where passed files go")
    parser.add_argument("--review", type=Path, metavar="DIR", help="where flagged files wait for a person")
    parser.add_argument("--quarantine", type=Path, metavar="DIR", help="where blocked files are kept (mode 0700)")
    parser.add_argument("--channel", default="watch", choices=CHANNELS, help="policy channel of that outbox")
    parser.add_argument("--audit", type=Path, metavar="PATH", help="the decision log (default: [audit] path)")
    parser.add_argument("--journal", type=Path, metavar="PATH", help="moves in progress (default: beside the audit)")


def outboxes_of(args: argparse.Namespace, config: Config) -> list[Outbox]:
    """The outbox on the command line, else those of [[watch.outbox]]; each checked and made absolute."""
    if args.outbox is not None:
        folders = {k: getattr(args, k) for k in ("released", "review", "quarantine")}
        missing = [f"--{k}" for k, v in folders.items() if v is None]
        if missing:
            raise UsageError(f"an outbox on the command line needs {', '.join(missing)}")
        outboxes = [Outbox(args.outbox, **folders, channel=args.channel)]
    else:
        outboxes = [Outbox.of(table) for table in config.table(WatchTable).outbox]
        if not outboxes:
            raise UsageError("no outbox: name one on the command line or in [[watch.outbox]] of --config")
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
            raise UsageError(str(exc)) from None
        made.append(absolute)
    return made


def audit_path(args: argparse.Namespace, config: Config) -> Path:
    return Path(args.audit or default_audit_path(config.table(AuditTable)))


def open_logs(args: argparse.Namespace, config: Config) -> tuple[AuditLog, Journal]:
    """The audit log, and the journal of moves in progress (by default beside it)."""
    audit = audit_path(args, config)
    journal = args.journal or config.table(WatchTable).journal or audit.parent / "watch-journal.db"
    return AuditLog(audit), Journal(Path(journal))
