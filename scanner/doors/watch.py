"""`baomi watch`: an outbox gateway. A file dropped into an outbox is scanned once it is completely written, then
released, held for review or quarantined (scanner.outbox does the tracking, scanning and moving).
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from scanner.command import UsageError, build_scanner, logging_to, overridden
from scanner.config import WatchTable
from scanner.doors.stopping import StopSignal
from scanner.outbox.layout import PRIVATE_MODE, ROUTES, TEMPORARY, Outbox, display_name, make_folder
from scanner.outbox.mover import Mover
from scanner.outbox.options import add_outbox_arguments, open_logs, outboxes_of
from scanner.outbox.watcher import Settings, Watcher

log = logging.getLogger("baomi.watch")


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "watch",
        parents=[common],
        help="release, hold or quarantine the files dropped into outbox folders",
        description="Watch outbox folders: each file, once completely written, is scanned and moved to the released "
        "folder (pass), the review folder (flag) or the quarantine folder (block). Outboxes come from "
        "[[watch.outbox]] in the configuration, or one is named on the command line.",
    )
    add_outbox_arguments(parser)
    parser.add_argument("--once", action="store_true", help="deliver what is in the outboxes now, then exit (cron)")
    parser.add_argument("--log", type=Path, metavar="FILE", help="log to FILE instead of standard error")
    parser.add_argument("--jobs", type=int, metavar="N", help="files scanned at once (default: [watch] jobs, cores)")
    parser.add_argument("--settle", type=float, metavar="SECONDS", help="quiet time for files never closed (2)")
    parser.add_argument("--quiet", "-q", action="store_true", help="log problems only, not every file")
    parser.add_argument("--threads", action="store_true", help="scan in threads of one process, not in processes")
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
            raise UsageError(f"no such outbox folder: {outbox.path}")
        for route in ROUTES.values():
            make_folder(outbox.folder(route), private=route == "quarantine")
        os.chmod(outbox.quarantine, PRIVATE_MODE)


def run_watch(args: argparse.Namespace) -> int:
    scanner = build_scanner(args)
    table = scanner.config.table(WatchTable)
    outboxes = outboxes_of(args, scanner.config)
    settings = settings_of(args, table)
    prepare(outboxes)
    level = logging.WARNING if args.quiet else logging.INFO
    with logging_to("%(asctime)s baomi watch: %(levelname)s %(message)s", level, args.log or table.log, "baomi"):
        audit, journal = open_logs(args, scanner.config)
        watcher = Watcher(scanner, outboxes, Mover(journal, audit), settings)
        try:
            with StopSignal(watcher.stop, hangup=True, leases=True):
                names = ", ".join(f"{display_name(o.path)} ({o.channel})" for o in outboxes)
                log.info("%s %s", "delivering what is in" if args.once else "watching", names)
                status = watcher.run(once=args.once)
                log.info("stopped after %d files", watcher.delivered)
        finally:
            audit.close()
            journal.close()
    return status
