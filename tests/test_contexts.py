"""Secrets stay secret: a finding's context is a short window of the original, and it never shows the digits of an
identifier, whole or cut in half by the window's edge."""

from __future__ import annotations

import re

import pytest

from scanner.detect.view import SegmentView
from scanner.model import Segment

ID = "110105199001012111"


def _digits_of(value: str, shown: str) -> int:
    """The longest run of `value`'s digits that `shown` lets through (digits in a row, separators skipped)."""
    runs = re.findall(r"\d+", shown.replace(" ", "").replace("-", ""))
    return max((len(run) for run in runs if run in value), default=0)


@pytest.mark.parametrize("cut", range(1, len(ID)))
def test_an_id_the_window_cuts_at_every_offset_is_masked(cut: int) -> None:
    text = "身份证号：" + ID + "。另见附件" + "丙" * 30
    view = SegmentView(Segment(text), context_chars=20)
    # a match right after the window's reach: the window starts `cut` digits before the ID's end
    end_of_id = text.index(ID) + len(ID)
    start = end_of_id - cut + 20
    context = view.context(start, start + 1)
    assert _digits_of(ID, context) == 0, context


@pytest.mark.parametrize("cut", range(1, len(ID)))
def test_an_id_the_window_cuts_at_every_offset_after_the_match_is_masked(cut: int) -> None:
    text = "丙" * 30 + "另见附件。身份证号：" + ID + "。"
    view = SegmentView(Segment(text), context_chars=20)
    start = text.index(ID) + cut - 21  # the window's end falls `cut` digits into the ID
    context = view.context(start, start + 1)
    assert _digits_of(ID, context) == 0, context


@pytest.mark.parametrize(
    "number", ["6222 0212 0483 5716 256", "139-1234-5678", "110105 19900101 2111", "91350100M000100Y43"]
)
def test_every_digit_of_an_identifier_shaped_run_near_a_finding_is_masked(scan_text, number: str) -> None:
    report = scan_text(f"编号{number}，此件严禁外传。")
    context = next(f.context for f in report.findings if f.rule == "term.leak-phrases")
    assert not re.search(r"\d", context), context


def test_short_numbers_in_a_context_stay_readable(scan_text) -> None:
    report = scan_text("2024年第3期，共12页，此件严禁外传。")
    assert "2024年第3期" in report.findings[0].context


def test_an_identifiers_own_finding_shows_only_its_masked_form(scan_text) -> None:
    [finding] = [f for f in scan_text("身份证号：11010519491231002X，电话另附").findings]
    assert finding.text == "110105********002X"
    assert finding.text in finding.context
    assert "19491231" not in finding.context
