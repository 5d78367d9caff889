"""Registered documents in memory: every fingerprint of every document sorted for lookup, and the matching of a
scanned text against them (runs of fingerprints in the same order and at the same offset as in one document).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scanner.registry.fingerprint import WINDOW, K, Keyed, kgram_hashes, small_positions
from scanner.registry.store import DocumentRecord

BAND = 16  # offsets (scanned position − registered position) within this many characters are one alignment
MISSED = 8  # registered fingerprints edits may hide between two found ones before a run is broken
SPARSEST = 36  # folded characters per fingerprint found, at most, over a run: edits hide many, not nearly all
MIN_FINGERPRINTS = 4  # a run of fewer is a coincidence of common phrasing, however long it looks
# A fingerprint more registered documents share than this is the office's common phrasing, no evidence of any one
# document (and each of its occurrences in a scanned text would cost a hit per document).
MAX_SHARED = 16


@dataclass(frozen=True)
class Match:
    """A passage of a scanned text that is a passage of a registered document."""

    document: DocumentRecord
    start: int  # in the folded stream of the scanned text: first character of the first matched k-gram
    end: int  # just past the last matched k-gram
    registered_start: int  # the same passage in the registered document's folded text
    registered_end: int
    fingerprints: int
    chars: int  # folded characters matched, estimated from the fingerprints found


@dataclass
class DocumentIndex:
    """Every fingerprint of every registered document: the distinct values sorted and bucketed by their top bits (a
    k-gram of a scanned text whose bucket is empty, most of them, costs a read in a bitmap, the others a read or two
    more), and for each value the entries of the documents that hold it."""

    documents: list[DocumentRecord]
    values: np.ndarray  # uint64, sorted, distinct, then the largest uint64 (no entries): every bucket has a next
    first: np.ndarray  # int32: the entries of values[i] are first[i] to first[i + 1]
    owners: np.ndarray  # int32, per entry: index into documents
    positions: np.ndarray  # int32, per entry: where the k-gram stands in its document's folded text
    ranks: np.ndarray  # int32, per entry: consecutive for consecutive fingerprints of one document
    offsets: np.ndarray  # int32: where each bucket of values begins (one more at the end)
    bits: int
    bitmap: np.ndarray  # uint8: a bit per value of the top `bits` + 1 bits of a hash, small enough to stay in cache

    @classmethod
    def build(cls, parts: list[tuple[DocumentRecord, np.ndarray, np.ndarray]]) -> DocumentIndex:
        documents = [record for record, _, _ in parts]
        values = np.concatenate([v for _, v, _ in parts]) if parts else np.zeros(0, np.uint64)
        owners = np.repeat(np.arange(len(parts), dtype=np.int32), [len(v) for _, v, _ in parts])
        positions = np.concatenate([p for _, _, p in parts]).astype(np.int32) if parts else np.zeros(0, np.int32)
        ranks = np.arange(len(values), dtype=np.int32)  # parts come in document order, positions ascending
        order = np.argsort(values, kind="stable")
        starts = _equal_runs(values[order])
        held = np.diff(np.append(starts, len(order)))
        order = order[np.repeat(held <= MAX_SHARED, held)]
        starts = _equal_runs(values[order])
        first = np.append(starts, [len(order), len(order)]).astype(np.int32)
        values = np.append(values[order][starts], np.iinfo(np.uint64).max)
        bits = int(np.clip(np.ceil(np.log2(max(len(values), 1))) + 1, 8, 29))  # a third of the buckets busy
        buckets = np.bincount((values >> np.uint64(64 - bits)).astype(np.intp), minlength=1 << bits)
        offsets = np.concatenate(([0], np.cumsum(buckets))).astype(np.int32)
        top = values >> np.uint64(64 - bits - 1)
        bitmap = np.zeros(1 << (bits - 2), dtype=np.uint8)
        np.bitwise_or.at(bitmap, (top >> np.uint64(3)).astype(np.intp), np.left_shift(1, top & 7).astype(np.uint8))
        return cls(documents, values, first, owners[order], positions[order], ranks[order], offsets, bits, bitmap)

    def __len__(self) -> int:
        """How many fingerprints are registered."""
        return len(self.owners)

    def matches(self, codes: np.ndarray, keyed: Keyed, min_chars: int) -> list[Match]:
        """The passages of the folded text `codes` that match a registered document over `min_chars` or more."""
        # A match is counted at most WINDOW characters longer than the text it is in: a shorter text holds none.
        if not len(self.owners) or len(codes) < max(K, min_chars - WINDOW):
            return []
        raw = kgram_hashes(codes, keyed.base)
        small = small_positions(raw)
        hashes = keyed(raw[small])
        small, value = self._lookup(small, hashes)
        # One hit per (scanned k-gram, registered fingerprint) pair: a phrase a document repeats gives several.
        left = self.first[value]
        count = self.first[value + 1] - left
        at = np.repeat(small, count)
        entry = np.repeat(left, count) + np.arange(len(at)) - np.repeat(np.cumsum(count) - count, count)
        if len(at) < MIN_FINGERPRINTS:
            return []
        owner, position = self.owners[entry], self.positions[entry]
        # Most hits are common phrasing, scattered over documents and alignments: a run needs MIN_FINGERPRINTS of
        # one document at one alignment, and most files have no such group (tested with a sort, before any run).
        if not _aligned(at, owner, position, MIN_FINGERPRINTS):
            return []
        return self._runs(_Hits.aligned(at, owner, position, self.ranks[entry]), min_chars)

    def _lookup(self, places: np.ndarray, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The places whose hash is registered, and the index of that hash in values."""
        top = hashes >> np.uint64(64 - self.bits - 1)
        marked = np.flatnonzero((self.bitmap[(top >> np.uint64(3)).astype(np.intp)] >> (top & 7).astype(np.uint8)) & 1)
        places, hashes = places[marked], hashes[marked]
        bucket = (hashes >> np.uint64(64 - self.bits)).astype(np.intp)
        at = self.offsets[bucket]
        # Most buckets hold one value at most: the few hashes that are not the first of a bucket holding more are
        # looked up by bisection (no loop of numpy calls per step, which is what a file's lookup costs).
        crowded = np.flatnonzero((self.values[at] != hashes) & (self.offsets[bucket + 1] - at > 1))
        at[crowded] = np.searchsorted(self.values, hashes[crowded])
        found = np.flatnonzero(self.values[at] == hashes)
        return places[found], at[found]

    def _runs(self, hits: _Hits, min_chars: int) -> list[Match]:
        """Runs of hits of one document at one alignment, in order on both sides."""
        best: dict[tuple[int, int], Match] = {}
        order = np.lexsort((hits.at, hits.group))
        s, g, p, r = hits.at[order], hits.group[order], hits.position[order], hits.rank[order]
        step = np.diff(r)
        broken = np.ones(len(s), dtype=bool)
        broken[1:] = (g[1:] != g[:-1]) | (step <= 0) | (step > MISSED + 1)
        starts = np.flatnonzero(broken)
        count = np.diff(np.append(starts, len(s)))
        first, last = s[starts], np.maximum.reduceat(s, starts)
        p_first, p_last = p[starts], np.maximum.reduceat(p, starts)
        span = np.minimum(last - first, p_last - p_first) + K
        # The ends of a passage lie about one fingerprint spacing beyond the first and last fingerprint found.
        chars = span + np.minimum(span // np.maximum(count - 1, 1), WINDOW)
        dense = count * SPARSEST >= span
        for i in np.flatnonzero((count >= MIN_FINGERPRINTS) & (chars >= min_chars) & dense):
            owner = _Hits.owner(int(g[starts[i]]))
            match = Match(
                self.documents[owner],
                int(first[i]),
                int(last[i]) + K,
                int(p_first[i]),
                int(p_last[i]) + K,
                int(count[i]),
                int(chars[i]),
            )
            key = (owner, int(first[i]) // max(min_chars, 1))
            if key not in best or best[key].chars < match.chars:
                best[key] = match
        return _without_overlaps(sorted(best.values(), key=lambda m: (m.start, -m.chars)))


@dataclass(frozen=True)
class _Hits:
    """Hits of a scanned text on registered fingerprints, each in its alignment group: one document, and scanned
    minus registered position within BAND. Alignments are binned twice (the second time shifted by half a band, the
    hits given twice) so a run drifting across a bin's edge is whole in one of the two."""

    at: np.ndarray  # int64: the scanned k-gram
    position: np.ndarray  # the registered one
    rank: np.ndarray
    group: np.ndarray  # int64: document, binning and band in one number

    @classmethod
    def aligned(cls, at: np.ndarray, owner: np.ndarray, position: np.ndarray, rank: np.ndarray) -> _Hits:
        at, position, rank = np.tile(at, 2), np.tile(position, 2), np.tile(rank, 2)
        shift = np.repeat(np.array([0, BAND // 2]), len(owner))
        band = (at - position + shift) // BAND
        twin = np.concatenate((owner * 2, owner * 2 + 1)).astype(np.int64)
        return cls(at, position, rank, (twin << 32) + band + (1 << 31))

    @staticmethod
    def owner(group: int) -> int:
        return group >> 33


def _aligned(at: np.ndarray, owner: np.ndarray, position: np.ndarray, least: int) -> bool:
    """Whether a group of _Hits (either binning) would hold `least` hits or more, without giving the hits twice: a
    group of either binning is two neighbouring half bands, so `least` hits of one document sorted by half band
    span at most two neighbouring ones."""
    half = (at - position) // (BAND // 2)
    ordered = np.sort((owner.astype(np.int64) << 32) + half + (1 << 31))
    return bool((ordered[least - 1 :] - ordered[: len(ordered) - least + 1] <= 1).any())


def _equal_runs(values: np.ndarray) -> np.ndarray:
    """Where each run of equal values of a sorted array begins."""
    return np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1]))) if len(values) else np.zeros(0, np.intp)


def _without_overlaps(matches: list[Match]) -> list[Match]:
    """Both binnings may find the same passage: keep the longer of two overlapping matches of one document."""
    kept: list[Match] = []
    for match in matches:
        clash = next((k for k in kept if k.document.id == match.document.id and k.end > match.start), None)
        if clash is None:
            kept.append(match)
        elif match.chars > clash.chars:
            kept[kept.index(clash)] = match
    return kept
