"""The one engine behind every door: extract → normalise → detect → decide, for bytes or a path.

Doors build a Scanner once and call scan_bytes or scan_path; the engine knows nothing of doors.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from scanner.detect import Detectors, Evidence, unscannable_finding
from scanner.dictionaries import load_dictionaries
from scanner.extract import Extraction, Problem, extract
from scanner.model import FileReport, Finding
from scanner.policy import Config, apply_policy, load_config, verdict_of
from scanner.registry import load_registry


@dataclass
class Scanned:
    """A report together with the evidence behind it, for `--explain`."""

    report: FileReport
    extraction: Extraction
    evidence: list[Evidence]


class Scanner:
    """Scans files under one configuration. Build it once: the automaton and the registry are loaded here."""

    def __init__(self, config: Config | None = None) -> None:
        self.config = config or load_config()
        self.detectors = Detectors(load_dictionaries(self.config), load_registry(self.config))

    def scan_bytes(self, data: bytes, name: str, channel: str = "scan") -> FileReport:
        """Scan the content `data` of a file called `name` under `channel`'s policy."""
        return self.examine(data, name, channel).report

    def scan_path(self, path: str | os.PathLike[str], channel: str = "scan") -> FileReport:
        """Scan a file on disk; a file that cannot be read gets an unscannable finding, never an exception."""
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):
                return self._unreadable(str(path), "not a regular file (a pipe, socket or device)", channel)
            data = Path(path).read_bytes()
        except OSError as exc:
            return self._unreadable(str(path), f"cannot read the file: {exc.strerror or exc}", channel)
        return self.scan_bytes(data, str(path), channel)

    def examine(self, data: bytes, name: str, channel: str = "scan", explain: bool = False) -> Scanned:
        """The report and what lies behind it: the extraction, and with `explain` every candidate set aside."""
        policy = self.config.channel(channel)
        sha256 = hashlib.sha256(data).hexdigest()
        try:
            extraction = extract(data, name, self.config.limits, ocr=self.config.ocr)
            evidence, findings = self.detectors.run(extraction.segments, policy, explain)
        except Exception as exc:  # fail closed: a fault in any step is a finding, never a pass
            extraction = Extraction("unknown", problems=[Problem("internal-error", f"{type(exc).__name__}: {exc}")])
            evidence, findings = [], []
        findings += [unscannable_finding(p) for p in extraction.problems]
        findings = apply_policy(findings, policy, self.config, sha256)
        report = FileReport(
            path=name,
            verdict=verdict_of(findings),
            findings=findings,
            errors=[f"{p.reason}: {p.detail}" for p in extraction.problems],
            size=len(data),
            sha256=sha256,
            format=extraction.format,
            encoding=extraction.encoding,
        )
        return Scanned(report, extraction, evidence)

    def _unreadable(self, name: str, why: str, channel: str) -> FileReport:
        problem = Problem("unreadable", why)
        findings: list[Finding] = apply_policy(
            [unscannable_finding(problem)], self.config.channel(channel), self.config, ""
        )
        return FileReport(path=name, verdict=verdict_of(findings), findings=findings, errors=[why])
