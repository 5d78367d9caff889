"""Paired benchmark: two source trees of baomi scanning the same files one after the other, round by round, with
ripgrep between them, so a change is measured against what it changed on a shared machine (report the ratios).

Run: `.venv/bin/python bench/paired.py --before /path/to/old/tree [--rounds 7]`; the old tree is a checkout or a
`git archive` of the commit to compare with (its `scanner` package is put first on PYTHONPATH). What is scanned:
laws ×3 (`--copies`) or `--small N` files of 1 KB, with `--terms` rare words. Both trees scan with `--no-index` (the
engine alone), or with `--index` a first scan each run (the default scan index made anew before it). `--index-cost`
compares this tree with itself: a first scan with the default index against `--no-index`.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine import LAWS, ROOT, builtin_terms, corpus, rare_words, small_files, write_lines


def timed(command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one run: CPU time wanders less on a machine others share.
    `cwd` is a folder without a `scanner` package: `python -m` puts its folder before PYTHONPATH."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{command[:4]} failed: {done.stderr[-2000:]!r}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def first_scan(env: dict[str, str]) -> None:
    """Remove the default scan index of `env`'s cache folder, so that the next scan is a first scan."""
    for suffix in ("", "-wal", "-shm"):
        Path(env["BAOMI_CACHE"], "index.db" + suffix).unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", type=Path, help="the source tree to compare with")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--copies", type=int, default=3, help="copies of the laws")
    parser.add_argument("--small", type=int, default=0, help="scan this many files of 1 KB instead of the laws")
    parser.add_argument("--terms", type=int, default=10_000, help="rare words added to the default dictionaries")
    parser.add_argument("--index", action="store_true", help="first scans with the default index, not --no-index")
    parser.add_argument("--index-cost", action="store_true", help="this tree: the default index against --no-index")
    args = parser.parse_args()
    if (args.before is None) == (not args.index_cost):
        raise SystemExit("give --before TREE, or --index-cost")
    if not LAWS.is_dir() or not shutil.which("rg"):
        raise SystemExit("needs ../shared/corpora/laws and ripgrep (apt-get install ripgrep)")
    work = Path(tempfile.mkdtemp(prefix="baomi-paired-"))
    try:
        if args.small:
            small_files(work / "corpus", args.small)
            amount = f"{args.small:,} files of 1 KB"
        else:
            amount = f"laws ×{args.copies}, {corpus(work / 'corpus', args.copies) / 1e6:.1f} MB"
        words = rare_words(max(args.terms, 10_000))[: args.terms]
        terms = write_lines(work / "terms.txt", words)
        rg_terms = write_lines(work / "rg-terms.txt", [*builtin_terms(), *words])
        scan = [sys.executable, "-m", "scanner.cli", "scan", "--jobs", "1", "--dict", str(terms), str(work / "corpus")]
        trees = {"before": ROOT, "after": ROOT} if args.index_cost else {"before": args.before.resolve(), "after": ROOT}
        indexed = {"before": args.index, "after": args.index or args.index_cost}
        envs = {
            name: {**os.environ, "PYTHONPATH": str(tree), "BAOMI_CACHE": str(work / f"cache-{name}")}
            for name, tree in trees.items()
        }
        commands = {name: scan if indexed[name] else [*scan[:4], "--no-index", *scan[4:]] for name in trees}
        rg = ["rg", "-j1", "-F", "-c", "-f", str(rg_terms), str(work / "corpus")]

        def run(name: str) -> tuple[float, float]:
            if indexed[name]:
                first_scan(envs[name])
            return timed(commands[name], envs[name], work)

        for name in trees:
            run(name)  # warm the caches
        runs: dict[str, list[tuple[float, float]]] = {"rg": [], "before": [], "after": []}
        for _ in range(args.rounds):
            runs["rg"].append(timed(rg))
            for name in trees:
                runs[name].append(run(name))
        what = {name: ("default index, first scan" if indexed[name] else "--no-index") for name in trees}
        print(f"{amount}, {args.terms:,} terms, {args.rounds} interleaved rounds, medians:\n")
        print("| command | wall s | CPU s | ratio to rg -j1 (wall) | ratio to rg -j1 (CPU) |")
        print("|---|---:|---:|---:|---:|")
        rg_wall = statistics.median(w for w, _ in runs["rg"])
        rg_cpu = statistics.median(c for _, c in runs["rg"])
        for name, measured in runs.items():
            wall = statistics.median(w for w, _ in measured)
            cpu = statistics.median(c for _, c in measured)
            label = f"{name} ({what[name]})" if name in what else name
            print(f"| {label} | {wall:.2f} | {cpu:.2f} | {rg_wall / wall:.2f} | {rg_cpu / cpu:.2f} |")
        pairs = [b[1] / a[1] for b, a in zip(runs["before"], runs["after"], strict=True)]
        listed = ", ".join(f"{p:.2f}" for p in pairs)
        print(f"\nCPU before/after per round: {listed} (median {statistics.median(pairs):.2f})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
