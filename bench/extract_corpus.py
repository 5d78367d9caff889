"""Time the peer corpus through `baomi scan --jobs 2`, and what isolating binary formats in workers costs per file.

Usage: .venv/bin/python bench/extract_corpus.py [CORPUS]   (default ../shared/corpora/peer)
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from scanner.extract import IN_PROCESS, Limits, read_file
from scanner.extract.sniff import sniff
from scanner.extract.worker import Worker, run_isolated

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpora" / "peer"
BAOMI = Path(sys.executable).parent / "baomi"


def scan_corpus(corpus: Path, jobs: int) -> tuple[float, Counter[str], int]:
    """Wall-clock seconds of the CLI over the whole corpus, the verdicts, and the number of files."""
    started = time.perf_counter()
    done = subprocess.run(
        [str(BAOMI), "scan", "--jobs", str(jobs), "--format", "json", "--no-progress", str(corpus)],
        capture_output=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    files = json.loads(done.stdout)["files"]
    return elapsed, Counter(f["verdict"] for f in files), len(files)


def binaries(corpus: Path) -> list[tuple[bytes, str, str]]:
    """The corpus files that go to a worker: small, readable, of a binary format."""
    out = []
    for path in sorted(corpus.rglob("*")):
        if path.is_file() and path.name not in ("MANIFEST.tsv", "README.md") and path.stat().st_size < 200_000:
            data = path.read_bytes()
            fmt = sniff(data, path.name)
            if fmt not in IN_PROCESS:
                out.append((data, path.name, fmt))
    return out


def per_file_ms(files: list[tuple[bytes, str, str]], isolated: bool, rounds: int = 3) -> float:
    """Median over rounds of the mean milliseconds per file, in a worker or in this process."""
    limits = Limits()
    means = []
    for _ in range(rounds):
        started = time.perf_counter()
        for data, name, fmt in files:
            (run_isolated if isolated else read_file)(data, name, limits, False, fmt)
        means.append((time.perf_counter() - started) / len(files) * 1000)
    return statistics.median(means)


def round_trip_ms(calls: int = 200) -> tuple[float, float]:
    """A call that does nothing: through the persistent pool, and with a fresh worker for each call."""
    limits = Limits()
    run_isolated(b"", "warm", limits, False, "png")
    started = time.perf_counter()
    for _ in range(calls):
        run_isolated(b"\x89PNG\r\n\x1a\n", "x.png", limits, False, "png")
    pooled = (time.perf_counter() - started) / calls * 1000
    started = time.perf_counter()
    for _ in range(20):
        worker = Worker()
        worker.call("scanner.extract:read_file", (b"\x89PNG\r\n\x1a\n", "x.png", limits, False, "png"), limits)
        worker.close()
        worker.proc.wait()
    fresh = (time.perf_counter() - started) / 20 * 1000
    return pooled, fresh


def main() -> None:
    corpus = Path(sys.argv[1]) if len(sys.argv) > 1 else CORPUS
    elapsed, verdicts, count = scan_corpus(corpus, 2)
    files = binaries(corpus)
    in_process = per_file_ms(files, isolated=False)
    isolated = per_file_ms(files, isolated=True)
    pooled, fresh = round_trip_ms()
    print(f"corpus: {count} files, baomi scan --jobs 2: {elapsed:.1f} s ({dict(verdicts)})")
    print(f"binary files read (<200 kB, {len(files)}): in-process {in_process:.1f} ms/file, in a worker {isolated:.1f}")
    print(f"isolation overhead: {isolated - in_process:.2f} ms/file")
    print(f"empty call: persistent pool {pooled:.2f} ms, fresh worker per call {fresh:.1f} ms")


if __name__ == "__main__":
    main()
