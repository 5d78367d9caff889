"""Paired benchmark: two source trees of baomi scanning laws ×3 one after the other, round by round, with ripgrep
between them, so a change is measured against what it changed on a shared machine (report the ratios).

Run: `.venv/bin/python bench/paired.py --before /path/to/old/tree [--rounds 7]`; the old tree is a checkout or a
`git archive` of the commit to compare with (its `scanner` package is put first on PYTHONPATH).
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
from engine import LAWS, ROOT, corpus, rare_words


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one run: CPU time wanders less on a machine others share."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{command[:4]} failed: {done.stderr[-2000:]!r}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", type=Path, required=True, help="the source tree to compare with")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--copies", type=int, default=3)
    args = parser.parse_args()
    if not LAWS.is_dir() or not shutil.which("rg"):
        raise SystemExit("needs ../shared/corpora/laws and ripgrep (apt-get install ripgrep)")
    work = Path(tempfile.mkdtemp(prefix="baomi-paired-"))
    try:
        size = corpus(work / "corpus", args.copies)
        terms = work / "terms10k.txt"
        terms.write_text("\n".join(rare_words(10_000)) + "\n", encoding="utf-8")
        rg_terms = work / "rg-terms.txt"
        builtin = [
            line.split("\t")[0].split("#")[0].strip()
            for path in sorted((ROOT / "dictionaries").glob("*.txt"))
            for line in path.read_text(encoding="utf-8").splitlines()
        ]
        rg_terms.write_text("\n".join([t for t in builtin if t] + terms.read_text().split()) + "\n", encoding="utf-8")
        trees = {"before": args.before.resolve(), "after": ROOT}
        envs = {
            name: {**os.environ, "PYTHONPATH": str(tree), "BAOMI_CACHE": str(work / f"cache-{name}")}
            for name, tree in trees.items()
        }
        scan = [sys.executable, "-m", "scanner.cli", "scan", "--jobs", "1", "--dict", str(terms), str(work / "corpus")]
        rg = ["rg", "-j1", "-F", "-c", "-f", str(rg_terms), str(work / "corpus")]
        for env in envs.values():
            timed(scan, env)  # warm the caches
        runs: dict[str, list[tuple[float, float]]] = {"rg": [], "before": [], "after": []}
        for _ in range(args.rounds):
            runs["rg"].append(timed(rg))
            for name, env in envs.items():
                runs[name].append(timed(scan, env))
        mb = size / 1e6
        rg_wall = statistics.median(w for w, _ in runs["rg"])
        rg_cpu = statistics.median(c for _, c in runs["rg"])
        print(f"laws ×{args.copies}, {mb:.1f} MB, {args.rounds} interleaved rounds, medians:\n")
        print("| command | wall s | CPU s | ratio to rg -j1 (wall) | ratio to rg -j1 (CPU) |")
        print("|---|---:|---:|---:|---:|")
        for name, measured in runs.items():
            wall = statistics.median(w for w, _ in measured)
            cpu = statistics.median(c for _, c in measured)
            print(f"| {name} | {wall:.2f} | {cpu:.2f} | {rg_wall / wall:.2f} | {rg_cpu / cpu:.2f} |")
        pairs = [b[1] / a[1] for b, a in zip(runs["before"], runs["after"], strict=True)]
        listed = ", ".join(f"{p:.2f}" for p in pairs)
        print(f"\nCPU before/after per round: {listed} (median {statistics.median(pairs):.2f})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
