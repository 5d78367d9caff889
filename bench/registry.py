"""Registered secrets: scan throughput with 10,000 registered documents against none, store size, registration speed.

    .venv/bin/python bench/registry.py [--documents 10000] [--copies 3] [--pairs 5] [--work DIR]

The registered documents are made up (a word-bigram chain trained on the laws: the phrasing of the corpus, none of
its passages), so the scan meets the common 6-grams a real registry shares with office prose without matching whole
files. Scans of laws ×3 with and without the registry alternate (paired runs on a shared machine: read the ratios,
of wall and of CPU seconds). `--work DIR` keeps the corpus and the registry between runs.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import jieba
from engine import LAWS, Run, corpus, measure

from scanner.extract import Limits
from scanner.registry.fingerprint import K
from scanner.registry.registration import Registrar
from scanner.registry.settings import read_or_create_key
from scanner.registry.store import open_store

PAGE = 700  # characters of a printed A4 page of Chinese prose, punctuation included


def made_up_documents(count: int, chars: int, source: str = "laws", seed: int = 15) -> list[str]:
    """Documents of about `chars` characters: from a word-bigram chain over the laws' words ("laws": the phrasing
    of the scanned corpus, a hard case), or from words of jieba's dictionary drawn by their frequency ("words")."""
    following: dict[str, list[str]] = {}
    if source == "laws":
        words = jieba.lcut("".join(p.read_text(encoding="utf-8") for p in sorted(LAWS.rglob("*.md"))[::8]))
        for a, b in itertools.pairwise(words):
            following.setdefault(a, []).append(b)
    else:
        entries = [line.split()[:2] for line in (Path(jieba.__file__).parent / "dict.txt").open(encoding="utf-8")]
        words = random.Random(seed).choices([w for w, _ in entries], [int(f) for _, f in entries], k=1_000_000)
    rng = random.Random(seed)
    documents = []
    for _ in range(count):
        word, out, size = rng.choice(words), [], 0
        while size < chars:
            out.append(word)
            size += len(word)
            word = rng.choice(following.get(word) or words)
        documents.append("".join(out))
    return documents


def register(folder: Path, texts: list[str]) -> tuple[float, int, int]:
    """Register every text as a file; seconds, folded characters, store bytes."""
    files = []
    for i, text in enumerate(texts):
        path = folder / "secret" / f"{i:05}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        files.append(path)
    store = open_store(str(folder / "registry.db"))
    registrar = Registrar(store, read_or_create_key(folder / "registry.key"), Limits())
    start = time.perf_counter()
    chars = sum(registrar.add_document(path, "机密").chars for path in files)
    seconds = time.perf_counter() - start
    store.close()
    return seconds, chars, sum(p.stat().st_size for p in folder.glob("registry.db*"))


def scan(work: Path, folder: str, jobs: int, target: Path, env: dict[str, str]) -> Run:
    policy = work / folder / "policy.toml"
    # --no-index: every file is scanned (the scan index would hand back the reports of files seen before)
    command = [sys.executable, "-m", "scanner.cli", "scan", "--no-index", "--jobs", str(jobs), "--config", str(policy)]
    return measure([*command, str(target)], env)


def paired_row(work: Path, env: dict[str, str], jobs: int, pairs: int) -> str:
    """Scans without and with the registry, alternating (which goes first too), as one row of the table: medians of
    wall and CPU seconds and each pair's throughput ratio (without's seconds / with's)."""
    runs: dict[str, list[Run]] = {"with": [], "without": []}
    for folder in ("with", "without"):  # warm: the index is built and cached once per store generation
        scan(work, folder, 1, work / "corpus" / "copy0", env)
    for i in range(pairs):
        for folder in ("without", "with") if i % 2 == 0 else ("with", "without"):
            runs[folder].append(scan(work, folder, jobs, work / "corpus", env))
    cells = []
    for field in ("wall", "cpu"):
        without = [getattr(r, field) for r in runs["without"]]
        with_ = [getattr(r, field) for r in runs["with"]]
        ratios = [w / r for w, r in zip(without, with_, strict=True)]
        each = ", ".join(f"{r:.2f}" for r in ratios)
        cells.append(
            f"{statistics.median(without):.2f} | {statistics.median(with_):.2f} | "
            f"**{statistics.median(ratios):.2f}** ({each})"
        )
    return f"| {jobs} | {' | '.join(cells)} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--chars", type=int, default=3_000, help="characters of each made-up document")
    parser.add_argument("--copies", type=int, default=3, help="copies of the laws corpus (3 ≈ 75 MB)")
    parser.add_argument("--pairs", type=int, default=6, help="scans with and without, alternating")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--source", choices=("laws", "words"), default="laws", help="what the made-up documents are")
    parser.add_argument("--work", type=Path, help="a folder to keep the corpus and the registry in between runs")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="baomi-bench-registry-"))
    env = {**os.environ, "BAOMI_CACHE": str(work / "cache")}
    try:
        if not (work / "corpus").is_dir():
            corpus(work / "corpus", args.copies)
        size = sum(p.stat().st_size for p in (work / "corpus").rglob("*.md")) / 1e6
        if not (work / "with" / "registry.db").is_file():
            texts = made_up_documents(args.documents, args.chars, args.source)
            seconds, chars, store_bytes = register(work / "with", texts)
            pages = sum(len(t) for t in texts) / PAGE
            print(
                f"# Registered secrets\n\n{args.documents} made-up documents ({args.source}) of {args.chars} "
                f"characters registered in {seconds:.1f} s ({args.documents / seconds:.0f} documents/s, "
                f"{chars / seconds / 1e6:.2f} M folded characters/s, text files through the readers)."
            )
            print(
                f"Store: {store_bytes / 1e6:.1f} MB, {store_bytes / pages:.0f} bytes per page of {PAGE} characters "
                f"({store_bytes / chars * 1000:.0f} bytes per 1,000 folded characters; k = {K}).\n"
            )
        (work / "without").mkdir(exist_ok=True)
        for folder in ("with", "without"):
            (work / folder / "policy.toml").write_text("[registry]\n", encoding="utf-8")
        scanned = f"laws ×{args.copies} ({size:.1f} MB), `baomi scan --no-index --jobs N`"
        print(f"Scans of {scanned}, {args.pairs} alternating pairs:\n")
        print("| jobs | wall s without | with | ratio (with / without), per pair | CPU s without | with | ratio |")
        print("|---:|---:|---:|---|---:|---:|---|")
        for jobs in args.jobs:
            print(paired_row(work, env, jobs, args.pairs))
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
