"""Dictionary terms: an automaton hit counts only where jieba agrees the term is a word there.

有机密封圈 holds no 机密 and 便秘密切 no 秘密; jieba segments a small window around each hit, never a whole document.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from scanner.detect.view import Judged, SegmentView
from scanner.dictionaries import Term
from scanner.model import Finding

if TYPE_CHECKING:
    import jieba

_WINDOW = 8  # characters of context on each side that jieba sees
_ASCII_WORD = re.compile(r"[A-Za-z0-9]")


class TermChecker:
    """Owns its own jieba tokenizer, loaded on the first hit, so a file without hits never pays for it."""

    def __init__(self) -> None:
        self._tokenizer: jieba.Tokenizer | None = None
        self._known: set[str] = set()

    def judge(self, view: SegmentView, hits: Iterable[tuple[int, int, tuple[Term, ...]]]) -> Iterator[Judged]:
        text = view.normal.text
        for start, end, terms in hits:
            term = terms[0]
            rule = f"term.{term.category}"
            location = view.location(start, end)
            original = view.text(start, end)
            if not self.is_word_here(text, start, end):
                yield Judged(rule, original, location, "mention (not_a_word_here)", None)
                continue
            for each in terms:
                finding = Finding(
                    category=each.category,
                    rule=f"term.{each.category}",
                    action=each.action,
                    text=original,
                    location=location,
                    context=view.context(start, end),
                    explanation=f"dictionary term {each.text!r} ({each.source})",
                )
                yield Judged(finding.rule, original, location, "finding", finding)

    def is_word_here(self, text: str, start: int, end: int) -> bool:
        """True when segmenting the window around [start, end) cuts at both ends of the hit."""
        term = text[start:end]
        if _ASCII_WORD.match(term[0]) or _ASCII_WORD.match(term[-1]):
            return _ascii_bounded(text, start, end)
        lo = max(0, start - _WINDOW, text.rfind("\n", 0, start) + 1)
        hi = min(len(text), end + _WINDOW)
        newline = text.find("\n", end, hi)
        hi = newline if newline != -1 else hi
        freq = self._dictionary_with(term)
        # Without HMM every token jieba can choose is a dictionary word or a single character, so where no word of
        # its dictionary crosses either end of the hit, every segmentation cuts there and the dynamic programme
        # need not run. It runs for the ambiguous ones only (有机密封圈: 有机 crosses the start of 机密).
        if not _crossed(freq, text, lo, hi, start) and not _crossed(freq, text, lo, hi, end):
            return True
        cuts = self._cuts(text[lo:hi])
        return (start - lo) in cuts and (end - lo) in cuts

    def _dictionary_with(self, term: str) -> dict[str, int]:
        """jieba's word frequencies, with `term` added as a word if jieba did not know it."""
        tokenizer = self._load()
        if term not in self._known:
            self._known.add(term)
            if tokenizer.FREQ.get(term, 0) == 0:
                tokenizer.add_word(term)
        freq: dict[str, int] = tokenizer.FREQ
        return freq

    def _cuts(self, window: str) -> set[int]:
        cuts = {0}
        pos = 0
        for word in self._load().cut(window, HMM=False):
            pos += len(word)
            cuts.add(pos)
        return cuts

    def _load(self) -> jieba.Tokenizer:
        if self._tokenizer is None:
            import jieba  # 0.1 s of imports and 0.6 s of dictionary: paid on the first hit, not at start-up

            jieba.setLogLevel(logging.WARNING)
            self._tokenizer = jieba.Tokenizer()
            self._tokenizer.initialize()
        return self._tokenizer


def _crossed(freq: dict[str, int], text: str, lo: int, hi: int, pos: int) -> bool:
    """Whether a word of the dictionary, inside [lo, hi), starts before `pos` and ends after it. jieba's FREQ holds
    every prefix of every word (with frequency 0), so a walk stops as soon as no word can go on."""
    for i in range(max(lo, pos - _WINDOW), pos):
        k = pos + 1
        if text[i:pos] not in freq:
            continue
        while k <= hi and (fragment := text[i:k]) in freq:
            if freq[fragment]:
                return True
            k += 1
    return False


def _ascii_bounded(text: str, start: int, end: int) -> bool:
    """A Latin term (a codename such as K-7) must not be part of a longer Latin word."""
    before = text[start - 1] if start else " "
    after = text[end] if end < len(text) else " "
    return not (_ASCII_WORD.match(before) and _ASCII_WORD.match(text[start])) and not (
        _ASCII_WORD.match(after) and _ASCII_WORD.match(text[end - 1])
    )
