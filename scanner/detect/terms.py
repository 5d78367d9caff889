"""Dictionary terms: an automaton hit counts only where jieba agrees the term is a word there.

有机密封圈 holds no 机密 and 便秘密切 no 秘密; jieba (scanner/detect/segmenter.py) segments a small window around each
hit, never a whole document.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator

from scanner.detect.segmenter import Segmenter, load_segmenter
from scanner.detect.view import Judged, SegmentView
from scanner.dictionaries import Term
from scanner.model import Finding

_WINDOW = 8  # characters of context on each side that jieba sees
_ASCII_WORD = re.compile(r"[A-Za-z0-9]")


class TermChecker:
    """Owns its own segmenter, loaded on the first hit, so a file without hits never pays for it."""

    def __init__(self, segmenter: Callable[[], Segmenter] = load_segmenter) -> None:
        self._new_segmenter = segmenter
        self._segmenter: Segmenter | None = None
        self._known: set[str] = set()

    def judge(self, view: SegmentView, hits: Iterable[tuple[int, int, tuple[Term, ...]]]) -> Iterator[Judged]:
        text = view.normal.text
        for start, end, terms in hits:
            term = terms[0]
            if not self.is_word_here(text, start, end):
                yield Judged(f"term.{term.category}", (start, end), "mention (not_a_word_here)", None)
                continue
            location = view.location(start, end)
            original = view.text(start, end)
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
                yield Judged(finding.rule, (start, end), "finding", finding)

    def is_word_here(self, text: str, start: int, end: int) -> bool:
        """True when segmenting the window around [start, end) cuts at both ends of the hit."""
        term = text[start:end]
        if _ASCII_WORD.match(term[0]) or _ASCII_WORD.match(term[-1]):
            return _ascii_bounded(text, start, end)
        lo = max(0, start - _WINDOW, text.rfind("\n", 0, start) + 1)
        hi = min(len(text), end + _WINDOW)
        newline = text.find("\n", end, hi)
        hi = newline if newline != -1 else hi
        cuts = self._cuts(text[lo:hi], term)
        return (start - lo) in cuts and (end - lo) in cuts

    def _cuts(self, window: str, term: str) -> set[int]:
        if self._segmenter is None:
            self._segmenter = self._new_segmenter()
        if term not in self._known:
            self._known.add(term)
            self._segmenter.know(term)
        cuts = {0}
        pos = 0
        for word in self._segmenter.cut(window):
            pos += len(word)
            cuts.add(pos)
        return cuts


def _ascii_bounded(text: str, start: int, end: int) -> bool:
    """A Latin term (a codename such as K-7) must not be part of a longer Latin word."""
    before = text[start - 1] if start else " "
    after = text[end] if end < len(text) else " "
    return not (_ASCII_WORD.match(before) and _ASCII_WORD.match(text[start])) and not (
        _ASCII_WORD.match(after) and _ASCII_WORD.match(text[end - 1])
    )
