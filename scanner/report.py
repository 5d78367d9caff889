"""Renderers: reports as text for a person, JSON for tools and doors, JSON Lines for streams, SARIF for CI viewers.

Renderers only read FileReports; they know nothing of matching or of files.
"""

from __future__ import annotations

import functools
import io
import json
import shutil
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple, TextIO

from scanner.i18n import N_, current, msg_n, render, said, speaking
from scanner.model import FileReport, Finding, Verdict
from scanner.titles import verdict_word, where

# A finding's line of the text report, said at every finding (i18n.said: no Message made for it).
_FINDING_IN_CONTEXT = N_("{action} {rule} at {where}: {context}")
_FINDING = N_("{action} {rule} at {where}")
_VERDICT_COLOURS = {Verdict.PASS: "32", Verdict.FLAG: "33", Verdict.BLOCK: "31"}
_SARIF_LEVELS = {Verdict.PASS: "note", Verdict.FLAG: "warning", Verdict.BLOCK: "error"}


def printable(text: str) -> str:
    """`text` safe to print as (part of) one line: control characters, line and paragraph separators and invisible
    format characters (a newline in a file name, an escape sequence, a right-to-left override) are shown escaped
    (\\n, \\x1b, \\u202e), and a backslash as \\\\, so no name or context can forge a line of a log or report."""
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(_escaped(ch) for ch in text)


def _escaped(ch: str) -> str:
    if ch == "\\":
        return "\\\\"
    if ch in _SHORT:
        return _SHORT[ch]
    if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"):
        code = ord(ch)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
    return ch


_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def summary(verdicts: Iterable[Verdict]) -> dict[str, Any]:
    return _counted(Counter(verdicts))


def _counted(counts: Counter[Verdict]) -> dict[str, Any]:
    return {"files": counts.total(), **{str(v): counts[v] for v in Verdict}}


def to_json(reports: list[FileReport]) -> dict[str, Any]:
    return {"files": [r.to_dict() for r in reports], "summary": summary(r.verdict for r in reports)}


def render_json(reports: Iterable[FileReport]) -> str:
    return _rendered(JsonPrinter, reports)


def render_jsonl(report: FileReport) -> str:
    return json.dumps(report.to_dict(), ensure_ascii=False) + "\n"


def render_text(report: FileReport, colour: bool = False) -> str:
    """The report for a person, in the reader's language: a line per file and per finding. What comes from the file
    (its name, its parts' names, the context, the text quoted in a reason) is escaped by `printable`, so a file cannot
    forge lines of the report."""
    before, after = _text_around_path(report, colour)
    return before + printable(report.path) + after


def _text_around_path(report: FileReport, colour: bool) -> tuple[str, str]:
    """The text report but for the file's path: what comes before it and after it (nothing else names the file)."""
    heads, words = _verdict_words(current())
    verdict = heads[report.verdict]
    if colour:
        verdict = f"\x1b[1;{_VERDICT_COLOURS[report.verdict]}m{verdict}\x1b[0m"
    lines = [""]  # the end of the file's line
    # Said once a report, for they repeat from finding to finding: the reasons (a term's findings share theirs), by
    # the reason's identity (the report holds it while this runs).
    reasons: dict[int, str] = {}
    for finding in report.findings:
        shown = _highlight(finding, colour)
        place = printable(where(finding.location))
        action = words[finding.action]
        if shown:
            line = said(_FINDING_IN_CONTEXT, action=action, rule=finding.rule, where=place, context=shown)
        else:
            line = said(_FINDING, action=action, rule=finding.rule, where=place)
        lines.append("       " + line)
        message = _reason_shown(finding, reasons)
        if message:
            lines.append(f"             {message}")
    return f"{verdict}  ", "\n".join(lines) + "\n"


@functools.cache
def _verdict_words(language: str) -> tuple[dict[Verdict, str], dict[Verdict, str]]:
    """The verdicts' words in `language`, padded to a column, as a file's line and a finding's line say them: said
    at every file and finding of a report."""
    with speaking(language):
        said = {verdict: verdict_word(verdict) for verdict in Verdict}
    return {v: f"{word.upper():5}" for v, word in said.items()}, {v: f"{word:5}" for v, word in said.items()}


def _reason_shown(finding: Finding, shown: dict[int, str]) -> str:
    """The finding's message, escaped; `shown` holds those of the report's findings before it, by their reason."""
    if finding.reason is None:
        return printable(finding.explanation)
    if id(finding.reason) not in shown:
        shown[id(finding.reason)] = printable(finding.message)
    return shown[id(finding.reason)]


def render_summary(verdicts: Iterable[Verdict]) -> str:
    return _said_summary(summary(verdicts))


def _said_summary(s: dict[str, Any]) -> str:
    counts = msg_n(
        "{count} file: {passed} pass, {flag} flag, {block} block",
        "{count} files: {passed} pass, {flag} flag, {block} block",
        s["files"],
        passed=s["pass"],
        flag=s["flag"],
        block=s["block"],
    )
    return render(counts) + "\n"


def render_sarif(reports: Iterable[FileReport]) -> str:
    return _rendered(SarifPrinter, reports)


class Printer:
    """Writes each report as it comes, like ripgrep's printer through its sink, and what the format closes with at
    the end: nothing it keeps grows with the number of files (verdicts are counted, SARIF's results spooled to a
    temporary file), so a scan of a million files prints in the memory of one."""

    def __init__(self, out: TextIO, colour: bool = False) -> None:
        self.out = out
        self.colour = colour
        self.verdicts: Counter[Verdict] = Counter()

    def add(self, report: FileReport) -> None:
        self.verdicts[report.verdict] += 1
        self.out.write(self.rendered(report))

    def add_told(self, told: Told) -> None:
        """Reports rendered by the process that looked them up (see Rendering)."""
        self.verdicts.update(told.verdicts)
        self.out.write(told.text)

    def rendered(self, report: FileReport) -> str:
        raise NotImplementedError

    def end(self) -> None:
        """What closes the report, after the last file."""


class TextPrinter(Printer):
    def rendered(self, report: FileReport) -> str:
        return render_text(report, self.colour)

    def end(self) -> None:
        if self.verdicts.total() > 1:
            self.out.write(_said_summary(_counted(self.verdicts)))


class JsonlPrinter(Printer):
    def rendered(self, report: FileReport) -> str:
        return render_jsonl(report)


class JsonPrinter(Printer):
    """{"files": [...], "summary": {...}}, indented as json.dumps(indent=2) indents it, one file at a time."""

    def rendered(self, report: FileReport) -> str:
        opening = ",\n" if self.verdicts.total() > 1 else '{\n  "files": [\n'
        return opening + "    " + _indented(report.to_dict(), 2)

    def end(self) -> None:
        closing = "\n  ],\n" if self.verdicts else '{\n  "files": [],\n'
        counts = _counted(self.verdicts)
        self.out.write(f'{closing}  "summary": {_indented(counts, 1)}\n}}\n')


class SarifPrinter(Printer):
    """SARIF 2.1.0. Its rules come before its results in the document and are known only at the end, so the results
    wait in a temporary file, not in memory."""

    _RESULTS = "\0results"

    def __init__(self, out: TextIO, colour: bool = False) -> None:
        super().__init__(out, colour)
        self.rules: set[str] = set()
        # Closed by end(); on POSIX it has no name from the start, so nothing is left behind if end() never comes.
        self.results = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
        self.written = 0

    def rendered(self, report: FileReport) -> str:
        for finding in report.findings:
            self.rules.add(finding.rule)
            self.results.write(",\n        " if self.written else "")
            self.results.write(_indented(_sarif_result(report.path, finding), 4))
            self.written += 1
        return ""

    def end(self) -> None:
        with self.results:
            results = [self._RESULTS] if self.written else []
            driver = {"name": "baomi", "rules": [{"id": r} for r in sorted(self.rules)]}
            sarif = {
                "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
                "version": "2.1.0",
                "runs": [{"tool": {"driver": driver}, "results": results}],
            }
            head, _, tail = (json.dumps(sarif, ensure_ascii=False, indent=2) + "\n").partition(
                json.dumps(self._RESULTS)
            )
            self.out.write(head)
            self.results.seek(0)
            shutil.copyfileobj(self.results, self.out)
            self.out.write(tail)


class Told(NamedTuple):
    """The reports of a run of files, rendered for the printer by the process that looked them up (scanner.index.reuse):
    their text in order, how many had each verdict, and how many of them the interrupted scan being resumed had made
    or seen. One per run, not per file: a re-scan hands millions of reports between processes."""

    text: str
    verdicts: dict[Verdict, int]
    resumed: int

    @property
    def files(self) -> int:
        return sum(self.verdicts.values())


@dataclass(frozen=True)
class Rendering:
    """How the printer of a format whose reports stand alone (text, JSON Lines: nothing before or after a report
    changes it) renders one, so that another process can render it in its place, in the same language."""

    format: str
    colour: bool
    language: str

    def __call__(self, report: FileReport) -> str:
        return render_text(report, self.colour) if self.format == "text" else render_jsonl(report)

    def around_path(self, report: FileReport) -> tuple[str, str] | None:
        """The rendering but for the report's path, before and after it, where nothing else in it names the file
        (text; JSON Lines gives its size and SHA-256 too): the same for every file whose stored report is the same."""
        return _text_around_path(report, self.colour) if self.format == "text" else None


def rendering(format: str, colour: bool) -> Rendering | None:
    """The Rendering of `format` in the current language, or None where a report's output depends on the others."""
    return Rendering(format, colour, current()) if format in ("text", "jsonl") else None


PRINTERS: dict[str, type[Printer]] = {
    "text": TextPrinter,
    "json": JsonPrinter,
    "jsonl": JsonlPrinter,
    "sarif": SarifPrinter,
}


def _rendered(kind: type[Printer], reports: Iterable[FileReport]) -> str:
    out = io.StringIO()
    printer = kind(out)
    for report in reports:
        printer.add(report)
    printer.end()
    return out.getvalue()


def _indented(value: Any, depth: int) -> str:
    """`value` as json.dumps(indent=2) writes it `depth` levels down (JSON strings hold no raw line breaks)."""
    return json.dumps(value, ensure_ascii=False, indent=2).replace("\n", "\n" + "  " * depth)


def _sarif_result(uri: str, f: Finding) -> dict[str, Any]:
    return {
        "ruleId": f.rule,
        "level": _SARIF_LEVELS[f.action],
        "message": {"text": f"{f.category}: {f.explanation or f.text}"},
        "locations": [
            {
                "physicalLocation": _physical(uri, f),
                "logicalLocations": [{"fullyQualifiedName": f.location.part}],
            }
        ],
        "properties": {"category": f.category, "context": f.context},
    }


def _physical(uri: str, finding: Finding) -> dict[str, Any]:
    """SARIF numbers lines and columns from 1; a finding about the whole file (unscannable, an image) has no line, so
    its location is the file alone."""
    location: dict[str, Any] = {"artifactLocation": {"uri": uri}}
    if finding.location.line >= 1:
        location["region"] = {"startLine": finding.location.line, "startColumn": max(1, finding.location.column)}
    return location


def _highlight(finding: Finding, colour: bool) -> str:
    """The context with the match marked: underlined on a terminal, in [brackets] elsewhere."""
    context = printable(finding.context or finding.text)
    text = printable(finding.text)
    if not text or text not in context:
        return context
    marked = f"\x1b[1;4m{text}\x1b[0m" if colour else f"[{text}]"
    return context.replace(text, marked, 1)
