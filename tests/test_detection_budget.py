"""Detection is linear in the text and the hits, stops at the scan's deadline, and lists repeats only so often: the
tests bound the work (characters read, candidates judged), never a time."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from scanner.detect import Deadline, Detectors, Work
from scanner.detect.view import SegmentView
from scanner.dictionaries import load_dictionaries
from scanner.engine import Scanner
from scanner.model import Finding, Segment
from scanner.policy import load_config

CONFIG = load_config()


@pytest.fixture(scope="module")
def detectors() -> Detectors:
    return Detectors(load_dictionaries(CONFIG))


def detect(detectors: Detectors, text: str, **kwargs: object) -> tuple[list[Finding], Work]:
    work = Work()
    _, findings = detectors.run([Segment(text)], CONFIG.channel("scan"), work=work, **kwargs)  # type: ignore[arg-type]
    return findings, work


@pytest.mark.parametrize("repeats", [8_000, 80_000])
def test_a_line_of_repeated_marks_costs_work_linear_in_its_length(detectors: Detectors, repeats: int) -> None:
    text = "机密★" * repeats
    findings, work = detect(detectors, text)
    assert [f.rule for f in findings][:1] == ["mark.state-secret"]
    assert work.candidates == repeats
    assert work.characters <= 40 * len(text), work  # bounded windows, never the whole line per candidate


def test_a_dense_line_costs_a_few_times_ordinary_text_per_character(detectors: Detectors) -> None:
    ordinary = (
        "第一条 为了加强保密工作，根据有关法律，制定本办法。本办法所称国家秘密，是指关系国家安全的事项。\n"
    ) * 400
    dense = "机密★" * (len(ordinary) // 3)
    _, plain = detect(detectors, ordinary)
    _, marked = detect(detectors, dense)
    per_char = (marked.characters + 32 * marked.candidates) / len(dense)
    assert per_char <= 60 * max(1.0, (plain.characters + 32 * plain.candidates) / len(ordinary))


def test_finding_the_line_of_each_hit_reads_the_text_once(detectors: Detectors) -> None:
    text = ("正文内容。" * 50 + "\n") * 2_000 + "机密★5年" + "\n正文" * 1_000
    view = SegmentView(Segment(text), 20)
    for start in range(0, len(text), 97):
        view.line_of(start)
    assert view.work.characters <= len(text) + 1


def test_counting_the_lines_above_a_bare_level_stops_after_enough(detectors: Detectors) -> None:
    text = "\n" * 100_000 + "\n".join(["秘密"] * 2_000)
    _, work = detect(detectors, text)
    assert work.characters <= 20 * len(text)


@dataclass(frozen=True)
class PassesAfter(Deadline):
    """A deadline that passes after `checks` looks at the clock: a slow scan without a slow test."""

    checks: int = 0

    def passed(self) -> bool:
        object.__setattr__(self, "checks", self.checks - 1)
        return self.checks < 0


def test_detection_past_its_deadline_stops_with_an_unscannable_finding(detectors: Detectors) -> None:
    text = "此件严禁外传。\n" * 5_000
    findings, work = detect(detectors, text, deadline=PassesAfter(0.0, 1.0, checks=2))
    assert "unscannable.timeout" in [f.rule for f in findings]
    assert work.candidates <= 3 * 256


def test_a_scan_whose_deadline_has_passed_blocks_as_unscannable() -> None:
    report = Scanner().scan_bytes("各单位：请按时报送。".encode(), "a.txt", deadline=Deadline.after(-1.0))
    assert "unscannable.timeout" in report.rules
    assert str(report.verdict) == "block"


def test_the_scans_deadline_comes_from_the_limits(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "baomi.toml"
    config.write_text("[limits]\nseconds = 0.0\n", encoding="utf-8")
    report = Scanner(load_config(config)).scan_bytes("各单位：请按时报送。".encode(), "a.txt")
    assert str(report.verdict) == "block"
    assert any(f.category == "unscannable" for f in report.findings)


def test_repeats_of_one_term_are_listed_a_hundred_times_and_counted(detectors: Detectors) -> None:
    findings, work = detect(detectors, "此件严禁外传。\n" * 100_000)
    listed = [f for f in findings if f.rule == "term.leak-phrases"]
    assert len(listed) == 100
    assert "99900 more like it in this file are not listed" in listed[-1].explanation
    assert work.candidates <= 200  # the repeats past the list are counted, not judged


def test_repeats_of_one_mark_are_listed_a_hundred_times(detectors: Detectors) -> None:
    findings, _ = detect(detectors, "机密★5年\n" * 1_000)
    listed = [f for f in findings if f.rule == "mark.state-secret"]
    assert len(listed) == 100
    assert "900 more like it" in listed[-1].explanation


def test_the_verdict_does_not_change_when_repeats_are_only_counted(scan_text) -> None:
    assert str(scan_text("此件严禁外传。\n" * 500).verdict) == "block"
