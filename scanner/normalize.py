"""Folding text for matching (NFKC, Traditional → Simplified, invisible characters, dodging spaces) with an
offset map, so every match is reported as it stands in the original.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import cache

import opencc

# Invisible characters people paste into words to slip them past filters: zero-width, joiners, bidi controls.
INVISIBLE = (
    "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Spaces and filler punctuation between two CJK characters ("机 密", "机.密", "天河_七号"). The stars are kept: they
# are part of a mark's grammar.
_FILLER = re.compile(rf"(?<=[{_CJK}])[ \t\u3000\u00a0·•・_\-~|/\\.。、,，'\"`^{INVISIBLE}]{{1,4}}(?=[{_CJK}])")
_INVISIBLE = re.compile(f"[{INVISIBLE}]+")


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
    folded = text.translate(_fold_table())
    cut = _cut_pattern() if squeeze else _INVISIBLE
    if not cut.search(folded):
        return NormalText(folded)
    kept: list[str] = []
    cuts_at: list[int] = []
    cut_total: list[int] = []
    total = 0
    pos = 0
    for match in cut.finditer(folded):
        kept.append(folded[pos : match.start()])
        total += match.end() - match.start()
        cuts_at.append(match.start() - (total - (match.end() - match.start())))
        cut_total.append(total)
        pos = match.end()
    kept.append(folded[pos:])
    return NormalText("".join(kept), cuts_at, cut_total)


def normalize_term(term: str) -> str:
    """A dictionary term folded the way text is, so that the two meet in the automaton."""
    return normalize(term.strip()).text


@cache
def _cut_pattern() -> re.Pattern[str]:
    # Fillers between CJK (invisible characters among them), and invisible characters anywhere else.
    return re.compile(f"{_FILLER.pattern}|{_INVISIBLE.pattern}")


@cache
def _fold_table() -> dict[int, str]:
    """One character for one: NFKC where it yields a single character, then Traditional → Simplified."""
    to_simplified = opencc.OpenCC("t2s")
    compatibility = [*range(0xFF01, 0xFF5F), *range(0x2E80, 0x2FE0), *range(0xF900, 0xFB00), 0x3000]
    table = {cp: unicodedata.normalize("NFKC", chr(cp)) for cp in compatibility}
    table.update({cp: to_simplified.convert(chr(cp)) for cp in range(0x3400, 0xA000)})
    # A Kangxi radical or compatibility ideograph may fold to a Traditional character (⾺ → 馬 → 马).
    table = {cp: to_simplified.convert(folded) for cp, folded in table.items()}
    return {cp: folded for cp, folded in table.items() if len(folded) == 1 and folded != chr(cp)}
