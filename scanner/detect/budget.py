"""What one scan may spend: a deadline covering extraction and detection, a cap on repeated findings, and the work
done, counted in characters and candidates so that tests can bound it without timing anything.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

CHECK_EVERY = 256  # candidates judged between two looks at the clock
REPEATS_LISTED = 100  # findings of one rule for one text listed per file; the rest are counted


class Overrun(Exception):
    """The scan's deadline passed while detection was still running."""

    def __init__(self, part: str) -> None:
        super().__init__(part)
        self.part = part


@dataclass(frozen=True)
class Deadline:
    """A moment on the monotonic clock by which a scan must be over, and the seconds it was given."""

    at: float
    seconds: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds, seconds)

    def left(self) -> float:
        return self.at - time.monotonic()

    def passed(self) -> bool:
        return time.monotonic() > self.at


@dataclass
class Work:
    """What detection cost, in units that do not depend on the machine: the characters the detectors read besides
    the one automaton pass (lines parsed, windows looked at), and the candidates they judged."""

    characters: int = 0
    candidates: int = 0


@dataclass
class Budget:
    """One scan's detection budget: its deadline, its work so far, and how often each finding was seen."""

    deadline: Deadline | None = None
    work: Work = field(default_factory=Work)
    listed: int = REPEATS_LISTED
    _seen: dict[tuple[str, str], int] = field(default_factory=dict, repr=False)
    _steps: int = 0

    def judging(self, part: str) -> None:
        """Count one candidate judged, and take a step."""
        self.work.candidates += 1
        self.step(part)

    def step(self, part: str) -> None:
        """One more hit looked at (judged or only counted); every CHECK_EVERY of them, raise Overrun if the deadline
        has passed."""
        self._steps += 1
        if self._steps % CHECK_EVERY == 0:
            self.check(part)

    def check(self, part: str) -> None:
        if self.deadline is not None and self.deadline.passed():
            raise Overrun(part)

    def admit(self, rule: str, key: str) -> bool:
        """Count one more finding of `rule` for `key` (a term, a mark's form); False once enough are listed."""
        seen = self._seen.get((rule, key), 0) + 1
        self._seen[(rule, key)] = seen
        return seen <= self.listed

    def full(self, rule: str, key: str) -> bool:
        """Whether `rule` for `key` has been listed as often as it may be (what comes after is only counted)."""
        return self._seen.get((rule, key), 0) >= self.listed

    def unlisted(self) -> dict[tuple[str, str], int]:
        """(rule, key) → how many more were seen than were listed."""
        return {key: seen - self.listed for key, seen in self._seen.items() if seen > self.listed}
