"""The one command, `baomi`, with a sub-command per door: scan, watch, review, audit, milter, serve, icap, clamd.

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

from scanner.command import UsageError, build_scanner, common_options, count, version
from scanner.engine import Scanner
from scanner.i18n import _, msg, render, translate_argparse
from scanner.inspection import Inspection, check_report_path, write_report
from scanner.model import FileReport, Role, Verdict
from scanner.normalize import normalize
from scanner.policy import CHANNELS, Config, ConfigError
from scanner.report import PRINTERS, printable, render_text
from scanner.titles import format_title, os_error, part_title, role_title
from scanner.walk import Entry, scan_entry, walk

# Sub-command → the module that registers it (its register(subparsers, common)). A module is imported only when its
# command is run (or for --help), so `baomi scan` does not pay for web frameworks. A new command is one module and
# one line here.
COMMANDS: dict[str, str] = {
    "serve": "scanner.doors.web",
    "milter": "scanner.doors.milter",
    "icap": "scanner.doors.icap",
    "clamd": "scanner.doors.clamd",
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
    if unknown:  # said by the sub-command's parser, so its usage is the one shown (argparse's own words)
        getattr(args, "parser", parser).error(_("unrecognized arguments: %s") % " ".join(unknown))
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
    """The parser for `command`, or for every command when it is not one of those registered (for --help), in the
    reader's language (argparse's own words too)."""
    translate_argparse()
    common = common_options()
    parser = argparse.ArgumentParser(
        prog="baomi", description=_("baomi: the confidentiality check of files before they leave the office.")
    )
    parser.add_argument(
        "--version", action="version", version=f"baomi {version()}", help=_("show program's version number and exit")
    )
    sub = parser.add_subparsers(required=True, metavar=_("COMMAND"))
    scan = sub.add_parser(
        "scan",
        parents=[common],
        help=_("scan files and folders"),
        description=_(
            "Scan files and folders: each file gets a verdict (pass, flag or block) and each finding says where it "
            "is, what it is and which rule found it. Exit status: 0 all passed, 1 something did not, 2 an error."
        ),
    )
    scan.add_argument("paths", nargs="+", type=Path, metavar=_("PATH"), help=_("files and folders to scan"))
    scan.add_argument(
        "--format",
        choices=("text", "json", "jsonl", "sarif"),
        default="text",
        help=_("text for people (the default), json, jsonl (a line per file) or sarif for tools"),
    )
    scan.add_argument(
        "--jobs", type=count, default=os.cpu_count() or 1, metavar="N", help=_("processes (default: cores)")
    )
    scan.add_argument("--channel", default="scan", choices=CHANNELS, help=argparse.SUPPRESS)
    scan.add_argument("--ocr", action="store_true", help=_("read images and scanned pages with Tesseract"))
    scan.add_argument("--explain", action="store_true", help=_("show the extracted text and why each rule fired"))
    scan.add_argument("--no-progress", action="store_true", help=_("no progress bar"))
    scan.add_argument(
        "--report",
        type=Path,
        action="append",
        default=[],
        metavar=_("FILE"),
        help=_("also write the inspection report to FILE: .html or .docx; may be given twice"),
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
    missing = [str(p) for p in args.paths if not p.exists()]
    if missing:
        raise UsageError(msg("There is no such file or folder: {paths}.", paths=", ".join(missing)))
    try:
        for path in args.report:
            check_report_path(path)
    except ValueError as exc:
        raise UsageError(exc.args[0]) from None
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
            raise UsageError(
                msg("Cannot write the report {path}: {error}.", path=str(path), error=os_error(exc))
            ) from None
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
        fmt = format_title(scanned.extraction.format)
        read_as = (
            msg("{path}: {format} ({encoding})", path=str(entry.path), format=fmt, encoding=scanned.report.encoding)
            if scanned.report.encoding
            else msg("{path}: {format}", path=str(entry.path), format=fmt)
        )
        _out(f"== {printable(render(read_as))}\n")
        for segment in scanned.extraction.segments:
            part, role = part_title(segment.part), role_title(segment.role)
            named = part if role == part else render(msg("{part} ({role})", part=part, role=role))
            heading = (
                msg("segment {part}, page {page}", part=named, page=segment.page)
                if segment.page
                else msg("segment {part}", part=named)
            )
            _out(f"-- {printable(render(heading))}\n{segment.text.rstrip()}\n")
            folded = normalize(segment.text, squeeze=segment.role != Role.FILENAME).text
            if folded != segment.text:
                normalised = _("normalised")
                _out(f"-- {normalised}\n{folded.rstrip()}\n")
        evidence = _("evidence")
        _out(f"-- {evidence}\n")
        for item in scanned.evidence:
            _out(f"   {printable(str(item))}\n")
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
            files = render(msg("{done}/{total} files", done=self.done_count, total=self.total))
            sys.stderr.write(f"\r[{'#' * filled}{' ' * (width - filled)}] {files}")
            sys.stderr.flush()

    def done(self) -> None:
        if self.total >= 20:
            sys.stderr.write("\n")


if __name__ == "__main__":
    sys.exit(main())
