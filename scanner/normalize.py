"""Folding text for matching (full-width letters and digits, Kangxi radicals, Traditional → Simplified, invisible
characters, dodging spaces) with an offset map, so every match is reported as it stands in the original.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import version

import opencc

from scanner import cache as disk_cache

# Invisible characters people paste into words to slip them past filters: zero-width, joiners, bidi controls.
INVISIBLE = (
    "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Spaces and filler punctuation people put between CJK characters ("机 密", "机.密", "天河_七号"). Ordinary
# sentence punctuation (，。、) is not filler, and the stars are part of a mark's grammar. The pattern opens with the
# filler class so the regex engine can skip ahead to it; a fixed-width lookbehind then checks the CJK before.
_FILLER_CLASS = rf" \t\u3000\u00a0·•・_\-~|/\\.'\"`^{INVISIBLE}"
_FILLER = re.compile(rf"[{_FILLER_CLASS}](?<=[{_CJK}].)[{_FILLER_CLASS}]{{0,3}}(?=[{_CJK}])")
# One character a match (runs are merged after): sre skips ahead to a lone character class ~4x faster than to `[…]+`.
_INVISIBLE = re.compile(f"[{INVISIBLE}]")
# Full-width characters folded to ASCII: letters, digits and the star. Full-width punctuation is left as it is: it
# is how Chinese is written, and folding it would mean rewriting every document.
_FOLD_FORMAT = 1  # bump when the way the table is built changes
_FULL_WIDTH = [*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B), 0xFF0A]


@dataclass(frozen=True)
class NormalText:
    """Normalised text and the way back: original index = i + the characters cut before normalised index i."""

    text: str
    _cuts_at: list[int] = field(default_factory=list, repr=False)  # normalised index where a cut happened
    _cut_total: list[int] = field(default_factory=list, repr=False)  # characters cut up to and including it

    def original(self, index: int) -> int:
        """The index in the original text of the normalised character at `index` (or of the end, for len)."""
        k = bisect_right(self._cuts_at, index) - 1
        return index + (self._cut_total[k] if k >= 0 else 0)

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The original span of normalised [start, end): from the first to just past the last character."""
        if end <= start:
            return self.original(start), self.original(start)
        return self.original(start), self.original(end - 1) + 1


def normalize(text: str, squeeze: bool = True) -> NormalText:
    """Fold `text`; with `squeeze`, also cut the spaces and fillers between CJK characters (not in file names,
    where a separator is written on purpose: 机密-预算.docx)."""
    table, needs_folding = _fold()
    folded = text.translate(table) if needs_folding.search(text) else text
    spans = [m.span() for m in _INVISIBLE.finditer(folded)]
    if squeeze:
        spans += [m.span() for m in _FILLER.finditer(folded)]
    if not spans:
        return NormalText(folded)
    return _cut(folded, _merged(spans))


def normalize_term(term: str) -> str:
    """A dictionary term folded the way text is, so that the two meet in the automaton."""
    return normalize(term.strip()).text


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _cut(folded: str, spans: list[tuple[int, int]]) -> NormalText:
    kept: list[str] = []
    cuts_at: list[int] = []
    cut_total: list[int] = []
    total = pos = 0
    for start, end in spans:
        kept.append(folded[pos:start])
        cuts_at.append(start - total)
        total += end - start
        cut_total.append(total)
        pos = end
    kept.append(folded[pos:])
    return NormalText("".join(kept), cuts_at, cut_total)


@cache
def _fold() -> tuple[dict[int, str], re.Pattern[str]]:
    """One character for one: NFKC where it yields a single character, then Traditional → Simplified; and a
    pattern that finds whether a text has anything to fold at all (most Simplified text has not). Built from
    OpenCC's tables once (0.08 s) and kept in the cache after."""
    name = f"fold-{_FOLD_FORMAT}-opencc-{version('opencc')}.pickle"
    table: dict[int, str] | None = disk_cache.load(name)
    if table is None:
        table = _fold_table()
        disk_cache.save(name, table)
    return table, re.compile("[" + "".join(re.escape(chr(cp)) for cp in sorted(table)) + "]")


def _fold_table() -> dict[int, str]:
    to_simplified = opencc.OpenCC("t2s")
    compatibility = [*_FULL_WIDTH, *range(0x2E80, 0x2FE0), *range(0xF900, 0xFB00)]
    table = {cp: unicodedata.normalize("NFKC", chr(cp)) for cp in compatibility}
    table.update({cp: to_simplified.convert(chr(cp)) for cp in range(0x3400, 0xA000)})
    # A Kangxi radical or compatibility ideograph may fold to a Traditional character (⾺ → 馬 → 马).
    table = {cp: to_simplified.convert(folded) for cp, folded in table.items()}
    return {cp: folded for cp, folded in table.items() if len(folded) == 1 and folded != chr(cp)}
