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
    """Every fingerprint of every registered document, sorted by hash, with a bitmap in front that answers "surely
    not registered" for most k-grams of a scanned text without touching the sorted arrays."""

    documents: list[DocumentRecord]
    values: np.ndarray  # uint64, sorted
    owners: np.ndarray  # int32: index into documents
    positions: np.ndarray  # int32: where the k-gram stands in its document's folded text
    ranks: np.ndarray  # int32: consecutive for consecutive fingerprints of one document
    bitmap: np.ndarray  # uint8, one bit per value of the top `bits` bits of a hash
    bits: int

    @classmethod
    def build(cls, parts: list[tuple[DocumentRecord, np.ndarray, np.ndarray]]) -> DocumentIndex:
        documents = [record for record, _, _ in parts]
        values = np.concatenate([v for _, v, _ in parts]) if parts else np.zeros(0, np.uint64)
        owners = np.repeat(np.arange(len(parts), dtype=np.int32), [len(v) for _, v, _ in parts])
        positions = np.concatenate([p for _, _, p in parts]).astype(np.int32) if parts else np.zeros(0, np.int32)
        order = np.argsort(values, kind="stable")
        order = order[_not_common(values[order])]
        bits = int(np.clip(np.ceil(np.log2(max(len(values), 1))) + 3, 16, 31))
        bitmap = np.zeros(1 << (bits - 3), dtype=np.uint8)
        top = values[order] >> np.uint64(64 - bits)
        np.bitwise_or.at(bitmap, (top >> np.uint64(3)).astype(np.int64), np.left_shift(1, top & 7).astype(np.uint8))
        return cls(
            documents,
            values[order],
            owners[order],
            positions[order],
            np.arange(len(values), dtype=np.int32)[order],  # parts come in document order, positions ascending
            bitmap,
            bits,
        )

    def __len__(self) -> int:
        return len(self.values)

    def matches(self, codes: np.ndarray, keyed: Keyed, min_chars: int) -> list[Match]:
        """The passages of the folded text `codes` that match a registered document over `min_chars` or more."""
        if not len(self.values) or len(codes) < K:
            return []
        raw = kgram_hashes(codes)
        small = small_positions(raw)
        hashes = keyed(raw[small])
        top = hashes >> np.uint64(64 - self.bits)
        maybe = np.flatnonzero((self.bitmap[(top >> np.uint64(3)).astype(np.intp)] >> (top & 7).astype(np.uint8)) & 1)
        if not len(maybe):
            return []
        hashes, small = hashes[maybe], small[maybe]
        left = np.searchsorted(self.values, hashes, "left")
        count = np.searchsorted(self.values, hashes, "right") - left
        found = count > 0
        small, left, count = small[found], left[found], count[found]
        # One hit per (scanned k-gram, registered fingerprint) pair: a phrase a document repeats gives several.
        at = np.repeat(small, count)
        entry = np.repeat(left, count) + np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        # Most hits are common phrasing scattered over many documents: a document hit fewer times can have no run.
        hits = np.bincount(self.owners[entry], minlength=len(self.documents))
        enough = hits[self.owners[entry]] >= MIN_FINGERPRINTS
        return self._runs(at[enough], entry[enough], min_chars) if enough.any() else []

    def _runs(self, at: np.ndarray, entry: np.ndarray, min_chars: int) -> list[Match]:
        """Runs of hits of one document at one alignment, in order on both sides. Alignments are binned twice (the
        second time shifted by half a band) so a run drifting across a bin's edge is whole in one of the two."""
        owner, position, rank = self.owners[entry], self.positions[entry], self.ranks[entry]
        best: dict[tuple[int, int], Match] = {}
        for shift in (0, BAND // 2):
            band = (at - position + shift) // BAND
            order = np.lexsort((at, band, owner))
            s, o, b, p, r = at[order], owner[order], band[order], position[order], rank[order]
            step = np.diff(r)
            broken = np.ones(len(s), dtype=bool)
            broken[1:] = (o[1:] != o[:-1]) | (b[1:] != b[:-1]) | (step <= 0) | (step > MISSED + 1)
            starts = np.flatnonzero(broken)
            count = np.diff(np.append(starts, len(s)))
            first, last = s[starts], np.maximum.reduceat(s, starts)
            p_first, p_last = p[starts], np.maximum.reduceat(p, starts)
            span = np.minimum(last - first, p_last - p_first) + K
            # The ends of a passage lie about one fingerprint spacing beyond the first and last fingerprint found.
            chars = span + np.minimum(span // np.maximum(count - 1, 1), WINDOW)
            dense = count * SPARSEST >= span
            for i in np.flatnonzero((count >= MIN_FINGERPRINTS) & (chars >= min_chars) & dense):
                match = Match(
                    self.documents[int(o[starts[i]])],
                    int(first[i]),
                    int(last[i]) + K,
                    int(p_first[i]),
                    int(p_last[i]) + K,
                    int(count[i]),
                    int(chars[i]),
                )
                key = (int(o[starts[i]]), int(first[i]) // max(min_chars, 1))
                if key not in best or best[key].chars < match.chars:
                    best[key] = match
        return _without_overlaps(sorted(best.values(), key=lambda m: (m.start, -m.chars)))


def _not_common(values: np.ndarray) -> np.ndarray:
    """Which of these sorted values occur at most MAX_SHARED times."""
    if not len(values):
        return np.zeros(0, dtype=bool)
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    counts = np.diff(np.append(starts, len(values)))
    return np.repeat(counts <= MAX_SHARED, counts)


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
