"""Engine benchmark: throughput on real prose against ripgrep, start-up and memory with 100,000 terms.

Run: `.venv/bin/python bench/engine.py` (needs ../shared/corpora/laws and Debian's ripgrep). Prints a Markdown
report; bench/README.md holds the figures measured on the project's machine.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ahocorasick
import jieba

ROOT = Path(__file__).resolve().parents[1]
LAWS = ROOT.parent / "shared" / "corpora" / "laws"
BAOMI = [sys.executable, "-m", "scanner.cli"]


def rare_words(count: int, seed: int = 7) -> list[str]:
    """Rare words of jieba's own dictionary (frequency ≤ 5, 3 to 6 characters): codenames are rare in prose."""
    words = []
    with open(Path(jieba.__file__).parent / "dict.txt", encoding="utf-8") as fh:
        for line in fh:
            word, freq, *_ = line.split()
            if int(freq) <= 5 and 3 <= len(word) <= 6 and re.fullmatch(r"[\u4e00-\u9fff]+", word):
                words.append(word)
    random.Random(seed).shuffle(words)
    return words[:count]


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MiB (GNU time), and stdout of one run."""
    with tempfile.NamedTemporaryFile("r") as usage:
        start = time.perf_counter()
        result = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", usage.name, *command],
            capture_output=True,
            text=True,
            env=env,
        )
        seconds = time.perf_counter() - start
        rss = int(usage.read().strip().splitlines()[-1]) / 1024
    if result.returncode not in (0, 1):
        raise SystemExit(f"{command[:4]} failed: {result.stderr[-2000:]}")
    return seconds, rss, result.stdout


def median_of(runs: int, command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """The run with the median time of `runs` runs (a virtual machine's timings wander by ±5 %)."""
    results = sorted((timed(command, env) for _ in range(runs)), key=lambda r: r[0])
    return results[len(results) // 2]


def corpus(folder: Path, copies: int) -> int:
    total = 0
    for i in range(copies):
        for path in LAWS.rglob("*.md"):
            target = folder / f"copy{i}" / path.relative_to(LAWS)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            total += path.stat().st_size
    return total


def automaton_speeds(terms: list[str], text: str) -> tuple[float, float]:
    """MB/s of pyahocorasick over the same text as str and as UTF-8 bytes in a latin-1 str."""
    as_str, as_bytes = ahocorasick.Automaton(), ahocorasick.Automaton()
    for i, term in enumerate(terms):
        as_str.add_word(term, i)
        as_bytes.add_word(term.encode().decode("latin-1"), i)
    as_str.make_automaton()
    as_bytes.make_automaton()
    size = len(text.encode()) / 1e6
    start = time.perf_counter()
    hits_str = sum(1 for _ in as_str.iter(text))
    str_speed = size / (time.perf_counter() - start)
    start = time.perf_counter()
    hits_bytes = sum(1 for _ in as_bytes.iter(text.encode().decode("latin-1")))
    bytes_speed = size / (time.perf_counter() - start)
    assert hits_str == hits_bytes, (hits_str, hits_bytes)
    return str_speed, bytes_speed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=3, help="copies of the laws corpus (3 ≈ 75 MB)")
    parser.add_argument("--runs", type=int, default=5, help="runs of each command; the median is shown")
    args = parser.parse_args()
    if not LAWS.is_dir() or not shutil.which("rg"):
        raise SystemExit("needs ../shared/corpora/laws and ripgrep (apt-get install ripgrep)")
    work = Path(tempfile.mkdtemp(prefix="baomi-bench-"))
    env = {**os.environ, "BAOMI_CACHE": str(work / "cache")}
    try:
        size = corpus(work / "corpus", args.copies)
        extra = rare_words(100_000)
        terms10k = work / "terms10k.txt"
        terms10k.write_text("\n".join(extra[:10_000]) + "\n", encoding="utf-8")
        terms100k = work / "terms100k.txt"
        terms100k.write_text("\n".join(extra) + "\n", encoding="utf-8")
        builtin = [
            line.split("\t")[0].split("#")[0].strip()
            for path in sorted((ROOT / "dictionaries").glob("*.txt"))
            for line in path.read_text(encoding="utf-8").splitlines()
        ]
        rg_terms = work / "rg-terms.txt"
        rg_terms.write_text("\n".join([t for t in builtin if t] + extra[:10_000]) + "\n", encoding="utf-8")
        mb = size / 1e6
        count = sum(1 for _ in (work / "corpus").rglob("*.md"))
        print(f"# Engine benchmark\n\nCorpus: laws ×{args.copies}, {mb:.1f} MB in {count} files;")
        print("default dictionaries + 10,000 rare jieba words.\n")
        # The command as a user types it: the default text report (to a pipe, so without colour).
        scan = [*BAOMI, "scan", "--dict", str(terms10k), str(work / "corpus")]
        timed([*BAOMI, "scan", "--dict", str(terms10k), str(ROOT / "README.md")], env)  # warm the cache
        rg = ["rg", "-j1", "-F", "-c", "-f", str(rg_terms), str(work / "corpus")]
        timed(rg)  # warm the page cache
        rows = []
        rg_s, rg_rss, _ = median_of(args.runs, rg)
        for jobs in (1, 2):
            seconds, rss, out = median_of(args.runs, [*scan, "--jobs", str(jobs)], env)
            rows.append((f"baomi scan --jobs {jobs}", seconds, rss, out.count("\n")))
        print("| command | seconds | MB/s | peak RSS MiB | ratio to rg -j1 |\n|---|---|---|---|---|")
        print(f"| rg -j1 -F -c -f terms.txt | {rg_s:.2f} | {mb / rg_s:.1f} | {rg_rss:.0f} | 1.00 |")
        for name, seconds, rss, _ in rows:
            print(f"| {name} | {seconds:.2f} | {mb / seconds:.1f} | {rss:.0f} | {rg_s / seconds:.2f} |")
        small = work / "small.txt"
        small.write_text("关于做好年度工作的通知\n各单位：请按时报送。\n", encoding="utf-8")
        cold, cold_rss, _ = timed([*BAOMI, "scan", "--dict", str(terms100k), str(small)], env)
        warm = min(timed([*BAOMI, "scan", "--dict", str(terms100k), str(small)], env)[0] for _ in range(3))
        warm_rss = timed([*BAOMI, "scan", "--dict", str(terms100k), str(small)], env)[1]
        print(
            f"\nStart-up with 100,000 extra terms, one small file: cold cache {cold:.2f} s "
            f"(peak {cold_rss:.0f} MiB), warm cache {warm:.2f} s (peak {warm_rss:.0f} MiB)."
        )
        sample = "".join(p.read_text(encoding="utf-8") for p in sorted(LAWS.rglob("*.md"))[:300])
        str_speed, bytes_speed = automaton_speeds([t for t in builtin if t] + extra[:10_000], sample)
        print(
            f"\npyahocorasick alone, {len(sample.encode()) / 1e6:.1f} MB of laws, 10,000 terms: "
            f"{str_speed:.1f} MB/s on str, {bytes_speed:.1f} MB/s on UTF-8 bytes as latin-1."
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
