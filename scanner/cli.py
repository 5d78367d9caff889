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
from collections.abc import Iterator, Sequence
from pathlib import Path

from scanner.engine import Scanner
from scanner.model import FileReport, Role, Verdict
from scanner.normalize import normalize
from scanner.policy import ConfigError, load_config
from scanner.report import render_json, render_jsonl, render_sarif, render_summary, render_text

# Sub-command → the module under scanner.doors that registers it (register(subparsers, common)). A module is
# imported only when its command is run (or for --help), so `baomi scan` does not pay for web frameworks.
DOORS: dict[str, str] = {
    "serve": "web",
    "milter": "milter",
    "icap": "icap",
    "watch": "watch",
    "review": "review",
    "audit": "audit_log",
    "register": "register",
}


class UsageError(Exception):
    """A command line that cannot be carried out; exit status 2."""


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(next((a for a in argv if not a.startswith("-")), None))
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except (UsageError, ConfigError) as exc:
        print(f"baomi: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser for `command`, or for every command when it is not one of the doors' (for --help)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, help="a TOML file laid over the default policy")
    common.add_argument("--dict", type=Path, action="append", default=[], metavar="FILE", help="more dictionary terms")
    parser = argparse.ArgumentParser(prog="baomi", description="保密检查: outbound content-leak scanner")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    scan = sub.add_parser("scan", parents=[common], help="scan files and folders")
    scan.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    scan.add_argument("--format", choices=("text", "json", "jsonl", "sarif"), default="text")
    scan.add_argument("--jobs", type=int, default=os.cpu_count() or 1, metavar="N", help="processes (default: cores)")
    scan.add_argument("--channel", default="scan", choices=("scan", "watch", "mail", "web"), help=argparse.SUPPRESS)
    scan.add_argument("--ocr", action="store_true", help="read images and scanned pages with Tesseract")
    scan.add_argument("--explain", action="store_true", help="show the extracted text and why each rule fired")
    scan.add_argument("--no-progress", action="store_true", help="no progress bar")
    scan.set_defaults(run=run_scan)
    wanted = {DOORS[command]} if command in DOORS else set() if command == "scan" else set(DOORS.values())
    for module in sorted(wanted):
        importlib.import_module(f"scanner.doors.{module}").register(sub, common)
    return parser


def build_scanner(args: argparse.Namespace) -> Scanner:
    """A Scanner from --config, --dict and --ocr; ConfigError becomes exit status 2 in main."""
    config = load_config(args.config).with_dictionaries(args.dict)
    if getattr(args, "ocr", False):
        config.ocr = True
    return Scanner(config)


def run_scan(args: argparse.Namespace) -> int:
    if args.jobs < 1:
        raise UsageError("--jobs takes a number of processes, 1 or more")
    missing = [str(p) for p in args.paths if not p.exists()]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing)}")
    scanner = build_scanner(args)
    # The compiled dictionaries are long-lived: the garbage collector need not walk their objects again and again.
    gc.freeze()
    if args.explain:
        return _explain(scanner, args)
    files = list(walk(args.paths))
    # Whole reports are kept only for the formats that print them all at the end; streamed formats keep verdicts, so
    # memory (and the garbage collector's work) does not grow with the number of findings.
    reports: list[FileReport] = []
    verdicts: list[Verdict] = []
    progress = _Progress(len(files)) if sys.stderr.isatty() and not args.no_progress else None
    colour = sys.stdout.isatty()
    for report in _scan_all(scanner, files, args.jobs, args.channel):
        verdicts.append(report.verdict)
        if args.format in ("json", "sarif"):
            reports.append(report)
        if progress:
            progress.step()
        if args.format == "text":
            _out(render_text(report, colour))
        elif args.format == "jsonl":
            _out(render_jsonl(report))
    if progress:
        progress.done()
    if args.format == "json":
        _out(render_json(reports))
    elif args.format == "sarif":
        _out(render_sarif(reports))
    elif args.format == "text" and len(verdicts) > 1:
        _out(render_summary(verdicts))
    return 0 if all(v == Verdict.PASS for v in verdicts) else 1


def walk(paths: Sequence[Path]) -> Iterator[Path]:
    """Files named, and the regular files below folders named, in a stable order; links below folders are not
    followed, and pipes, sockets and devices below them are left alone."""
    for path in paths:
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs.sort()
                for name in sorted(names):
                    candidate = Path(root) / name
                    if not candidate.is_symlink() and candidate.is_file():
                        yield candidate
        else:
            yield path


_worker_scanner: Scanner | None = None


def _scan_one(path: Path, channel: str) -> FileReport:
    assert _worker_scanner is not None
    return _worker_scanner.scan_path(path, channel)


def _scan_all(scanner: Scanner, files: list[Path], jobs: int, channel: str) -> Iterator[FileReport]:
    global _worker_scanner
    if jobs == 1 or len(files) < 2:
        yield from (scanner.scan_path(f, channel) for f in files)
        return
    # Forked workers inherit the compiled automaton instead of each loading it again.
    _worker_scanner = scanner
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        yield from pool.imap(_scan_path_in_worker, [(f, channel) for f in files], chunksize=4)


def _scan_path_in_worker(job: tuple[Path, str]) -> FileReport:
    return _scan_one(*job)


def _explain(scanner: Scanner, args: argparse.Namespace) -> int:
    worst = Verdict.PASS
    for path in walk(args.paths):
        scanned = scanner.examine(path.read_bytes(), str(path), args.channel, explain=True)
        _out(
            f"== {path}: {scanned.extraction.format}"
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
