"""The engine on its own: one Scanner, a report for bytes or a path, under a channel's policy; whatever goes wrong
inside is a finding, never an exception and never a pass."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from scanner.engine import Scanner
from scanner.extract.base import Problem
from scanner.model import Verdict
from scanner.ruleset import rule_set

MARKED = "机密★5年\n关于某项目的通知\n".encode()


def test_a_report_says_what_the_content_is_and_its_hash(scanner: Scanner) -> None:
    report = scanner.scan_bytes(MARKED, "通知.txt")
    assert (report.path, report.verdict, report.format, report.encoding) == ("通知.txt", Verdict.BLOCK, "text", "utf-8")
    assert (report.size, report.sha256) == (len(MARKED), hashlib.sha256(MARKED).hexdigest())
    assert report.rules == ["mark.state-secret"]


def test_every_report_names_the_rule_set_it_was_decided_under(scanner: Scanner) -> None:
    fingerprint = rule_set(scanner.config).fingerprint
    assert scanner.scan_bytes(MARKED, "通知.txt").to_dict()["rule_set"] == fingerprint
    assert scanner.unscanned("a.bin", Problem("too-large", "over the limit")).rule_set == fingerprint


def test_the_channel_chooses_the_policy(scanner: Scanner) -> None:
    data = "身份证号 11010519491231002X".encode()
    assert scanner.scan_bytes(data, "a.txt", "mail").verdict == Verdict.FLAG
    assert scanner.scan_bytes(data, "a.txt", "mail-internal").verdict == Verdict.PASS


def test_scan_path_reads_the_file_and_names_it_by_its_path(scanner: Scanner, tmp_path: Path) -> None:
    path = tmp_path / "通知.txt"
    path.write_bytes(MARKED)
    report = scanner.scan_path(path)
    assert (report.path, report.verdict) == (str(path), Verdict.BLOCK)


@pytest.mark.parametrize("kind", ["missing", "pipe", "folder"])
def test_what_scan_path_cannot_read_is_unscannable_not_an_exception(
    scanner: Scanner, tmp_path: Path, kind: str
) -> None:
    path = tmp_path / kind
    if kind == "pipe":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    report = scanner.scan_path(path)
    assert (report.verdict, report.rules) == (Verdict.BLOCK, ["unscannable.unreadable"])
    assert report.errors and report.errors[0].startswith("unreadable: ")


def test_a_fault_inside_the_engine_is_a_finding_and_never_a_pass(scanner: Scanner, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in a detector")

    monkeypatch.setattr(scanner.detectors, "run", broken)
    report = scanner.scan_bytes("今天天气很好。".encode(), "a.txt")
    assert (report.verdict, report.rules) == (Verdict.BLOCK, ["unscannable.internal-error"])
    assert report.errors == ["internal-error: baomi failed while checking it. (RuntimeError: a bug in a detector)"]


def test_explain_keeps_the_extraction_and_the_candidates_set_aside(scanner: Scanner) -> None:
    scanned = scanner.examine("国家秘密的密级分为绝密、机密、秘密三级。".encode(), "rules.txt", explain=True)
    assert scanned.report.verdict == Verdict.PASS
    assert any(s.text.startswith("国家秘密的密级") for s in scanned.extraction.segments)
    assert any(e.outcome != "finding" for e in scanned.evidence)


def test_content_a_door_never_handed_over_is_unscannable_by_the_policy(scanner: Scanner) -> None:
    report = scanner.unscanned("upload", Problem("unreadable-body", "no boundary"), "web", data=b"abc")
    assert (report.verdict, report.rules, report.size) == (Verdict.BLOCK, ["unscannable.unreadable-body"], 3)
    assert report.sha256 == hashlib.sha256(b"abc").hexdigest()
    assert scanner.unscanned("m.eml", Problem("seconds", "slow"), "mail", size=99).size == 99
