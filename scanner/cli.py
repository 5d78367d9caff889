"""The one command, `baomi`, with a sub-command per door: scan, watch, review, audit, milter, serve, icap, clamd.

Errors at this edge become a message and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import io
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TextIO

from scanner.command import UsageError, build_scanner, common_options, count
from scanner.database import DatabaseError, is_url
from scanner.engine import Scanner
from scanner.i18n import _, from_environment, msg, render, speaking, translate_argparse
from scanner.index.reuse import Examiner, IndexReader
from scanner.inspection import Inspection, check_report_path, write_report
from scanner.model import Role, Verdict
from scanner.normalize import normalize
from scanner.policy import CHANNELS, ConfigError
from scanner.report import PRINTERS, Told, printable, render_text, rendering
from scanner.ruleset import baomi_version
from scanner.scan import Executor, Processes, ScanError, Serial, Sweep, closing_line, open_index, start_run
from scanner.titles import format_title, os_error, part_title, role_title
from scanner.walk import Entry, Files, scan_entry, walk, walk_listed

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
NEEDS_DASK = msg("--cluster needs Dask distributed here and on the workers: pip install 'baomi[cluster]'")
BROKEN_PIPE = 141  # as a process killed by SIGPIPE: the reader went away (`baomi scan ... | head`)


def main(argv: Sequence[str] | None = None) -> int:
    # The command line speaks the environment's language, read once: a scan of a share renders words by the million.
    with speaking(from_environment()):
        return _run(list(sys.argv[1:] if argv is None else argv))


def _run(argv: list[str]) -> int:
    parser = build_parser(next((a for a in argv if not a.startswith("-")), None))
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # said by the sub-command's parser, so its usage is the one shown (argparse's own words)
        getattr(args, "parser", parser).error(_("unrecognized arguments: %s") % " ".join(unknown))
    try:
        return int(args.run(args))
    except (UsageError, ConfigError, DatabaseError, ScanError) as exc:
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
        "--version",
        action="version",
        version=f"baomi {baomi_version()}",
        help=_("show program's version number and exit"),
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
    scan.add_argument("--jobs", type=count, metavar="N", help=_("processes (default: cores)"))
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
    scan.add_argument("--index", metavar=_("PATH|URL"), help=_("the scan index: a file or a postgresql://… URL"))
    scan.add_argument("--no-index", action="store_true", help=_("scan every file, and keep nothing for next time"))
    scan.add_argument("--rescan", action="store_true", help=_("scan every file again, whatever the index holds"))
    scan.add_argument("--resume", action="store_true", help=_("continue the interrupted scan of these paths"))
    scan.add_argument("--cluster", metavar="tcp://HOST:8786", help=_("scan on the Dask cluster of this scheduler"))
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


COLLECT_AFTER = 10_000  # objects made and not yet freed, in a scan, before the cyclic garbage collector runs


def run_scan(args: argparse.Namespace) -> int:
    _check_scan_options(args)
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
    files: Iterable[Entry | Files] = walk_listed(args.paths)
    progress = None
    if sys.stderr.isatty() and not args.no_progress:
        files = list(files)
        progress = _Progress(sum(len(item.names) if isinstance(item, Files) else 1 for item in files))
    printer = PRINTERS[args.format](sys.stdout, colour=sys.stdout.isatty())
    inspection = Inspection.begin(args.paths, scanner.config, args.channel) if args.report else None
    worst = Verdict.PASS
    # The reports are closed before the sweep: what an interrupted scan handed on is saved in the index first.
    with (
        _in_blocks(sys.stdout),
        _few_collections(),
        _sweep(scanner, args) as sweep,
        closing(sweep.reports(files)) as handed_on,
    ):
        for report in handed_on:
            if isinstance(report, Told):  # reused reports, rendered where they were looked up
                worst = max(worst, *report.verdicts)
                printer.add_told(report)
                if progress:
                    progress.step(report.files)
                continue
            if progress:
                progress.step()
            worst = max(worst, report.verdict)
            if inspection:
                inspection.add(report)
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


@contextmanager
def _few_collections() -> Iterator[None]:
    """The cyclic garbage collector run less often while the reports are handed on: a scan has thousands of a file's
    small objects in flight (reports looked up, decoded, waiting their turn), and at the default threshold of 700 new
    objects it walked them every few files, a quarter of a re-scan's client time. Garbage is still collected (the
    scanning processes forked in here parse files and make cycles)."""
    before = gc.get_threshold()
    gc.set_threshold(COLLECT_AFTER, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


@contextmanager
def _in_blocks(out: TextIO) -> Iterator[None]:
    """`out` written in blocks while the report is printed, as ripgrep and grep write to a pipe or a file, even where
    PYTHONUNBUFFERED would have a system call a line (a share's report has a line a file, millions); a terminal gets
    each line as it comes."""
    if not isinstance(out, io.TextIOWrapper) or not out.write_through or out.isatty():
        yield
        return
    out.reconfigure(write_through=False)
    try:
        yield
    finally:
        out.reconfigure(write_through=True)  # what was held is written first


def _check_scan_options(args: argparse.Namespace) -> None:
    if args.cluster and args.jobs is not None:
        raise UsageError(msg("--jobs is for a scan on this machine; on a cluster, each worker has its own threads."))
    if args.cluster and args.explain:
        raise UsageError(msg("--explain shows one scan on this machine; leave out --cluster."))
    if args.resume and args.rescan:
        raise UsageError(msg("--rescan starts a scan anew and --resume continues one: give one of them."))
    if args.no_index and (args.index or args.resume or args.rescan):
        raise UsageError(msg("--no-index keeps no index: --index, --resume and --rescan need one."))


@contextmanager
def _sweep(scanner: Scanner, args: argparse.Namespace) -> Iterator[Sweep]:
    """The scan of the walked files: the index and its run, the scanning processes; the index's closing line."""
    index, warning = (None, None) if args.no_index else open_index(scanner.config, args.index)
    rules = scanner.fingerprint
    run = None
    if index is not None:
        run, warning = start_run(index, args.paths, rules, args.channel, args.rescan, args.resume)
    if warning:
        print(f"baomi: {render(warning)}", file=sys.stderr)
    reader = None
    if index is not None and run is not None:
        # The reused reports are rendered where they are looked up, unless the inspection report wants them whole.
        told = None if args.report else rendering(args.format, sys.stdout.isatty())
        reader = IndexReader(index.location, rules, args.channel, run.id, run.id if run.full else None, told)
    # A cluster's workers look for copies in the index only where they can reach it.
    contents = reader if reader is not None and (not args.cluster or is_url(reader.location)) else None
    examiner = Examiner(scanner, args.channel, index is not None, contents)
    executor: Executor
    jobs = args.jobs or os.cpu_count() or 1
    if args.cluster:
        executor = _cluster(args.cluster, examiner, args.paths)
    elif jobs == 1:
        executor = Serial(examiner)
    else:
        executor = Processes(examiner, jobs)
    sweep = Sweep(scanner, args.channel, executor, index, run, reader)
    try:
        yield sweep
        if index is not None and run is not None:
            index.finish(run)
    finally:
        executor.close()
        if reader is not None and reader is not contents:
            reader.close()
        if index is not None:
            index.close()
        if index is not None and (sweep.tally.reused or args.resume):
            print(f"baomi: {render(closing_line(sweep.tally, index.location))}", file=sys.stderr)


def _cluster(address: str, examiner: Examiner, paths: Sequence[Path]) -> Executor:
    try:
        from scanner.cluster import Cluster
    except ModuleNotFoundError as exc:
        if exc.name not in ("dask", "distributed"):
            raise
        raise UsageError(NEEDS_DASK) from None
    return Cluster(address, examiner, paths)


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

    def step(self, count: int = 1) -> None:
        self.done_count += count
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
