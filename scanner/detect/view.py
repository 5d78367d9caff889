"""A segment seen two ways at once: its normalised text for matching, its original text for reporting."""

from __future__ import annotations

import re
from typing import NamedTuple

from scanner.detect.budget import Work
from scanner.model import Finding, Location, Role, Segment
from scanner.normalize import NormalText, normalize

# An identifier-shaped run: letters and digits, single spaces or dashes between them. Reports and logs never show
# the digits of one that holds six or more, whole or cut by the context's window.
_ID_SHAPED = re.compile(r"[\dA-Za-zＡ-Ｚａ-ｚ](?:[ \-\u3000－]?[\dA-Za-zＡ-Ｚａ-ｚ])*")
_SECRET_DIGITS = 6
# How far past a context's window to look for the rest of an identifier the window cuts.
_ID_REACH = 40


def mask(value: str, head: int, tail: int) -> str:
    """Keep `head` and `tail` alphanumerics, star the ones between: reports must not spread what they find."""
    positions = [i for i, ch in enumerate(value) if ch.isalnum()]
    hidden = set(positions[head : len(positions) - tail])
    return "".join("*" if i in hidden else ch for i, ch in enumerate(value))


class Judged(NamedTuple):
    """What a detector decided about one candidate (its normalised span): a finding, or the rule that set it
    aside. Where and what it was in the original is worked out only when someone asks (--explain). A named tuple:
    one is made for every hit, and a tuple is made several times faster than a frozen dataclass."""

    rule: str
    span: tuple[int, int]
    outcome: str
    finding: Finding | None
    key: str = ""  # what repeats of it are counted by (a mark's form, a term): see Budget.admit


class SegmentView:
    def __init__(self, segment: Segment, context_chars: int, work: Work | None = None) -> None:
        self.segment = segment
        self.normal: NormalText = normalize(segment.text, squeeze=segment.role != Role.FILENAME)
        self.context_chars = context_chars
        self.work = work if work is not None else Work()
        self._line = (1, 0)  # the line line_of found last: (start, end)
        self._span, self._original = (0, -1), (0, 0)  # the span original() was asked for last, and its answer
        self._counted_to = 0  # a place in the original, the newlines before it, and where its line starts
        self._lines_before = 0
        self._line_start = 0

    def original(self, start: int, end: int) -> tuple[int, int]:
        """The original span of the normalised span [start, end) (the last one asked for is kept: a finding asks
        for its location, its text and its context in turn)."""
        if (start, end) != self._span:
            self._span, self._original = (start, end), self.normal.original_span(start, end)
        return self._original

    def location(self, start: int, end: int) -> Location:
        begin, _ = self.original(start, end)
        text = self.segment.text
        # Hits mostly come in order: count the newlines from the last place asked about, in C, not from the top.
        if begin < self._counted_to:
            self._counted_to, self._lines_before, self._line_start = 0, 0, 0
        newline = text.rfind("\n", self._counted_to, begin)
        if newline != -1:
            self._lines_before += text.count("\n", self._counted_to, begin)
            self._line_start = newline + 1
        self.work.characters += begin - self._counted_to
        self._counted_to = begin
        return Location(self.segment.part, self._lines_before + 1, begin - self._line_start + 1, self.segment.page)

    def text(self, start: int, end: int) -> str:
        begin, finish = self.original(start, end)
        return self.segment.text[begin:finish]

    def gap_before(self, index: int) -> str:
        """What stood in the original between normalised characters index-1 and index (cut spaces, tabs, ...)."""
        if index <= 0:
            return ""
        return self.segment.text[self.normal.original(index - 1) + 1 : self.normal.original(index)]

    def context(self, start: int, end: int, shown: str | None = None) -> str:
        """A short window of the original around the match, on one line, with the digits of identifiers masked;
        `shown` replaces the match itself (a masked identifier), so the finding's text is found in its context."""
        begin, finish = self.original(start, end)
        text = self.segment.text
        lo, hi = max(0, begin - self.context_chars), min(len(text), finish + self.context_chars)
        window = text[lo:hi]
        if shown is None and not any(map(str.isdigit, window)):  # most windows: nothing to mask or replace
            return " ".join(window.split())
        match = text[begin:finish] if shown is None else shown
        window = _masked(text, lo, begin) + match + _masked(text, finish, hi)
        return " ".join(window.split())

    def line_of(self, start: int) -> tuple[int, int]:
        """The normalised line around normalised index `start`: (line start, line end). A form feed (a page
        break) ends a line too. Found by looking out from `start` to the breaks on either side, so a line costs its
        own length, not the text's; the line asked about last is kept, for the other hits on it."""
        begin, end = self._line
        if not begin <= start <= end:
            text = self.normal.text
            begin, end = _break_before(text, start) + 1, _break_from(text, start)
            self._line = begin, end
            self.work.characters += end - begin
        return begin, end

    def lines_above(self, line_start: int, enough: int) -> int:
        """Non-blank lines above the line starting at `line_start` on its page, counted up to `enough`. Walking up
        stops there, so each blank line is walked past by at most `enough` lines below it."""
        text = self.normal.text
        end = line_start - 1  # the break that ends the line above
        count = 0
        while count < enough and end >= 0 and text[end] != "\f":
            begin = _break_before(text, end) + 1
            self.work.characters += end - begin
            if text[begin:end].strip():
                count += 1
            end = begin - 1
        return count


def _break_before(text: str, index: int) -> int:
    """The index of the last line or page break before `index`, or -1: looked for in windows that double as they
    go back, so the cost is the distance to it, however far the next break of the other kind is."""
    high, width = index, 256
    while high > 0:
        low = max(0, high - width)
        found = max(text.rfind("\n", low, high), text.rfind("\f", low, high))
        if found != -1:
            return found
        high, width = low, 2 * width
    return -1


def _break_from(text: str, index: int) -> int:
    """The index of the first line or page break at or after `index`, or the text's length (as _break_before)."""
    low, width = index, 256
    while low < len(text):
        high = min(len(text), low + width)
        found = [at for at in (text.find("\n", low, high), text.find("\f", low, high)) if at != -1]
        if found:
            return min(found)
        low, width = high, 2 * width
    return len(text)


def _masked(text: str, lo: int, hi: int) -> str:
    """text[lo:hi] with every digit of an identifier-shaped run of six or more digits starred. The run is
    recognised in the text around the window, so one the window cuts in half is masked all the same."""
    piece = text[lo:hi]
    if not any(map(str.isdigit, piece)):
        return piece
    reach_lo = max(0, lo - _ID_REACH)
    around = text[reach_lo : hi + _ID_REACH]
    if sum(map(str.isdigit, around)) < _SECRET_DIGITS:  # no run here can hold enough digits (第12条, 2024年)
        return piece
    chars = list(piece)
    for run in _ID_SHAPED.finditer(around):
        if sum(map(str.isdigit, run.group())) < _SECRET_DIGITS:
            continue
        for i in range(max(run.start() + reach_lo, lo), min(run.end() + reach_lo, hi)):
            if chars[i - lo].isdigit():
                chars[i - lo] = "*"
    return "".join(chars)
