"""Renderers: reports as text for a person, JSON for tools and doors, JSON Lines for streams, SARIF for CI viewers.

Renderers only read FileReports; they know nothing of matching or of files.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

from scanner.model import FileReport, Finding, Verdict

_VERDICT_COLOURS = {Verdict.PASS: "32", Verdict.FLAG: "33", Verdict.BLOCK: "31"}
_SARIF_LEVELS = {Verdict.PASS: "note", Verdict.FLAG: "warning", Verdict.BLOCK: "error"}


def summary(verdicts: Iterable[Verdict]) -> dict[str, Any]:
    counts = Counter(str(v) for v in verdicts)
    return {"files": sum(counts.values()), **{v: counts.get(v, 0) for v in ("pass", "flag", "block")}}


def to_json(reports: list[FileReport]) -> dict[str, Any]:
    return {"files": [r.to_dict() for r in reports], "summary": summary(r.verdict for r in reports)}


def render_json(reports: list[FileReport]) -> str:
    return json.dumps(to_json(reports), ensure_ascii=False, indent=2) + "\n"


def render_jsonl(report: FileReport) -> str:
    return json.dumps(report.to_dict(), ensure_ascii=False) + "\n"


def render_text(report: FileReport, colour: bool = False) -> str:
    verdict = str(report.verdict).upper()
    if colour:
        verdict = f"\x1b[1;{_VERDICT_COLOURS[report.verdict]}m{verdict}\x1b[0m"
    lines = [f"{verdict:5}  {report.path}"]
    for finding in report.findings:
        shown = _highlight(finding, colour)
        lines.append(
            f"       {finding.action!s:5} {finding.rule} at {finding.location}" + (f": {shown}" if shown else "")
        )
        if finding.explanation:
            lines.append(f"             {finding.explanation}")
    return "\n".join(lines) + "\n"


def render_summary(verdicts: list[Verdict]) -> str:
    s = summary(verdicts)
    return f"{s['files']} files: {s['pass']} pass, {s['flag']} flag, {s['block']} block\n"


def render_sarif(reports: list[FileReport]) -> str:
    rules = sorted({f.rule for r in reports for f in r.findings})
    results: list[dict[str, Any]] = [
        {
            "ruleId": f.rule,
            "level": _SARIF_LEVELS[f.action],
            "message": {"text": f"{f.category}: {f.explanation or f.text}"},
            "locations": [
                {
                    "physicalLocation": _physical(r.path, f),
                    "logicalLocations": [{"fullyQualifiedName": f.location.part}],
                }
            ],
            "properties": {"category": f.category, "context": f.context},
        }
        for r in reports
        for f in r.findings
    ]
    sarif = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "baomi", "rules": [{"id": r} for r in rules]}}, "results": results}],
    }
    return json.dumps(sarif, ensure_ascii=False, indent=2) + "\n"


def _physical(uri: str, finding: Finding) -> dict[str, Any]:
    """SARIF numbers lines and columns from 1; a finding about the whole file (unscannable, an image) has no line, so
    its location is the file alone."""
    location: dict[str, Any] = {"artifactLocation": {"uri": uri}}
    if finding.location.line >= 1:
        location["region"] = {"startLine": finding.location.line, "startColumn": max(1, finding.location.column)}
    return location


def _highlight(finding: Finding, colour: bool) -> str:
    """The context with the match marked: underlined on a terminal, in [brackets] elsewhere."""
    context = finding.context or finding.text
    if not finding.text or finding.text not in context:
        return context
    marked = f"\x1b[1;4m{finding.text}\x1b[0m" if colour else f"[{finding.text}]"
    return context.replace(finding.text, marked, 1)
