"""Precision and recall of registered-document matching on the laws.

    .venv/bin/python bench/registry_corpus.py [--registered 1000] [--excerpts 500]

Laws are shuffled (fixed seed); the first `registered` are registered as if secret (under a fixed key), the others
are scanned.
Precision: with the other laws as the public list, scanning them flags nothing; with only half of them as the public
list, every flag on the other half is checked against the registered law's text (a real shared passage, or not).
Recall: random excerpts of the registered laws (80–400 folded characters, 0–10 % of them edited: substitutions,
insertions, deletions) scanned as text, with and without the public list.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import re
import tempfile
import time
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np

from scanner.engine import Scanner
from scanner.extract import Limits
from scanner.policy import load_config
from scanner.registry.fingerprint import fold, kgram_hashes
from scanner.registry.registration import Registrar
from scanner.registry.settings import read_or_create_key
from scanner.registry.store import open_store

LAWS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "laws"
COMMON = [chr(c) for c in range(0x4E00, 0x9FA6)]
FLAG = re.compile(r"id (?P<id>\w+), registered .* its characters (?P<first>\d+)–(?P<last>\d+)")


def laws(seed: int = 15) -> list[Path]:
    paths = [p for p in sorted(LAWS.rglob("*.md")) if not p.name.startswith("_")]
    random.Random(seed).shuffle(paths)
    return paths


@dataclass
class Office:
    folder: Path
    scanner: Scanner | None = None
    registered: dict[str, Path] = field(default_factory=dict)  # by the id the store gave each

    def register(self, documents: list[Path], public: list[Path]) -> float:
        store = open_store(str(self.folder / "registry.db"))
        key = self.folder / "registry.key"
        if not key.exists():  # one key for every run: which k-grams are fingerprints depends on it
            key.write_text(hashlib.sha256(b"bench/registry_corpus.py").hexdigest() + "\n", encoding="ascii")
        registrar = Registrar(store, read_or_create_key(key), Limits())
        start = time.perf_counter()
        for path in documents:
            self.registered[registrar.add_document(path, "机密").id] = path
        if public:
            registrar.add_public(public)
        store.close()
        (self.folder / "policy.toml").write_text("[registry]\n", encoding="utf-8")
        self.scanner = Scanner(load_config(self.folder / "policy.toml"))
        return time.perf_counter() - start

    def flags(self, text: str, name: str = "x.txt") -> list[str]:
        assert self.scanner is not None
        report = self.scanner.scan_bytes(text.encode("utf-8"), name)
        return [f.explanation for f in report.findings if f.category == "registered"]


def edited(text: str, share: float, rng: random.Random) -> str:
    chars = list(text)
    for _ in range(round(len(chars) * share)):
        i, op = rng.randrange(len(chars)), rng.random()
        if op < 0.6:
            chars[i] = rng.choice(COMMON)
        elif op < 0.8:
            chars.insert(i, rng.choice(COMMON))
        elif len(chars) > 1:
            del chars[i]
    return "".join(chars)


def recall(
    office: Office, documents: list[Path], count: int, seed: int = 1, public: np.ndarray | None = None
) -> tuple[float, list[tuple[int, float]]]:
    """The share of random edited excerpts found, and the (length, edits) of those missed. With `public` (sorted
    k-gram hashes of the public text), excerpts more than half public are left out: they are boilerplate."""
    rng = random.Random(seed)
    folded = {p: "".join(map(chr, fold(p.read_text(encoding="utf-8")))) for p in documents}
    found, tried, missed = 0, 0, []
    for _ in range(count):
        text = folded[rng.choice(documents)]
        length = min(rng.randint(80, 400), len(text))
        start = rng.randrange(len(text) - length + 1)
        share = rng.uniform(0, 0.10)
        excerpt = edited(text[start : start + length], share, rng)
        if public is not None and public_share(text[start : start + length], public) > 0.5:
            continue
        tried += 1
        if office.flags(excerpt):
            found += 1
        else:
            missed.append((length, round(share, 3)))
    return found / max(tried, 1), missed


def public_hashes(paths: list[Path]) -> np.ndarray:
    return np.unique(np.concatenate([kgram_hashes(fold(p.read_text(encoding="utf-8"))) for p in paths]))


def public_share(text: str, public: np.ndarray) -> float:
    hashes = kgram_hashes(np.array([ord(c) for c in text], dtype=np.uint32))
    at = np.minimum(np.searchsorted(public, hashes), len(public) - 1)
    return float((public[at] == hashes).mean()) if len(hashes) else 0.0


def flagged(office: Office, scanned: list[Path]) -> list[tuple[Path, str]]:
    return [(p, why) for p in scanned for why in office.flags(p.read_text(encoding="utf-8"), p.name)]


def shared_passage(scanned: Path, office: Office, why: str) -> float:
    """How much of the registered law's passage a flag names is in the scanned law (difflib, on folded text)."""
    named = FLAG.search(why)
    assert named is not None, why
    registered = office.registered[named["id"]]
    passage = "".join(map(chr, fold(registered.read_text(encoding="utf-8"))))[
        int(named["first"]) - 1 : int(named["last"])
    ]
    scanned_text = "".join(map(chr, fold(scanned.read_text(encoding="utf-8"))))
    matcher = SequenceMatcher(None, passage, scanned_text, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()) / max(len(passage), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--registered", type=int, default=1000)
    parser.add_argument("--excerpts", type=int, default=500)
    args = parser.parse_args()
    paths = laws()
    registered, others = paths[: args.registered], paths[args.registered :]
    half = len(others) // 2
    with tempfile.TemporaryDirectory(prefix="baomi-registry-corpus-") as work:
        plain = Office(Path(work) / "plain")
        plain.folder.mkdir()
        seconds = plain.register(registered, [])
        print(f"# Registered laws\n\n{len(registered)} laws registered in {seconds:.1f} s; {len(others)} scanned.\n")
        rate, missed = recall(plain, registered, args.excerpts)
        print(f"Recall, no public list: {rate:.1%} of {args.excerpts} excerpts; missed (length, edits): {missed}\n")
        strict = Office(Path(work) / "strict")
        strict.folder.mkdir()
        strict.register(registered, others)
        flags = flagged(strict, others)
        print(f"Precision, the other laws as the public list: {len(flags)} flags on {len(others)} laws.")
        rate, missed = recall(strict, registered, args.excerpts)
        print(f"Recall with that public list: {rate:.1%}; missed: {missed}")
        rate, missed = recall(strict, registered, args.excerpts, public=public_hashes(others))
        print(f"... of the excerpts at most half public text: {rate:.1%}; missed: {missed}\n")
        held = Office(Path(work) / "held")
        held.folder.mkdir()
        held.register(registered, others[:half])
        assert held.scanner is not None
        flags = flagged(held, others[half:])
        shares = [shared_passage(path, held, why) for path, why in flags]
        real = sum(share >= 0.6 for share in shares)
        print(
            f"Precision, half of the other laws as the public list, the other half scanned: {len(flags)} flags on "
            f"{len(others) - half} laws, {real} of them passages at least 60 % the same as the registered law's."
        )
        low = sorted(shares)[:10]
        print(f"Lowest shares: {[round(s, 2) for s in low]}")


if __name__ == "__main__":
    main()
