"""Detectors: from a segment's normalised text to findings. One automaton pass finds every keyword and term; marks,
terms and identifiers each judge their own hits; the roster rule looks at the file as a whole.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING

from scanner.detect import identifiers, marks, terms
from scanner.detect.view import SegmentView
from scanner.dictionaries import Dictionary
from scanner.extract.base import Problem
from scanner.model import Finding, Location, Segment, Verdict
from scanner.policy import ChannelPolicy

if TYPE_CHECKING:
    from scanner.registry.index import Registry


@dataclass(frozen=True)
class Evidence:
    """A candidate a detector looked at and what it decided, for `--explain`."""

    rule: str
    text: str
    location: Location
    outcome: str  # "finding", or the name of the rule that set it aside

    def __str__(self) -> str:
        return f"{self.rule} {self.text!r} at {self.location}: {self.outcome}"


class Detectors:
    def __init__(self, dictionary: Dictionary, registry: Registry | None = None) -> None:
        self.dictionary = dictionary
        self.terms = terms.TermChecker()
        self.registry = registry

    def run(
        self, segments: Iterable[Segment], policy: ChannelPolicy, explain: bool = False
    ) -> tuple[list[Evidence], list[Finding]]:
        """Findings for these segments; with `explain`, also the evidence for every candidate set aside."""
        evidence: list[Evidence] = []
        findings: list[Finding] = []
        ids: set[str] = set()
        views = []
        for segment in segments:
            view = SegmentView(segment, policy.context_chars)
            views.append(view)
            hits = self.dictionary.hits(view.normal.text)
            mark_hits = [(s, e) for s, e, group in hits if group[0].category == "mark"]
            term_hits = [(s, e, group) for s, e, group in hits if group[0].category != "mark"]
            for judged in chain(marks.judge(view, mark_hits), self.terms.judge(view, term_hits)):
                if judged.finding:
                    findings.append(judged.finding)
                if explain:
                    evidence.append(
                        Evidence(judged.rule, view.text(*judged.span), view.location(*judged.span), judged.outcome)
                    )
            for found in identifiers.find(view):
                ids.add(found.value)
                findings.append(found.finding)
        if len(ids) >= policy.roster:
            findings.append(roster_finding(len(ids), policy.roster))
        if self.registry is not None:
            from scanner.detect import registered  # numpy, only where something is registered

            findings += registered.find(self.registry, views)
        return evidence, _dedupe(findings)


# Problems that are not "could not read": an image nobody looked into, a damaged file read only after repair. Each
# has a category of its own, so the policy can weigh it apart from unreadable files; neither is ever a pass.
_PROBLEM_CATEGORIES = {"image": "image", "repaired": "damaged"}


def unscannable_finding(problem: Problem) -> Finding:
    category = _PROBLEM_CATEGORIES.get(problem.reason, "unscannable")
    return Finding(
        category=category,
        rule=f"{category}.{problem.reason}" if category != problem.reason else f"{category}.not-examined",
        action=Verdict.BLOCK if category == "unscannable" else Verdict.FLAG,
        text="",
        location=Location(problem.part or "file", 0, 0),
        explanation=problem.detail,
    )


def roster_finding(count: int, threshold: int) -> Finding:
    return Finding(
        category="roster",
        rule="id.roster",
        action=Verdict.BLOCK,
        text="",
        location=Location("file", 0, 0),
        explanation=f"{count} distinct valid personal identifiers (a roster: {threshold} or more)",
    )


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, str, Location]] = set()
    out = []
    for finding in findings:
        key = (finding.rule, finding.text, finding.location)
        if key not in seen:
            seen.add(key)
            out.append(finding)
    return out
