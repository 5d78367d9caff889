"""`baomi watch`: an outbox gateway. A file dropped into an outbox is scanned once it is completely written, then
released, held for review or quarantined (scanner.outbox does the tracking, scanning and moving).
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from scanner.command import UsageError, build_scanner, count, logging_to, overridden, reloadable, seconds
from scanner.config import WatchTable
from scanner.doors.stopping import StopSignal
from scanner.engine import Scanner
from scanner.i18n import _, msg, msg_n, speaking
from scanner.outbox.layout import PRIVATE_MODE, ROUTES, TEMPORARY, Outbox, display_name, make_folder
from scanner.outbox.mover import Mover
from scanner.outbox.options import add_outbox_arguments, open_logs, outboxes_of
from scanner.outbox.watcher import Settings, Watcher

log = logging.getLogger("baomi.watch")


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "watch",
        parents=[common],
        help=_("release, hold or quarantine the files dropped into outbox folders"),
        description=_(
            "Watch outbox folders: each file, once completely written, is scanned and moved to the released folder "
            "(pass), the review folder (flag) or the quarantine folder (block). Outboxes come from [[watch.outbox]] "
            "in the configuration, or one is named on the command line."
        ),
    )
    add_outbox_arguments(parser)
    parser.add_argument(
        "--once", action="store_true", help=_("deliver what is in the outboxes now, then exit (for cron)")
    )
    parser.add_argument("--log", type=Path, metavar=_("FILE"), help=_("log to FILE instead of standard error"))
    parser.add_argument(
        "--jobs", type=count, metavar="N", help=_("files scanned at once (default: [watch] jobs, else cores)")
    )
    parser.add_argument(
        "--settle", type=seconds, metavar=_("SECONDS"), help=_("quiet time for files never closed (default 2)")
    )
    parser.add_argument("--quiet", "-q", action="store_true", help=_("log problems only, not every file"))
    parser.add_argument("--threads", action="store_true", help=_("scan in threads of one process, not in processes"))
    parser.set_defaults(run=run_watch)


def settings_of(args: argparse.Namespace, table: WatchTable) -> Settings:
    """The watcher's settings: [watch], with the command line's --jobs, --settle and --threads over it."""
    table = overridden(table, jobs=args.jobs, settle=args.settle)
    return Settings(
        settle=table.settle,
        jobs=table.jobs or os.cpu_count() or 2,
        temporary=(*TEMPORARY, *table.temporary),
        rescan=table.rescan,
        processes=table.processes and not args.threads,
    )


def prepare(outboxes: list[Outbox]) -> None:
    """Create the folders; quarantine is mode 0700 whoever made it."""
    for outbox in outboxes:
        if not outbox.path.is_dir():
            raise UsageError(msg("There is no outbox folder {path}.", path=str(outbox.path)))
        for route in ROUTES.values():
            make_folder(outbox.folder(route), private=route == "quarantine")
        os.chmod(outbox.quarantine, PRIVATE_MODE)


def run_watch(args: argparse.Namespace) -> int:
    scanner = build_scanner(args)
    with speaking(scanner.config.language):  # [i18n] language: the log's, when set
        return _watch(scanner, args)


def _watch(scanner: Scanner, args: argparse.Namespace) -> int:
    table = scanner.config.table(WatchTable)
    outboxes = outboxes_of(args, scanner.config)
    settings = settings_of(args, table)
    prepare(outboxes)
    level = logging.WARNING if args.quiet else logging.INFO
    with logging_to("%(asctime)s baomi watch: %(level)s %(message)s", level, args.log or table.log, "baomi"):
        audit, journal = open_logs(args, scanner.config)
        rules = reloadable(args, scanner, audit, "watch")
        watcher = Watcher(rules, outboxes, Mover(journal, audit), settings)
        try:
            with StopSignal(watcher.stop, leases=True), rules.watching():
                names = ", ".join(f"{display_name(o.path)} ({o.channel})" for o in outboxes)
                once, watching = (
                    msg("delivering what is in {outboxes} (rules {rules})", outboxes=names, rules=rules.fingerprint),
                    msg("watching {outboxes} (rules {rules})", outboxes=names, rules=rules.fingerprint),
                )
                log.info(once if args.once else watching)
                status = watcher.run(once=args.once)
                log.info(msg_n("stopped after {count} file", "stopped after {count} files", watcher.delivered))
        finally:
            audit.close()
            journal.close()
    return status
