"""baomi audit: recent decisions newest first, filtered by verdict, channel and date, exported as CSV or JSON."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scanner.audit import AuditLog, Decision
from scanner.cli import main
from scanner.doors.audit_log import when


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    """Four decisions over three days, from three doors."""
    path = tmp_path / "audit.db"
    log = AuditLog(path)
    for time, channel, name, verdict, action, rules in [
        ("2026-11-01T09:00:00.000+00:00", "watch", "通知.docx", "pass", "released", []),
        ("2026-11-02T10:00:00.000+00:00", "mail", "工资表.xlsx", "flag", "held", ["id.resident-id"]),
        ("2026-11-02T23:59:00.000+00:00", "watch", "密件.pdf", "block", "quarantined", ["mark.state-secret"]),
        ("2026-11-03T08:00:00.000+00:00", "web", "方案.docx", "block", "refused", ["mark.state-secret"]),
    ]:
        log.record(Decision(channel, "src", name, 10, "ab" * 32, verdict, action, rules, "机密★5年", time=time))
    log.record(
        Decision(
            "watch",
            "src",
            "纪要.txt",
            5,
            "cd" * 32,
            "flag",
            "released",
            ["mark.internal"],
            actor="王保密",
            reason="已脱密",
            time="2026-11-03T09:00:00.000+00:00",
        )
    )
    log.close()
    return path


def audit(log_path: Path, *argv: str) -> int:
    return main(["audit", "--audit", str(log_path), *argv])


def names(out: str) -> list[str]:
    """The file names of a listing: after the time (date, time, zone), channel, verdict and action."""
    return [line.split()[6] for line in out.splitlines()]


def test_recent_decisions_newest_first(log_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert audit(log_path) == 0
    assert names(capsys.readouterr().out) == ["纪要.txt", "方案.docx", "密件.pdf", "工资表.xlsx", "通知.docx"]


def test_a_release_by_hand_shows_who_and_why(log_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    audit(log_path, "--limit", "1")
    assert "[王保密: 已脱密]" in capsys.readouterr().out


def test_filter_by_verdict(log_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    audit(log_path, "--verdict", "block")
    assert names(capsys.readouterr().out) == ["方案.docx", "密件.pdf"]


def test_filter_by_channel(log_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    audit(log_path, "--channel", "watch")
    assert names(capsys.readouterr().out) == ["纪要.txt", "密件.pdf", "通知.docx"]


def test_filter_by_dates_includes_the_whole_until_day(log_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    audit(log_path, "--since", "2026-11-02", "--until", "2026-11-02")
    assert names(capsys.readouterr().out) == ["密件.pdf", "工资表.xlsx"]


def test_ages_and_today_are_times_before_now() -> None:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert when("12h", now) == "2026-11-27T00:00:00+00:00"
    assert when("7d", now) == "2026-11-20T12:00:00+00:00"
    assert when("today", now) == "2026-11-27T00:00:00+00:00"
    assert when("2026-11-02 08:30", now) == "2026-11-02T08:30:00+00:00"


def test_dates_and_times_given_are_the_readers_local_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    now = datetime(2026, 11, 27, 20, 0, tzinfo=UTC)  # already the 28th in Shanghai
    assert when("today", now) == "2026-11-27T16:00:00+00:00"
    assert when("2026-11-02 08:30", now) == "2026-11-02T00:30:00+00:00"
    assert when("2026-11-02", now, end=True) == "2026-11-02T16:00:00+00:00"  # the end of that day in Shanghai


def test_times_are_shown_in_the_local_zone_with_the_zone_named(
    log_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    audit(log_path, "--channel", "mail")
    assert capsys.readouterr().out.startswith("2026-11-02 18:00:00 Asia/Shanghai  mail  flag  held")


def test_a_date_that_is_not_one_is_a_usage_error(log_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert audit(log_path, "--since", "yesterday-ish") == 2
    assert "Not a date" in capsys.readouterr().err


def test_export_csv_has_every_column(log_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "audit.csv"
    assert audit(log_path, "--format", "csv", "--output", str(out), "--verdict", "flag") == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["name"] for r in rows] == ["纪要.txt", "工资表.xlsx"]
    assert rows[0]["actor"] == "王保密" and rows[0]["rules"] == "mark.internal"
    assert rows[1]["sha256"] == "ab" * 32 and rows[1]["actor"] == ""


def test_export_json_is_the_whole_log_by_default(log_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    audit(log_path, "--format", "json")
    records = json.loads(capsys.readouterr().out)
    assert len(records) == 5
    assert records[-1]["name"] == "通知.docx" and records[-1]["rules"] == []


def test_a_missing_log_is_a_clear_error_and_is_not_created(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert audit(tmp_path / "none.db") == 2
    assert "no audit log" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()


def test_a_channel_includes_the_channels_built_on_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "audit.db"
    log = AuditLog(path)
    for channel, name in (("mail", "外发.eml"), ("mail-internal", "内部.eml"), ("web", "上传.docx")):
        log.record(Decision(channel, "src", name, 1, "", "pass", "allowed"))
    log.close()
    audit(path, "--channel", "mail")
    assert sorted(names(capsys.readouterr().out)) == ["内部.eml", "外发.eml"]
    audit(path, "--channel", "mail-internal")
    assert names(capsys.readouterr().out) == ["内部.eml"]
