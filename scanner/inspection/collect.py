"""What the 检查报告 is made from: fed FileReports as they stream, it keeps the counts and the findings of the
files that did not pass (short contexts only)."""

from __future__ import annotations

import getpass
import os
import socket
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from scanner import times
from scanner.i18n import msg
from scanner.model import FileReport, Finding, Verdict
from scanner.policy import Config
from scanner.ruleset import RuleSet, rule_set

FORMATS = (".html", ".htm", ".docx")
PROBLEM_CATEGORIES = frozenset({"unscannable", "image", "damaged"})  # a file not (all) read, not a match
FINDINGS_PER_FILE = 20  # more are counted, not listed: a roster of 10,000 numbers is one line of the report
CONTEXT_CHARS = 80  # a context is cut to this, whatever a detector gave


@dataclass(frozen=True)
class Scope:
    """What was checked, when, by whom and under which rules."""

    paths: tuple[str, ...]
    channel: str
    operator: str  # user@host
    started: datetime  # UTC
    rules: RuleSet

    @property
    def dictionary_titles(self) -> dict[str, dict[str, str]]:
        return {each.category: each.titles for each in self.rules.dictionaries}


@dataclass
class FileEntry:
    """A file that did not pass: its findings (at most FINDINGS_PER_FILE of each kind) and how many more."""

    path: str
    verdict: Verdict
    format: str
    findings: list[Finding] = field(default_factory=list)  # matches: marks, terms, identifiers
    problems: list[Finding] = field(default_factory=list)  # why (part of) it could not be read
    more: int = 0


@dataclass
class Inspection:
    scope: Scope
    roots: tuple[str, ...] = ()  # the paths as given, which the reports' paths start with
    verdicts: Counter[Verdict] = field(default_factory=Counter)
    categories: Counter[str] = field(default_factory=Counter)  # findings per category
    category_files: Counter[str] = field(default_factory=Counter)  # files with a finding of the category
    folders: Counter[str] = field(default_factory=Counter)  # findings per folder
    files: list[FileEntry] = field(default_factory=list)
    finished: datetime | None = None

    @classmethod
    def begin(cls, paths: Sequence[Path | str], config: Config, channel: str = "scan") -> Inspection:
        checked = tuple(str(Path(p).resolve()) for p in paths)
        return cls(Scope(checked, channel, operator(), times.now(), rule_set(config)), tuple(str(p) for p in paths))

    @property
    def total(self) -> int:
        return sum(self.verdicts.values())

    @property
    def unscannable(self) -> list[FileEntry]:
        return [entry for entry in self.files if entry.problems]

    def add(self, report: FileReport) -> None:
        """Count one file's report, and keep what the report shows of it when it did not pass."""
        self.verdicts[report.verdict] += 1
        self.categories.update(f.category for f in report.findings)
        self.category_files.update({f.category for f in report.findings})
        if report.findings:
            self.folders[self.folder(report.path)] += len(report.findings)
        if report.verdict == Verdict.PASS:
            return
        entry = FileEntry(report.path, report.verdict, report.format)
        for finding in report.findings:
            kept = entry.problems if finding.category in PROBLEM_CATEGORIES else entry.findings
            if len(kept) < FINDINGS_PER_FILE:
                kept.append(_short(finding))
            else:
                entry.more += 1
        self.files.append(entry)

    def folder(self, path: str) -> str:
        """The folder of a file as a reader knows it: from the checked folder's own name down (共享文件夹/人事)."""
        folder = os.path.dirname(path)
        root = next((r for r in self.roots if folder == r or folder.startswith(r.rstrip("/") + "/")), None)
        if root is None:
            return folder or "."
        return os.path.relpath(folder, os.path.dirname(os.path.abspath(root)) if root else ".")


def check_report_path(path: Path) -> None:
    """Raise ValueError, before any scanning, for a report path baomi cannot write."""
    if path.suffix.lower() not in FORMATS:
        raise ValueError(msg("The report {path} must end in .html or .docx.", path=str(path)))
    if not path.parent.is_dir():
        raise ValueError(msg("The report {path} would be written in a folder that does not exist.", path=str(path)))


def operator() -> str:
    """Who ran the check: the login name and the machine."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def _short(finding: Finding) -> Finding:
    """The finding with its context cut to CONTEXT_CHARS, around the match: a report never carries more."""
    context = finding.context
    if len(context) > CONTEXT_CHARS:
        at = max(context.find(finding.text), 0) if finding.text else 0
        start = max(0, min(at - CONTEXT_CHARS // 3, len(context) - CONTEXT_CHARS))
        context = context[start : start + CONTEXT_CHARS]
    explanation = finding.explanation[:300]
    if context == finding.context and explanation == finding.explanation:
        return finding
    return replace(finding, context=context, explanation=explanation)
