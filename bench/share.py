"""Benchmark `baomi scan` on a synthetic share: the first scan and a re-scan with 1 % of the files changed (files/s,
and the ratio: the goal is ≥ 20; in two rounds, each a first scan and its re-scans), the scan index's size per
million files, `--jobs 2` against a Dask cluster of two local workers (the cost per file of going through Dask), the
client's own costs per file (walk, index look-up, index write), and from those, on paper, a share of 100 million
files.

    .venv/bin/python bench/share.py [--files 200000] [--documents 2000] [--subset 20000] [--folder DIR]

Prints a Markdown table. Everything runs as a user runs it (`baomi scan` as a process of its own, output to a pipe);
the Dask cluster is `dask scheduler` and two `dask worker` processes on loopback, stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import docx
import openpyxl

from scanner.index.reuse import RACY_NS
from scanner.index.store import Listing, Row, ScanIndex, Stored
from scanner.walk import walk

NIGHT_SECONDS = 10 * 3600  # 20:00 to 06:00
RESCANS = 3  # re-scans, each after the same 1 % of the files changed again: the median is the figure
# Rounds of a first scan and its re-scans, a few minutes apart: this machine's speed moves by a quarter within minutes,
# and each round's ratio is taken from scans close in time.
ROUNDS = 2
WORKER_CORES = 8  # a worker host, for the paper figures
PAPER_FILES = 100_000_000
OFFICE_SHARE = 0.3  # of a real share's files: Word, Excel, PDF, WPS (the synthetic share has 1 %)
# Office text that mentions 国家秘密 without being marked, as most of a government share does; one file in a hundred
# opens with a mark.
PROSE = (
    "为切实加强办公室内部保密工作，确保国家秘密的安全，根据有关规定，制定本制度。"
    "各部门要定期开展检查，发现问题及时整改。"
)
MARK = "机密★5年\n"


@dataclass
class Timed:
    seconds: float  # wall
    cpu: float  # user + system of the scan and the processes it waited for (its pool; not its parsers)
    stderr: str


def make_share(root: Path, files: int, documents: int) -> list[Path]:
    """`files` text files of 100 to 400 characters in folders of 500, and `documents` office files (half docx, half
    xlsx) in folders of 100. One in a hundred is marked."""
    made = []
    for n in range(files):
        path = root / f"部门{n // 50_000:02d}" / f"项目{n // 500:04d}" / f"记录{n:07d}.txt"
        if n % 500 == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_text(n).encode())
        made.append(path)
    for n in range(documents):
        folder = root / "文档" / f"批次{n // 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / (f"报告{n:05d}.docx" if n % 2 == 0 else f"报表{n:05d}.xlsx")
        path.write_bytes(_office(path.suffix, n))
        made.append(path)
    return made


def _text(n: int, edition: int = 0) -> str:
    return (MARK if n % 100 == 7 else "") + PROSE[: 40 + n % 60] * (1 + n % 4) + f"\n第{n}号 第{edition}版\n"


def _office(suffix: str, n: int, edition: int = 0) -> bytes:
    out = io.BytesIO()
    if suffix == ".docx":
        document = docx.Document()
        if n % 100 == 6:
            document.sections[0].header.paragraphs[0].text = "秘密★1年"
        for line in range(5):
            document.add_paragraph(f"{PROSE} 第{n}号第{line}段 第{edition}版")
        document.save(out)
    else:
        book = openpyxl.Workbook()
        sheet = book.active
        for row in range(20):
            sheet.append([f"项目{n}-{row}", row * 17, PROSE[:20], f"第{edition}版"])
        book.save(out)
    return out.getvalue()


def change(paths: list[Path], edition: int = 1, every: int = 100) -> int:
    """Rewrite every `every`th file with new content (the `edition`th); how many."""
    changed = 0
    for n, path in enumerate(paths):
        if n % every == every - 1:
            if path.suffix == ".txt":
                path.write_bytes(_text(n, edition).encode())
            else:
                path.write_bytes(_office(path.suffix, n, edition))
            changed += 1
    return changed


def settle(paths: list[Path]) -> None:
    """Wait out the index's margin for changes it could miss, so that the first scan's reads all count as settled."""
    newest = max(max(p.stat().st_mtime_ns, p.stat().st_ctime_ns) for p in paths[-100:])
    time.sleep(max(0.0, (newest + RACY_NS - time.time_ns()) / 1e9 + 0.1))


def baomi_scan(*args: str | Path) -> Timed:
    command = [sys.executable, "-m", "scanner.cli", "scan", "--no-progress", *map(str, args)]  # the text report
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr[-2000:]}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return Timed(seconds, cpu, done.stderr)


def index_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def walk_cost(share: Path) -> tuple[float, float, list[tuple[bytes, bytes]]]:
    """Seconds a file of the walk (the client's, for every file of a re-scan) and of a stat of each file (the look-up's,
    in the scanning processes), and the files' keys (folder, name)."""
    started = time.perf_counter()
    entries = list(walk([share]))
    walked = time.perf_counter()
    for entry in entries:
        os.stat(entry.shown)
    stated = time.perf_counter()
    keys = [(os.fsencode(os.path.abspath(e.folder)), e.name) for e in entries]
    return (walked - started) / len(entries), (stated - walked) / len(entries), keys


def index_costs(location: str | Path, keys: list[tuple[bytes, bytes]]) -> dict[str, float]:
    """Seconds a file of writing the rows of a first scan (in transactions of 256) and of looking them up (a folder's
    files at once, as the scanning processes do), in a new index at `location`."""
    index = ScanIndex(location)
    run = index.start(["/bench"], "bench", "scan", False)
    report = '{"verdict":0,"format":"text"}'
    rows = [Row(folder, name, Stored(300, 2, 3, 4, 5, os.urandom(32), report)) for folder, name in keys]
    costs = {}
    started = time.perf_counter()
    for start in range(0, len(rows), 256):
        index.save(run, rows[start : start + 256])
    costs["write"] = (time.perf_counter() - started) / len(rows)
    folders: dict[bytes, list[bytes]] = {}
    for folder, name in keys:
        folders.setdefault(folder, []).append(name)
    started = time.perf_counter()
    for folder, names in folders.items():
        index.known(Listing(folder, names, True))
    costs["lookup"] = (time.perf_counter() - started) / len(rows)
    index.close()
    return costs


class LocalDask:
    """`dask scheduler` and two one-thread `dask worker` processes on loopback."""

    def __init__(self, folder: Path) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.folder = folder
        self.processes: list[subprocess.Popen[bytes]] = []
        self._start("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", str(self.port)])
        deadline = time.monotonic() + 120
        while "Scheduler at:" not in (folder / "scheduler.log").read_text():
            if time.monotonic() > deadline:
                self.stop()
                raise SystemExit("the Dask scheduler did not start")
            time.sleep(0.2)
        for number in range(2):
            self._start(f"worker{number}", ["worker", self.address, "--host", "127.0.0.1", "--nthreads", "1"])
        deadline = time.monotonic() + 120
        while sum("Registered to:" in (folder / f"worker{n}.log").read_text() for n in range(2)) < 2:
            if time.monotonic() > deadline:
                self.stop()
                raise SystemExit("the Dask workers did not join")
            time.sleep(0.2)

    def _start(self, name: str, options: list[str]) -> None:
        with open(self.folder / f"{name}.log", "wb") as log:
            command = [sys.executable, "-m", "dask", *options, "--no-dashboard"]
            self.processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=200_000)
    parser.add_argument("--documents", type=int, default=2_000)
    parser.add_argument("--subset", type=int, default=20_000, help="small files of the --jobs 2 / Dask comparison")
    parser.add_argument("--folder", type=Path, help="where to build the share (default: a temporary folder)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="baomi-share-", dir=args.folder))
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> None:
    share = work / "share"
    started = time.perf_counter()
    paths = make_share(share, args.files, args.documents)
    settle(paths)
    print(f"built {len(paths)} files in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    total = len(paths)
    rounds = []
    for number in range(ROUNDS):  # a first scan into an index of its own, then its re-scans
        settle(paths)
        index = work / f"index-{number}.db"
        first = baomi_scan("--jobs", "2", "--index", index, share)
        size = index_bytes(index)
        agains = []
        for edition in range(1, RESCANS + 1):  # each time the same 1 % of the files changed again
            changed = change(paths, number * RESCANS + edition)
            agains.append(baomi_scan("--jobs", "2", "--index", index, share))
        again = sorted(agains, key=lambda timed: timed.seconds)[RESCANS // 2]
        rounds.append((first, again, agains))
    reused = re.search(r"(\d+) of (\d+) reports reused", again.stderr)
    walked, stated, keys = walk_cost(share)
    sqlite = index_costs(work / "costs.db", keys)
    postgres = _postgres_costs(keys)

    subset = work / "subset"
    subset_paths = make_share(subset, args.subset, args.documents // 10)
    texts = baomi_scan("--jobs", "2", "--no-index", subset / "部门00")
    offices = baomi_scan("--jobs", "2", "--no-index", subset / "文档")
    local = baomi_scan("--jobs", "2", "--no-index", subset)
    cluster = LocalDask(work)
    try:
        remote = baomi_scan("--cluster", cluster.address, "--no-index", subset)
    finally:
        cluster.stop()
    n = len(subset_paths)
    per_text, per_office = 2 * texts.seconds / args.subset, 2 * offices.seconds / (args.documents // 10)

    rows = [("share", f"{args.files:,} text files (100–400 characters) + {args.documents:,} office files (docx, xlsx)")]
    for number, (first, again, agains) in enumerate(rounds, 1):
        rows += [
            (
                f"round {number}: first scan, --jobs 2",
                f"{first.seconds:.0f} s, {total / first.seconds:,.0f} files/s, {first.cpu:.0f} s CPU",
            ),
            (
                f"round {number}: re-scan, 1 % changed (the median of {RESCANS})",
                f"{again.seconds:.2f} s, {total / again.seconds:,.0f} files/s ({again.cpu:.1f} s CPU; {changed:,}"
                f" changed; all: {', '.join(f'{timed.seconds:.2f}' for timed in agains)} s)",
            ),
            (f"round {number}: re-scan against first", f"**{first.seconds / again.seconds:.1f}× faster** (goal ≥ 20×)"),
        ]
    rows += [
        ("reports reused", reused.group(0) if reused else "?"),
        ("index size (SQLite)", f"{size / 2**20:.1f} MiB: {size / total:.0f} bytes a file (MB a million)"),
        ("client: walk", f"{walked * 1e6:.1f} µs a file ({1 / walked:,.0f} files/s)"),
        ("scanning processes: stat", f"{stated * 1e6:.1f} µs a file"),
    ]
    for name, costs in (("SQLite", sqlite), ("PostgreSQL", postgres)):
        for what, seconds in costs.items():
            figure = f"{seconds * 1e6:.1f} µs a file ({1 / seconds:,.0f} files/s)"
            rows.append((f"index {what}, {name}", figure))
    rows += [
        ("scan, text files, --jobs 2", f"{per_text * 1e3:.2f} core-ms a file"),
        ("scan, office files, --jobs 2", f"{per_office * 1e3:.1f} core-ms a file"),
        (f"--jobs 2, {n:,} files, no index", f"{local.seconds:.1f} s, {n / local.seconds:,.0f} files/s"),
        (f"Dask, 2 local workers, {n:,} files", f"{remote.seconds:.1f} s, {n / remote.seconds:,.0f} files/s"),
        ("Dask's cost a file", f"{(remote.seconds - local.seconds) / n * 1e3:+.2f} ms (wall, 2 cores)"),
    ]
    rescan_client = (again.seconds - changed * (first.seconds / total)) / (total - changed)
    rows += paper(per_text, per_office, rescan_client, walked, postgres or sqlite)
    print("| measure | figure |\n|---|---|")
    for measure, figure in rows:
        print(f"| {measure} | {figure} |")


def _postgres_costs(keys: list[tuple[bytes, bytes]]) -> dict[str, float]:
    """index_costs in a private PostgreSQL server (tests/postgres_fixture.py), if this machine has one."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.postgres_fixture import PrivatePostgres, postgres_missing_reason

    if postgres_missing_reason() is not None:
        return {}
    with PrivatePostgres() as server:
        deadline = time.monotonic() + 60
        while True:
            try:
                url = server.create_database("bench")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        return index_costs(url, keys)


def paper(text: float, office: float, rescan: float, walked: float, index: dict[str, float]) -> list[tuple[str, str]]:
    """A share of PAPER_FILES, OFFICE_SHARE of them office files, from the measured core-seconds a file, the re-scan's
    client seconds a file, and the walk's and the index's costs: the workers a night needs, and what then limits."""
    core_seconds = PAPER_FILES * ((1 - OFFICE_SHARE) * text + OFFICE_SHARE * office)
    cores = core_seconds / NIGHT_SECONDS
    first_client = PAPER_FILES * (walked + index.get("lookup", 0) + index.get("write", 0)) / 3600
    again_client = PAPER_FILES * rescan / 3600
    changed = PAPER_FILES / 100 * ((1 - OFFICE_SHARE) * text + OFFICE_SHARE * office) / 3600
    return [
        (f"paper: 100 M files, {OFFICE_SHARE:.0%} office", f"{core_seconds / 3600:,.0f} core-hours to scan"),
        (
            "paper: first scan in one night (10 h)",
            f"{cores:,.1f} cores: {math.ceil(cores / WORKER_CORES):,} worker hosts of {WORKER_CORES} cores",
        ),
        ("paper: the client's walk, look-up and write", f"{first_client:.1f} h for 100 M files (one process)"),
        ("paper: re-scan, 1 % changed: scanning", f"{changed:,.0f} core-hours"),
        ("paper: re-scan, 1 % changed: the client", f"{again_client:.1f} h ({rescan * 1e6:.0f} µs a file unchanged)"),
    ]


if __name__ == "__main__":
    main()
