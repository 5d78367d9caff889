"""Folding text for matching (full-width letters and digits, Kangxi radicals, Traditional → Simplified, invisible
characters, dodging spaces) with an offset map, so every match is reported as it stands in the original.
"""

from __future__ import annotations

import hashlib
import re
import sys
import unicodedata
from array import array
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import accumulate
from pathlib import Path

from scanner import cache as disk_cache

# Characters that show nothing, which people paste into words to slip them past filters: Unicode's default-ignorable
# code points (DerivedCoreProperties.txt: zero-width characters, joiners, bidi controls, variation selectors, tags,
# fillers), and the combining marks drawn over the character before them (机̶密̶ struck through, accents stacked on a
# character). Ranges, as a regular expression's class holds them.
_INVISIBLE_RANGES = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164"
    "\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff"
    "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
)
INVISIBLE = "".join(
    chr(cp)
    for first, _, last in re.findall(r"(.)(-(.))?", _INVISIBLE_RANGES, re.S)
    for cp in range(ord(first), ord(last or first) + 1)
)
# Strike-through drawn with combining overlays: a struck mark is a withdrawn one (see detect/marks.py).
STRIKE = "\u0335\u0336\u0338"
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Spaces and filler punctuation people put between CJK characters ("机 密", "机.密", "天河_七号"). Ordinary
# sentence punctuation (，。、) is not filler, and the stars are part of a mark's grammar.
_FILLERS = r" \t\u3000\u00a0·•・_\-~|/\\.'\"`^"
# Line breaks that are not where a line of text ends: one inside a mark's level word (机 at the end of a line, 密★5年
# on the next: a w:br in a narrow header), and those of text written one character per line (a narrow text box:
# 机/密/★/5/年). Two single characters that are both Latin letters or digits stay apart (a column of numbers).
_BROKEN_WORDS = ("绝密", "机密", "秘密", "工作秘密", "商业秘密", "内部")
_ONE = r"[^\s]"
_NOT_ALNUM = r"[^\s0-9A-Za-z]"
# Each kind opens with a test of one character next to the break (the last of a word's first part before it; a line of
# one character after it), so an ordinary line break is passed over after two tests, not twenty.
_JOINED_BREAK = (
    f"(?<=[{''.join(sorted({w[i - 1] for w in _BROKEN_WORDS for i in range(1, len(w))}))}]\n)(?:"
    + "|".join(f"(?<={w[:i]}\n)(?={w[i:]})" for w in _BROKEN_WORDS for i in range(1, len(w)))
    + rf")|(?={_ONE}(?:\n|\Z))(?:(?:(?<=\n{_NOT_ALNUM}\n)|(?<=\A{_NOT_ALNUM}\n))(?={_ONE}(?:\n|\Z))"
    + rf"|(?:(?<=\n{_ONE}\n)|(?<=\A{_ONE}\n))(?={_NOT_ALNUM}(?:\n|\Z)))"
)


@cache
def _cuts_pattern(squeeze: bool, wide: bool, fold: bool) -> re.Pattern[str]:
    """One pattern for everything normalising cuts, so the text is read once: an invisible character anywhere, and
    with `squeeze` a run of fillers between CJK characters and a line break that is not a line's end; with `fold`,
    also a character to fold (group 2, "fold": the text is then folded and read again). Group 1 is the whole match,
    for split. Every alternative opens with one character class, which the regex engine skips ahead to; without
    `wide` (a text with no character beyond the BMP) the class leaves out the invisible characters there, and is
    looked up in a table rather than range by range (twice as fast)."""
    invisible = _INVISIBLE_RANGES if wide else re.sub("[\U00010000-\U0010ffff]-?", "", _INVISIBLE_RANGES)
    folds = _fold()[1] if fold else ""
    fillers = _FILLERS + invisible
    # In this order: a run of fillers takes in the invisible characters within it (an invisible character is a
    # filler), and nothing that folds is cut (tests/test_normalize.py), so a character to fold is always seen.
    alternatives = [
        *([f"(?P<fold>(?<=[{folds}]))"] if fold else []),
        *([rf"(?<=[{_CJK}][{fillers}])[{fillers}]{{0,3}}(?=[{_CJK}])"] if squeeze else []),
        f"(?<=[{invisible}])",
        *([f"(?<=\n)(?:{_JOINED_BREAK})"] if squeeze else []),
    ]
    lead = fillers + "\n" if squeeze else invisible
    return re.compile(f"([{lead}{folds}](?:{'|'.join(alternatives)}))")


VARIANTS = Path(__file__).parent / "data" / "mark-variants.txt"
# Full-width characters folded to ASCII: letters, digits and the star. Full-width punctuation is left as it is: it
# is how Chinese is written, and folding it would mean rewriting every document.
_FOLD_FORMAT = 2  # bump when the way the table is built changes
_FULL_WIDTH = [*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B), 0xFF0A]


@dataclass(slots=True)
class NormalText:
    """Normalised text and the way back: original index = i + the characters cut before normalised index i. Made
    for every segment, most with nothing cut: slots and empty tuples, not a frozen dataclass and two new arrays
    (0.2 µs against 1 µs)."""

    text: str
    _cuts_at: Sequence[int] = field(default=(), repr=False)  # normalised index of each cut
    _cut_total: Sequence[int] = field(default=(), repr=False)  # characters cut up to it, with it

    def original(self, index: int) -> int:
        """The index in the original text of the normalised character at `index` (or of the end, for len)."""
        k = bisect_right(self._cuts_at, index) - 1
        return index + (self._cut_total[k] if k >= 0 else 0)

    def cut_within(self, start: int, end: int) -> bool:
        """Whether anything was cut between normalised characters `start` and `end` (start < end)."""
        return bool(self._cuts_at) and bisect_right(self._cuts_at, end) > bisect_right(self._cuts_at, start)

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The original span of normalised [start, end): from the first to just past the last character."""
        if end <= start:
            return self.original(start), self.original(start)
        return self.original(start), self.original(end - 1) + 1


def normalize(text: str, squeeze: bool = True) -> NormalText:
    """Fold `text`; with `squeeze`, also cut the spaces and fillers between CJK characters (not in file names,
    where a separator is written on purpose: 机密-预算.docx)."""
    if not squeeze and text.isascii():  # most file names: no ASCII character folds or is invisible (a test holds it)
        return NormalText(text)
    if len(text) < _FOLD_IN_THE_PASS_FROM:  # a short text is folded whether it needs to be or not
        folded = text.translate(_fold()[0])
        normal = _normalized(folded, _cuts_pattern(squeeze, _wide(folded), False), folding=False)
    else:
        normal = _normalized(text, _cuts_pattern(squeeze, _wide(text), True), folding=True)
        if normal is None:  # a character to fold: fold the text, and look again at what the folded text holds
            folded = text.translate(_fold()[0])
            normal = _normalized(folded, _cuts_pattern(squeeze, _wide(folded), False), folding=False)
    assert normal is not None  # no character of a folded text folds again
    return normal


# From this many characters on, the characters to fold are looked for in the pass that finds the cuts (most text has
# none, and str.translate takes 90 ns a character); a shorter text (a file name, a cell) is translated at once, so a
# scan that meets only those never compiles the pattern that holds every character to fold (0.06 s).
_FOLD_IN_THE_PASS_FROM = 256


# Up to this many characters a text is cut by the regex engine's split, all in C; a longer one is cut as the matches
# come (_cut), so that a text cut every other character does not become millions of small strings at once.
_SPLIT_AT_MOST = 1 << 20


def _normalized(text: str, pattern: re.Pattern[str], folding: bool) -> NormalText | None:
    if len(text) > _SPLIT_AT_MOST:
        return _cut(text, pattern.finditer(text), folding)
    return _split(text, pattern, folding)


def normalize_term(term: str) -> str:
    """A dictionary term folded the way text is, so that the two meet in the automaton."""
    return normalize(term.strip()).text


def _wide(text: str) -> bool:
    """Whether `text` may hold characters beyond the BMP: CPython stores such a str with four bytes a character
    (PEP 393), and its size says so without reading it. A short str may be taken for wide; that costs only time."""
    return sys.getsizeof(text) >= 4 * len(text) + 40


# Pieces of text kept between cuts are joined this many at a time, so a text with a cut every few characters holds
# its pieces as a few large strings, not as millions of small ones.
_PIECES = 4096


def _cut(folded: str, cuts: Iterator[re.Match[str]], folding: bool) -> NormalText | None:
    """`folded` without the spans matched (adjacent ones taken as one), and the map back; None, when `folding`, as
    soon as a match is a character to fold (group 2)."""
    joined: list[str] = []
    kept: list[str] = []
    cuts_at: array[int] = array("q")
    cut_total: array[int] = array("q")
    total = pos = 0
    for match in cuts:
        if folding and match.start(2) != -1:
            return None
        start, end = match.span()
        if start <= pos and cuts_at:  # runs on from the span before it
            total += end - pos
            cut_total[-1] = total
        else:
            kept.append(folded[pos:start])
            cuts_at.append(start - total)
            total += end - start
            cut_total.append(total)
            if len(kept) == _PIECES:
                joined.append("".join(kept))
                kept.clear()
        pos = end
    if not cuts_at:
        return NormalText(folded)
    kept.append(folded[pos:])
    joined.append("".join(kept))
    return NormalText("".join(joined), cuts_at, cut_total)


def _split(folded: str, pattern: re.Pattern[str], folding: bool) -> NormalText | None:
    """What _cut makes, made by pattern.split: [kept, cut, (fold,) kept, cut, ..., kept], the lengths summed by
    accumulate; Python loops only over adjacent cuts, to take them as one."""
    parts = pattern.split(folded)
    if len(parts) == 1:
        return NormalText(folded)
    width = 3 if folding else 2
    if folding and parts[2::3].count(None) != len(parts) // 3:
        return None
    kept = parts[::width]
    kept_lengths = list(map(len, kept))
    cuts_at = array("q", accumulate(kept_lengths[:-1]))
    cut_total = array("q", accumulate(map(len, parts[1::width])))
    if 0 in kept_lengths[1:-1]:  # nothing kept between two cuts: they are one
        last = [i for i in range(len(cuts_at)) if i + 1 == len(cuts_at) or cuts_at[i + 1] != cuts_at[i]]
        cuts_at, cut_total = array("q", (cuts_at[i] for i in last)), array("q", (cut_total[i] for i in last))
    return NormalText("".join(kept), cuts_at, cut_total)


@cache
def _fold() -> tuple[dict[int, str], str]:
    """One character for one: NFKC where it yields a single character, then Traditional → Simplified; and the
    characters it folds, as a regular expression class's ranges. Built from OpenCC's tables once (0.08 s) and kept in
    the cache after."""
    variants = hashlib.sha256(VARIANTS.read_bytes()).hexdigest()[:12]
    name = f"fold-{_FOLD_FORMAT}-opencc-{disk_cache.installed_version('opencc')}-{variants}.pickle"
    table: dict[int, str] | None = disk_cache.load(name)
    if table is None:
        table = _fold_table()
        disk_cache.save(name, table)
    return table, _ranges(sorted(table))


def _ranges(points: list[int]) -> str:
    """Sorted code points as a class's ranges (a-z), much shorter to compile than each point on its own."""
    out = []
    start = 0
    for i in range(1, len(points) + 1):
        if i == len(points) or points[i] != points[i - 1] + 1:
            first, last = re.escape(chr(points[start])), re.escape(chr(points[i - 1]))
            out.append(first if start == i - 1 else f"{first}-{last}")
            start = i
    return "".join(out)


def _fold_table() -> dict[int, str]:
    import opencc  # only to build the table; a scan loads it from the cache

    to_simplified = opencc.OpenCC("t2s")
    compatibility = [*_FULL_WIDTH, *range(0x2E80, 0x2FE0), *range(0xF900, 0xFB00)]
    table = {cp: unicodedata.normalize("NFKC", chr(cp)) for cp in compatibility}
    table.update({cp: to_simplified.convert(chr(cp)) for cp in range(0x3400, 0xA000)})
    # A Kangxi radical or compatibility ideograph may fold to a Traditional character (⾺ → 馬 → 马).
    table = {cp: to_simplified.convert(folded) for cp, folded in table.items()}
    table.update({ord(v.char): v.stands_for for v in mark_variants() if v.kind == "variant"})
    return {cp: folded for cp, folded in table.items() if len(folded) == 1 and folded != chr(cp)}


@dataclass(frozen=True)
class Variant:
    """A character written for one of a mark word's characters: a true variant, or a look-alike."""

    char: str
    stands_for: str
    kind: str  # "variant" or "look-alike"
    source: str


@cache
def mark_variants() -> tuple[Variant, ...]:
    """The table in scanner/data/mark-variants.txt (its header says where each pair comes from)."""
    out = []
    for line in VARIANTS.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            char, stands_for, kind, source = line.split("\t")
            out.append(Variant(char, stands_for, kind, source))
    return tuple(out)


@cache
def lookalikes() -> dict[str, str]:
    """Character → its look-alikes in the table (true variants are folded before anyone looks)."""
    out: dict[str, str] = {}
    for variant in mark_variants():
        if variant.kind == "look-alike":
            out[variant.stands_for] = out.get(variant.stands_for, "") + variant.char
    return out


def spellings(word: str) -> list[str]:
    """`word` and every way of writing it with look-alikes of its characters (机密, 杌密, 柝密)."""
    out = [""]
    for ch in word:
        out = [done + each for done in out for each in ch + lookalikes().get(ch, "")]
    return out
