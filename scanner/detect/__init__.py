"""Detectors: from a segment's normalised text to findings. One automaton pass finds every keyword and term; marks,
terms and identifiers each judge their own hits; the roster and level-table rules look at the file as a whole.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from itertools import chain
from typing import TYPE_CHECKING

from scanner.detect import identifiers, marks, terms
from scanner.detect.budget import Budget, Deadline, Overrun, Work
from scanner.detect.view import Judged, SegmentView
from scanner.dictionaries import Dictionary
from scanner.extract.base import Problem
from scanner.i18n import N_, Message, msg, msg_n, render
from scanner.model import Finding, Location, Segment, Verdict
from scanner.policy import ChannelPolicy
from scanner.titles import where

if TYPE_CHECKING:
    from scanner.registry.index import Registry

__all__ = ["PROBES", "Deadline", "Detectors", "Evidence", "Work", "unscannable_finding"]
# What the detectors ask the matcher to look for in its pass besides the dictionary (load_dictionaries' probes).
PROBES = (identifiers.RUN_PROBE,)


# What a detector decided about a candidate (Judged.outcome, a machine word), as `--explain` says it.
OUTCOMES = {
    "finding": N_("a finding"),
    "finding (counted, not listed)": N_("a finding (counted, not listed: it repeats one listed often enough)"),
    "not examined (repeats of it are counted)": N_("not examined (it repeats a term listed often enough: counted)"),
}


@dataclass(frozen=True)
class Evidence:
    """A candidate a detector looked at and what it decided, for `--explain`."""

    rule: str
    text: str
    location: Location
    outcome: str  # "finding", or "mention (the name of the predicate that set it aside)"

    @property
    def decided(self) -> Message:
        """The outcome for a reader: the predicate that set a mention aside is named as it is in the code."""
        if self.outcome in OUTCOMES:
            return msg(OUTCOMES[self.outcome])
        predicate = self.outcome.removeprefix("mention (").removesuffix(")")
        return msg("set aside by {predicate}", predicate=predicate)

    def __str__(self) -> str:
        said = msg(
            "{rule} “{text}” at {where}: {decided}",
            rule=self.rule,
            text=self.text,
            where=where(self.location),
            decided=self.decided,
        )
        return render(said)


class Detectors:
    def __init__(self, dictionary: Dictionary, registry: Registry | None = None) -> None:
        self.dictionary = dictionary
        self.terms = terms.TermChecker(dictionary.words)
        self.registry = registry

    def run(
        self,
        segments: Iterable[Segment],
        policy: ChannelPolicy,
        explain: bool = False,
        *,
        deadline: Deadline | None = None,
        work: Work | None = None,
    ) -> tuple[list[Evidence], list[Finding]]:
        """Findings for these segments; with `explain`, also the evidence for every candidate set aside. Past the
        `deadline`, detection stops and says so with an unscannable finding; `work` counts what it cost."""
        budget = Budget(deadline, work if work is not None else Work())
        found = _Found(explain)
        views: list[SegmentView] = []  # kept only for the registry, which matches across a file's segments
        try:
            for segment in segments:
                budget.check(segment.part)
                view = SegmentView(segment, policy.context_chars, budget.work)
                self._detect(view, budget, found)
                if self.registry is not None:
                    views.append(view)
            if self.registry is not None:
                budget.check("file")
                from scanner.detect import registered  # numpy, only where something is registered

                found.findings += registered.find(self.registry, views)
        except Overrun as overrun:
            seconds = deadline.seconds if deadline else 0
            detail = msg(
                "The scan did not finish within {seconds} s; what it had found until then is reported.",
                seconds=f"{seconds:g}",
            )
            found.findings.append(unscannable_finding(Problem("timeout", detail, overrun.part)))
        if len(found.ids) >= policy.roster:
            found.findings.append(roster_finding(len(found.ids), policy.roster))
        found.set_aside_level_tables()
        found.count_unlisted(budget.unlisted())
        return found.evidence, _dedupe(found.findings)

    def _detect(self, view: SegmentView, budget: Budget, found: _Found) -> None:
        (hits, probed), marks_below, terms_of = (
            self.dictionary.scan(view.normal.text),
            self.dictionary.marks,
            self.dictionary.terms,
        )
        if hits:
            mark_hits = [(s, e) for s, e, key in hits if key < marks_below]
            term_hits = [(s, e, terms_of(key)) for s, e, key in hits if key >= marks_below]
            del hits
            marked = False
            for judged in chain(marks.judge(view, mark_hits, budget), self.terms.judge(view, term_hits, budget)):
                marked = marked or (judged.finding is not None and judged.rule.startswith("mark."))
                found.add(view, judged)
            level = marks.lone_level(view.segment) if marked else None
            if level is not None:
                found.level_cells.append((view.segment.part, level))
        if (
            probed is not None
            and identifiers.RUN_PROBE in self.dictionary.probes
            and identifiers.RUN_PROBE not in probed
        ):
            return  # the matcher saw no run of digits and letters long enough to be an identifier
        for identifier in identifiers.find(view, budget):
            found.ids.add(identifier.value)
            found.add(view, identifier.judged)


@dataclass
class _Found:
    """What detection found in one file so far, and what the file-wide rules need to know of it."""

    explain: bool
    findings: list[Finding] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)  # distinct valid identifiers, for the roster rule
    level_cells: list[tuple[str, str]] = field(default_factory=list)  # (part, level) of cells holding only a level
    last_listed: dict[tuple[str, str], Finding] = field(default_factory=dict)  # (rule, key) → its last finding

    def add(self, view: SegmentView, judged: Judged) -> None:
        if judged.finding is not None:
            self.last_listed[(judged.rule, judged.key)] = judged.finding
            self.findings.append(judged.finding)
        if self.explain:
            location = view.location(*judged.span)
            self.evidence.append(Evidence(judged.rule, view.text(*judged.span), location, judged.outcome))

    def set_aside_level_tables(self) -> None:
        """Drop the marks found in cells of tables that list the levels (marks.table_of_levels)."""
        if not self.level_cells:
            return
        mentions = marks.table_of_levels(self.level_cells)
        if not mentions:
            return
        kept = []
        for finding in self.findings:
            if finding.rule.startswith("mark.") and finding.location.part in mentions:
                if self.explain:
                    self.evidence.append(
                        Evidence(finding.rule, finding.text, finding.location, "mention (table_of_levels)")
                    )
            else:
                kept.append(finding)
        self.findings = kept

    def count_unlisted(self, unlisted: dict[tuple[str, str], int]) -> None:
        """The last listed finding of a rule and text seen more often than are listed says how many more."""
        if not unlisted:
            return
        index_of = {id(finding): i for i, finding in enumerate(self.findings)}
        for key, more in unlisted.items():
            index = index_of.get(id(self.last_listed.get(key)))
            if index is not None:
                finding = self.findings[index]
                rest = msg_n(
                    "One more like it in this file is not listed.",
                    "{count} more like it in this file are not listed.",
                    more,
                )
                reason = msg("{sentence} {more}", sentence=finding.reason or finding.explanation, more=rest)
                self.findings[index] = replace(finding, reason=reason, explanation="")


# Problems that are not "could not read": an image nobody looked into, a damaged file read only after repair. Each
# has a category of its own, so the policy can weigh it apart from unreadable files; neither is ever a pass.
_PROBLEM_CATEGORIES = {"image": "image", "ocr": "image", "repaired": "damaged"}


def unscannable_finding(problem: Problem) -> Finding:
    """The finding of a Problem: its detail is the reason a person reads; the English explanation adds what a
    library said about it (Problem.cause)."""
    category = _PROBLEM_CATEGORIES.get(problem.reason, "unscannable")
    return Finding(
        category=category,
        rule=f"{category}.{problem.reason}" if category != problem.reason else f"{category}.not-examined",
        action=Verdict.BLOCK if category == "unscannable" else Verdict.FLAG,
        text="",
        location=Location(problem.part or "file", 0, 0),
        explanation=problem.english,
        reason=problem.detail if isinstance(problem.detail, Message) else None,
    )


def roster_finding(count: int, threshold: int) -> Finding:
    return Finding(
        category="roster",
        rule="id.roster",
        action=marks.PENDING,
        text="",
        location=Location("file", 0, 0),
        reason=msg(
            "{count} distinct valid personal identifiers: a roster ({threshold} or more).",
            count=count,
            threshold=threshold,
        ),
    )


def _dedupe(findings: list[Finding]) -> list[Finding]:
    if len(findings) < 2:
        return findings
    seen: set[tuple[str, str, Location]] = set()
    out = []
    for finding in findings:
        key = (finding.rule, finding.text, finding.location)
        if key not in seen:
            seen.add(key)
            out.append(finding)
    return out
