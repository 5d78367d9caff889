"""Fingerprints of folded text: keyed hashes of character k-grams, winnowed, computed with numpy over whole texts.

What registration stores and what a scan looks up are made by the same functions here, so the two always agree.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from itertools import accumulate
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from scanner.normalize import normalize

K = 6  # characters in a k-gram: long enough that a match means shared wording, short enough to survive edits
WINDOW = 12  # k-grams in a winnowing window: every stretch of K + WINDOW - 1 characters keeps a fingerprint
# The base of the polynomial rolling hash over code points (odd, so its powers are invertible modulo 2**64) where
# nothing depends on which values are picked (a table's cells); fingerprints use a base derived from the key.
PUBLIC_BASE = 0x9E3779B97F4A7C15
_U64 = np.uint64
# Winnowing keeps the least hash of each window, and the least of WINDOW hashes is under a quarter of the range but
# in 3 % of windows. Documents keep only fingerprints under it, so a scan keys and looks up only the quarter of its
# k-grams under it: the keyed hash, the dear part, is computed for few.
SMALL = np.uint64(1 << 62)
SEPARATOR = 0  # stands for the spaces and punctuation between values, in the table reading of a text
_BMP = 0x10000
_UNICODE = 0x110000


@dataclass(frozen=True)
class Folded:
    """The content characters of a text as code points, and where each came from in the normalised texts."""

    codes: np.ndarray  # uint32 code points: letters (lower case) and digits, CJK included; SEPARATOR in tables
    kept: np.ndarray  # bool, per character of the joined normalised text: whether it is in codes
    starts: np.ndarray  # int64: where each input text begins in the joined normalised text

    @cached_property
    def source(self) -> np.ndarray:
        """int64: index of each code in the joined normalised text (asked for only where something was found)."""
        return np.flatnonzero(self.kept)


@cache
def _folding() -> np.ndarray:
    """For every code point, its folded form: the lower case of a letter or digit of any script, 0 for anything else
    (spaces, punctuation, symbols). Past the BMP (CJK extensions B and on) every code point is content."""
    chars = [chr(cp) for cp in range(_BMP)]
    bmp = np.fromiter(
        (0 if not ch.isalnum() else ord(low) if len(low := ch.lower()) == 1 else ord(ch) for ch in chars),
        np.uint32,
        _BMP,
    )
    return np.concatenate((bmp, np.arange(_BMP, _UNICODE, dtype=np.uint32)))


def fold_texts(normal_texts: Sequence[str], separators: bool = False) -> Folded:
    """Fold already-normalised texts into one stream of content characters: punctuation and spaces go (with
    `separators`, each run of them becomes one SEPARATOR, and spaces or hyphens inside numbers go)."""
    starts = np.fromiter(accumulate((len(t) + 1 for t in normal_texts[:-1]), initial=0), np.int64)
    # Texts are joined with NUL, which is no content: a k-gram may run on from one segment into the next.
    joined = "\0".join(normal_texts).encode("utf-32-le", errors="surrogatepass")
    raw = np.frombuffer(joined, dtype=np.uint32)
    folded = _folding()[raw]
    kept = folded != 0
    if separators:
        gap = ~kept & ~_number_joiners(raw)
        boundary = gap.copy()
        boundary[1:] &= ~gap[:-1]  # the first of each run of spaces and punctuation stands for the run
        kept |= boundary  # a boundary folds to 0, the SEPARATOR
    return Folded(folded[kept], kept, starts)


def _number_joiners(raw: np.ndarray) -> np.ndarray:
    """A single space or hyphen between two digits: no separator, so that a phone number written 138-1234-5678 or
    138 1234 5678 is one value, as in the table it came from."""
    digit = (raw >= 0x30) & (raw <= 0x39)
    joiner = np.zeros(len(raw), dtype=bool)
    joiner[1:-1] = ((raw[1:-1] == 0x20) | (raw[1:-1] == 0x2D)) & digit[:-2] & digit[2:]
    return joiner


def fold(text: str) -> np.ndarray:
    """The content characters of one raw text, normalised the way scans normalise."""
    return fold_texts([normalize(text).text]).codes


class Keyed:
    """The keyed pseudo-random function over 64-bit k-gram hashes: AES-128 of each hash under a key derived from the
    installation's secret. Without the secret the stored values tell nothing, not even whether a phrase is there."""

    def __init__(self, secret: bytes, purpose: str) -> None:
        self.key = hmac.new(secret, f"baomi {purpose}".encode(), hashlib.sha256).digest()[:16]
        base = hmac.new(secret, f"baomi {purpose} base".encode(), hashlib.sha256).digest()[:8]
        self.base = int.from_bytes(base, "little") | 1  # odd: invertible modulo 2**64
        self._local = threading.local()  # an encryptor per thread: doors scan in several

    def __call__(self, hashes: np.ndarray) -> np.ndarray:
        if not len(hashes):
            return np.zeros(0, _U64)
        blocks = np.zeros(2 * len(hashes), dtype=_U64)
        blocks[::2] = hashes
        encryptor = getattr(self._local, "encryptor", None)
        if encryptor is None:  # ECB keeps no state between whole blocks: one encryptor serves every call
            encryptor = self._local.encryptor = Cipher(algorithms.AES(self.key), modes.ECB()).encryptor()
        return np.frombuffer(encryptor.update(blocks.tobytes()), dtype=_U64)[0::2]

    def __getstate__(self) -> dict[str, bytes | int]:
        return {"key": self.key, "base": self.base}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.key, self.base = state["key"], state["base"]
        self._local = threading.local()


def key_id(secret: bytes) -> str:
    """A short name for the secret, kept in the store, so that a store is never read with the wrong key."""
    return hmac.new(secret, b"baomi key id", hashlib.sha256).hexdigest()[:16]


def substring_hashes(codes: np.ndarray, length: int, base: int = PUBLIC_BASE) -> np.ndarray:
    """The polynomial hash of every run of `length` codes (position i hashes codes[i : i + length]), the same
    wherever the run stands, from prefix sums in a few passes over the text whatever the length."""
    n = len(codes) - length + 1
    if n <= 0 or length <= 0:
        return np.zeros(0, _U64)
    powers, inverse = _powers(base, len(codes) + 1)
    # Arithmetic on arrays of integers wraps around silently: modulo 2**64 is what is wanted.
    prefix = np.zeros(len(codes) + 1, dtype=_U64)
    np.multiply(codes, powers[: len(codes)], out=prefix[1:])
    np.cumsum(prefix[1:], out=prefix[1:])
    return (prefix[length : length + n] - prefix[:n]) * inverse[:n]


_power_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _powers(base: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """base**i and base**-i modulo 2**64 for i < count, grown as longer texts come."""
    cached = _power_cache.get(base)
    if cached is not None and len(cached[0]) >= count:
        return cached
    size = max(count, 1 << 16, 2 * len(cached[0]) if cached is not None else 0)
    powers = _cumulative(_U64(base), size)
    inverse = _cumulative(_U64(pow(base, -1, 1 << 64)), size)
    _power_cache[base] = (powers, inverse)
    return powers, inverse


def _cumulative(base: np.uint64, size: int) -> np.ndarray:
    out = np.full(size, base, dtype=_U64)
    out[0] = 1
    np.multiply.accumulate(out, out=out)
    return out


def kgram_hashes(codes: np.ndarray, base: int = PUBLIC_BASE) -> np.ndarray:
    """The hash of every k-gram under `base` (a Keyed's base for fingerprints: which k-grams winnowing picks then
    depends on the key too, so the pattern of a document's fingerprint positions cannot be recomputed without it)."""
    return substring_hashes(codes, K, base)


def fingerprint_positions(hashes: np.ndarray) -> np.ndarray:
    """The k-grams a document keeps: winnowed, and small (see SMALL)."""
    selected = winnow(hashes)
    return selected[hashes[selected] < SMALL]


def small_positions(hashes: np.ndarray) -> np.ndarray:
    """The k-grams of a scanned text that may be fingerprints: the only ones a scan keys and looks up."""
    return np.flatnonzero(hashes < SMALL)


def winnow(hashes: np.ndarray, window: int = WINDOW) -> np.ndarray:
    """Positions of the k-grams winnowing selects: in every window of `window` consecutive k-grams, the one with
    the least hash (ties: all of them). Computed for all windows at once by doubling (see _running)."""
    if not len(hashes):
        return np.zeros(0, np.int64)
    if len(hashes) <= window:
        return np.flatnonzero(hashes == hashes.min())
    minima = _running(hashes, window, np.minimum)
    # A k-gram is selected when it is the minimum of some window holding it: equal to the largest of those minima.
    pad = np.zeros(window - 1, dtype=_U64)
    largest = _running(np.concatenate((pad, minima, pad)), window, np.maximum)
    return np.flatnonzero(hashes == largest)


def _running(values: np.ndarray, window: int, op: np.ufunc) -> np.ndarray:
    """op (minimum or maximum: overlaps do no harm) over every window of `window` consecutive values: over windows
    of 2, 4, 8 ... up to the largest power of two in `window`, then two of those overlapping. A few whole-array
    passes, each a plain vector operation (a scan winnows every text it looks up)."""
    span, result = 1, values
    while span * 2 <= window:
        result = op(result[:-span], result[span:])  # result[i]: op over values[i : i + 2 * span]
        span *= 2
    count = len(values) - window + 1
    combined: np.ndarray = op(result[:count], result[window - span : window - span + count])
    return combined
