"""A segment seen two ways at once: its normalised text for matching, its original text for reporting."""

from __future__ import annotations

import re
from dataclasses import dataclass

from scanner.model import Finding, Location, Role, Segment
from scanner.normalize import NormalText, normalize

# Runs of digits as long as a phone number or longer: whatever they are, reports show them masked.
_LONG_NUMBER = re.compile(r"\d[\d -]{9,}[\dXx]")


def mask(value: str, head: int, tail: int) -> str:
    """Keep `head` and `tail` alphanumerics, star the ones between: reports must not spread what they find."""
    positions = [i for i, ch in enumerate(value) if ch.isalnum()]
    hidden = set(positions[head : len(positions) - tail])
    return "".join("*" if i in hidden else ch for i, ch in enumerate(value))


@dataclass(frozen=True)
class Judged:
    """What a detector decided about one candidate (its normalised span): a finding, or the rule that set it
    aside. Where and what it was in the original is worked out only when someone asks (--explain)."""

    rule: str
    span: tuple[int, int]
    outcome: str
    finding: Finding | None


class SegmentView:
    def __init__(self, segment: Segment, context_chars: int) -> None:
        self.segment = segment
        self.normal: NormalText = normalize(segment.text, squeeze=segment.role != Role.FILENAME)
        self.context_chars = context_chars
        self._counted_to = 0  # a place in the original, and the newlines before it
        self._lines_before = 0

    def original(self, start: int, end: int) -> tuple[int, int]:
        """The original span of the normalised span [start, end)."""
        return self.normal.original_span(start, end)

    def location(self, start: int, end: int) -> Location:
        begin, _ = self.original(start, end)
        text = self.segment.text
        # Hits mostly come in order: count the newlines from the last place asked about, in C, not from the top.
        if begin < self._counted_to:
            self._counted_to, self._lines_before = 0, 0
        self._lines_before += text.count("\n", self._counted_to, begin)
        self._counted_to = begin
        column = begin - (text.rfind("\n", 0, begin) + 1) + 1
        return Location(self.segment.part, self._lines_before + 1, column, self.segment.page)

    def text(self, start: int, end: int) -> str:
        begin, finish = self.original(start, end)
        return self.segment.text[begin:finish]

    def context(self, start: int, end: int, shown: str | None = None) -> str:
        """A short window of the original around the match, on one line, with long numbers masked; `shown` replaces
        the match itself (a masked identifier), so the finding's text is found in its context."""
        begin, finish = self.original(start, end)
        text = self.segment.text
        match = text[begin:finish] if shown is None else shown
        window = text[max(0, begin - self.context_chars) : begin] + match + text[finish : finish + self.context_chars]
        return _LONG_NUMBER.sub(lambda m: mask(m.group(), 3, 4), " ".join(window.split()))

    def line_of(self, start: int) -> tuple[int, int]:
        """The normalised line around normalised index `start`: (line start, line end). A form feed (a page
        break) ends a line too."""
        text = self.normal.text
        begin = max(text.rfind("\n", 0, start), text.rfind("\f", 0, start)) + 1
        ends = [i for i in (text.find("\n", start), text.find("\f", start)) if i != -1]
        return begin, min(ends, default=len(text))
