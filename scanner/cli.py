"""The one command, `baomi`, with a sub-command per door: scan, watch, review, audit, milter, serve, icap.

Errors at this edge become a message and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import multiprocessing
import os
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, islice
from pathlib import Path

from scanner.command import UsageError, build_scanner, common_options, version
from scanner.engine import Scanner
from scanner.inspection import Inspection, check_report_path, write_report
from scanner.model import FileReport, Role, Verdict
from scanner.normalize import normalize
from scanner.policy import CHANNELS, Config, ConfigError
from scanner.report import PRINTERS, render_text
from scanner.walk import Entry, scan_entry, walk

# Sub-command → the module that registers it (its register(subparsers, common)). A module is imported only when its
# command is run (or for --help), so `baomi scan` does not pay for web frameworks. A new command is one module and
# one line here.
COMMANDS: dict[str, str] = {
    "serve": "scanner.doors.web",
    "milter": "scanner.doors.milter",
    "icap": "scanner.doors.icap",
    "watch": "scanner.doors.watch",
    "review": "scanner.doors.review",
    "audit": "scanner.doors.audit_log",
    "register": "scanner.doors.register",
}
BROKEN_PIPE = 141  # as a process killed by SIGPIPE: the reader went away (`baomi scan ... | head`)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(next((a for a in argv if not a.startswith("-")), None))
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # said by the sub-command's parser, so its usage is the one shown
        getattr(args, "parser", parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return int(args.run(args))
    except (UsageError, ConfigError) as exc:
        print(f"baomi: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Nobody reads the rest; the output still buffered must not fail again (and print a traceback) at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser for `command`, or for every command when it is not one of those registered (for --help)."""
    common = common_options()
    parser = argparse.ArgumentParser(prog="baomi", description="保密检查: outbound content-leak scanner")
    parser.add_argument("--version", action="version", version=f"baomi {version()}")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    scan = sub.add_parser("scan", parents=[common], help="scan files and folders")
    scan.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    scan.add_argument("--format", choices=("text", "json", "jsonl", "sarif"), default="text")
    scan.add_argument("--jobs", type=int, default=os.cpu_count() or 1, metavar="N", help="processes (default: cores)")
    scan.add_argument("--channel", default="scan", choices=CHANNELS, help=argparse.SUPPRESS)
    scan.add_argument("--ocr", action="store_true", help="read images and scanned pages with Tesseract")
    scan.add_argument("--explain", action="store_true", help="show the extracted text and why each rule fired")
    scan.add_argument("--no-progress", action="store_true", help="no progress bar")
    scan.add_argument(
        "--report", type=Path, action="append", default=[], metavar="FILE", help="write a report: .html, .docx"
    )
    scan.set_defaults(run=run_scan)
    wanted = [COMMANDS[command]] if command in COMMANDS else [] if command == "scan" else list(COMMANDS.values())
    for module in wanted:
        importlib.import_module(module).register(sub, common)
    _remember_parsers(parser)
    return parser


def _remember_parsers(parser: argparse.ArgumentParser) -> None:
    """Each sub-command's parser as a default of its own, so a mistake is shown with that sub-command's usage."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action.choices.values():
                choice.set_defaults(parser=choice)
                _remember_parsers(choice)


def run_scan(args: argparse.Namespace) -> int:
    if args.jobs < 1:
        raise UsageError("--jobs takes a number of processes, 1 or more")
    missing = [str(p) for p in args.paths if not p.exists()]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing)}")
    try:
        for path in args.report:
            check_report_path(path)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    scanner = build_scanner(args)
    # The compiled dictionaries are long-lived: the garbage collector need not walk their objects again and again.
    gc.freeze()
    if args.explain:
        return _explain(scanner, args)
    # Files are scanned as the walk finds them (listed first only for a progress bar), and every format is printed
    # file by file (scanner.report.Printer): memory does not grow with the number of files.
    files: Iterable[Entry] = walk(args.paths)
    progress = None
    if sys.stderr.isatty() and not args.no_progress:
        files = list(files)
        progress = _Progress(len(files))
    printer = PRINTERS[args.format](sys.stdout, colour=sys.stdout.isatty())
    inspection = Inspection.begin(args.paths, scanner.config, args.channel) if args.report else None
    worst = Verdict.PASS
    for report in _scan_all(scanner, files, args.jobs, args.channel):
        worst = max(worst, report.verdict)
        if inspection:
            inspection.add(report)
        if progress:
            progress.step()
        printer.add(report)
    if progress:
        progress.done()
    printer.end()
    if inspection:
        try:
            for path in args.report:
                write_report(inspection, path)
        except OSError as exc:
            raise UsageError(f"cannot write the report {path}: {exc.strerror or exc}") from None
    return 0 if worst == Verdict.PASS else 1


_worker_scanner: Scanner | None = None


def _scan_one(entry: Entry, channel: str) -> FileReport:
    assert _worker_scanner is not None
    return scan_entry(_worker_scanner, entry, channel).report


def _scan_all(scanner: Scanner, entries: Iterable[Entry], jobs: int, channel: str) -> Iterator[FileReport]:
    global _worker_scanner
    files = iter(entries)
    first = list(islice(files, 2))
    files = chain(first, files)
    if jobs == 1 or len(first) < 2:
        yield from (scan_entry(scanner, f, channel).report for f in files)
        return
    _worker_scanner = scanner
    if threading.active_count() == 1:
        # Forked workers inherit the compiled automaton instead of each loading it again.
        pool = multiprocessing.get_context("fork").Pool(jobs)
    else:
        # A process with threads (a caller's, a test's) cannot be forked safely: a lock another thread held stays
        # locked in the child. Fresh workers each build the scanner from the configuration (from the disk cache).
        context = multiprocessing.get_context("forkserver")
        pool = context.Pool(jobs, initializer=_start_worker, initargs=(scanner.config,))
    with pool:
        yield from pool.imap(_scan_path_in_worker, ((f, channel) for f in files), chunksize=4)


def _start_worker(config: Config) -> None:
    global _worker_scanner
    _worker_scanner = Scanner(config)


def _scan_path_in_worker(job: tuple[Entry, str]) -> FileReport:
    return _scan_one(*job)


def _explain(scanner: Scanner, args: argparse.Namespace) -> int:
    worst = Verdict.PASS
    for entry in walk(args.paths):
        scanned = scan_entry(scanner, entry, args.channel, explain=True)
        _out(
            f"== {entry.path}: {scanned.extraction.format}"
            + (f" ({scanned.report.encoding})\n" if scanned.report.encoding else "\n")
        )
        for segment in scanned.extraction.segments:
            page = f" page {segment.page}" if segment.page else ""
            _out(f"-- segment {segment.part} [{segment.role}]{page}\n{segment.text.rstrip()}\n")
            folded = normalize(segment.text, squeeze=segment.role != Role.FILENAME).text
            if folded != segment.text:
                _out(f"-- normalised\n{folded.rstrip()}\n")
        _out("-- evidence\n")
        for item in scanned.evidence:
            _out(f"   {item}\n")
        _out(render_text(scanned.report, sys.stdout.isatty()))
        worst = max(worst, scanned.report.verdict)
    return 0 if worst == Verdict.PASS else 1


def _out(text: str) -> None:
    sys.stdout.write(text)


class _Progress:
    def __init__(self, total: int) -> None:
        self.total, self.done_count = total, 0

    def step(self) -> None:
        self.done_count += 1
        if self.total >= 20:
            width = 30
            filled = width * self.done_count // self.total
            sys.stderr.write(f"\r[{'#' * filled}{' ' * (width - filled)}] {self.done_count}/{self.total} files")
            sys.stderr.flush()

    def done(self) -> None:
        if self.total >= 20:
            sys.stderr.write("\n")


if __name__ == "__main__":
    sys.exit(main())
