"""Paired benchmark: two source trees of baomi scanning laws ×3 one after the other, round by round, with ripgrep
between them, so a change is measured against what it changed on a shared machine (report the ratios).

Run: `.venv/bin/python bench/paired.py --before /path/to/old/tree [--rounds 7]`; the old tree is a checkout or a
`git archive` of the commit to compare with (its `scanner` package is put first on PYTHONPATH).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine import LAWS, ROOT, corpus, rare_words, timed


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
        seconds: dict[str, list[float]] = {"rg": [], "before": [], "after": []}
        for _ in range(args.rounds):
            seconds["rg"].append(timed(rg)[0])
            for name, env in envs.items():
                seconds[name].append(timed(scan, env)[0])
        mb = size / 1e6
        rg_s = statistics.median(seconds["rg"])
        print(f"laws ×{args.copies}, {mb:.1f} MB, {args.rounds} interleaved rounds, medians:\n")
        print("| command | seconds | MB/s | ratio to rg -j1 |\n|---|---:|---:|---:|")
        for name, runs in seconds.items():
            median = statistics.median(runs)
            print(f"| {name} | {median:.2f} | {mb / median:.1f} | {rg_s / median:.2f} |")
        pairs = [b / a for b, a in zip(seconds["before"], seconds["after"], strict=True)]
        listed = ", ".join(f"{p:.2f}" for p in pairs)
        print(f"\nbefore/after per round: {listed} (median {statistics.median(pairs):.2f})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
