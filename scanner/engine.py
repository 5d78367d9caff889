"""The one engine behind every door: extract → normalise → detect → decide, for bytes or a path.

Doors build a Scanner once and call scan_bytes or scan_path; the engine knows nothing of doors.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from scanner.detect import PROBES, Deadline, Detectors, Evidence, unscannable_finding
from scanner.dictionaries import Dictionary, load_dictionaries
from scanner.extract import Extraction, Problem, extract
from scanner.i18n import msg
from scanner.model import FileReport, Finding
from scanner.policy import Config, apply_policy, load_config, verdict_of
from scanner.registry import load_registry
from scanner.ruleset import rule_set
from scanner.titles import os_error

if TYPE_CHECKING:
    from scanner.registry.index import Registry

NOT_REGULAR = msg("This is not a regular file but a pipe, a socket or a device.")
_CHUNK = 1 << 16  # what a file grew by while it was read, at a time


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
        # Every report names the rule set it was decided under.
        self.fingerprint = rule_set(self.config).fingerprint
        self.detectors = Detectors(load_dictionaries(self.config, probes=PROBES), load_registry(self.config))

    @classmethod
    def assembled(cls, config: Config, dictionary: Dictionary, registry: Registry | None, fingerprint: str) -> Scanner:
        """A scanner of parts built elsewhere: a cluster's workers get them from the client, which may have dictionary
        files and a registry store they do not."""
        scanner = cls.__new__(cls)
        scanner.config, scanner.fingerprint = config, fingerprint
        scanner.detectors = Detectors(dictionary, registry)
        return scanner

    def scan_bytes(
        self, data: bytes, name: str, channel: str = "scan", *, deadline: Deadline | None = None
    ) -> FileReport:
        """Scan the content `data` of a file called `name` under `channel`'s policy, by `deadline` (by default
        `[limits] seconds` from now) for extraction and detection together."""
        return self.examine(data, name, channel, deadline=deadline).report

    def scan_read(self, content: list[bytes], name: str, channel: str = "scan", *, sha256: bytes) -> FileReport:
        """scan_bytes for a file's bytes just read, handed over in `content` (a list of them, which this empties) with
        the SHA-256 the caller took of them (the scan index looked the content up by it): nothing holds the bytes once
        they are extracted, so a large text file costs its text while it is searched, not its bytes as well."""
        return self._examine(content, name, channel, False, None, sha256).report

    def scan_path(self, path: str | os.PathLike[str], channel: str = "scan") -> FileReport:
        """Scan a file on disk; a file that cannot be read gets an unscannable finding, never an exception."""
        return self.examine_path(path, channel).report

    def examine_path(self, path: str | os.PathLike[str], channel: str = "scan", explain: bool = False) -> Scanned:
        """`examine` for a file on disk, read within the limits: its size is checked before a byte is read, and it is
        read in chunks that stop at the limit, so a file of any size costs at most the limit in memory."""
        try:
            content = [read_regular_file(path, self.config.limits.max_bytes)]
        except Refused as exc:
            return self.unread(str(path), exc.problem, channel, exc.size)
        except OSError as exc:
            problem = Problem("unreadable", msg("The file cannot be read: {error}.", error=os_error(exc)))
            return self.unread(str(path), problem, channel)
        return self._examine(content, str(path), channel, explain, None, None)

    def examine(
        self, data: bytes, name: str, channel: str = "scan", explain: bool = False, *, deadline: Deadline | None = None
    ) -> Scanned:
        """The report and what lies behind it: the extraction, and with `explain` every candidate set aside. One
        deadline covers both steps: extraction gets what is left of it, detection what extraction left."""
        return self._examine([data], name, channel, explain, deadline, None)

    def _examine(
        self,
        content: list[bytes],
        name: str,
        channel: str,
        explain: bool,
        deadline: Deadline | None,
        digest: bytes | None,
    ) -> Scanned:
        # `content` holds the file's bytes so that, read here from a path, nothing else does: they are let go once
        # extracted, and a large text file costs its text while it is searched, not its bytes as well.
        data = content.pop()
        size, sha256 = len(data), (digest or hashlib.sha256(data).digest()).hex()
        policy = self.config.channel(channel)
        own = Deadline.after(self.config.limits.seconds)
        limits = self.config.limits
        if deadline is not None and deadline.at < own.at:  # a door's deadline, sooner than the scan's own
            limits = replace(limits, seconds=max(0.0, deadline.left()))
        else:
            deadline = own
        try:
            extraction = extract(data, name, limits, ocr=self.config.ocr, sha256=sha256)
            del data
            evidence, findings = self.detectors.run(extraction.segments, policy, explain, deadline=deadline)
        except Exception as exc:  # fail closed: a fault in any step is a finding, never a pass
            problem = Problem(
                "internal-error", msg("baomi failed while checking it."), cause=f"{type(exc).__name__}: {exc}"
            )
            extraction = Extraction("unknown", problems=[problem])
            evidence, findings = [], []
        findings += [unscannable_finding(p) for p in extraction.problems]
        findings = apply_policy(findings, policy, self.config, sha256)
        report = FileReport(
            path=name,
            verdict=verdict_of(findings),
            findings=findings,
            errors=[f"{p.reason}: {p.english}" for p in extraction.problems],
            size=size,
            sha256=sha256,
            format=extraction.format,
            encoding=extraction.encoding,
            rule_set=self.fingerprint,
        )
        return Scanned(report, extraction, evidence)

    def unscanned(
        self, name: str, problem: Problem, channel: str = "scan", data: bytes = b"", size: int = 0
    ) -> FileReport:
        """The report on content a door could not hand to the engine (unreadable, too large, malformed, out of time):
        an unscannable finding saying why, decided by `channel`'s policy like any other. `data` is what there was of
        it, if anything; `size` its size when the content itself is gone."""
        sha256 = hashlib.sha256(data).hexdigest() if data else ""
        findings: list[Finding] = apply_policy(
            [unscannable_finding(problem)], self.config.channel(channel), self.config, sha256
        )
        return FileReport(
            path=name,
            verdict=verdict_of(findings),
            findings=findings,
            errors=[f"{problem.reason}: {problem.english}"],
            size=len(data) or size,
            sha256=sha256,
            rule_set=self.fingerprint,
        )

    def unread(self, name: str, problem: Problem, channel: str = "scan", size: int = 0) -> Scanned:
        """`unscanned` for a path that was not read at all (a pipe, a folder that cannot be listed, a file too
        large), with the problem as its extraction, for `--explain`."""
        return Scanned(self.unscanned(name, problem, channel, size=size), Extraction("unknown", problems=[problem]), [])


class Refused(Exception):
    """A path that is not read: not a regular file, or larger than the limit."""

    def __init__(self, problem: Problem, size: int = 0) -> None:
        super().__init__(problem.english)
        self.problem = problem
        self.size = size


def read_regular_file(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """The bytes of the regular file at `path`, or Refused. Opened without blocking (a pipe put in its place after the
    check has no writer to wait for) and checked again once open; read in chunks, never past `max_bytes` + one chunk
    (the file may grow while it is read)."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise Refused(Problem("unreadable", NOT_REGULAR))
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Refused(Problem("unreadable", NOT_REGULAR))
        if info.st_size > max_bytes:
            too_large = msg("{size} bytes, over the limit of {limit}.", size=info.st_size, limit=max_bytes)
            raise Refused(Problem("max_bytes", too_large), info.st_size)
        # What the file holds now in one read (one buffer, not chunks joined into a second), then whatever it grew by.
        chunks = [os.read(fd, info.st_size) if info.st_size else b""]
        size = len(chunks[0])
        while chunk := os.read(fd, _CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise Refused(
                    Problem("max_bytes", msg("More than {limit} bytes, over the limit.", limit=max_bytes)), size
                )
            chunks.append(chunk)
    finally:
        os.close(fd)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
