"""baomi review: the officer lists what `baomi watch` held, sees why, and releases (with a reason) or keeps each file;
every release and keep is a decision in the audit log with the reviewer's name and reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scanner.cli import main
from tests.watch_rig import BLOCK_TEXT, FLAG_TEXT, PASS_TEXT, Gateway


@pytest.fixture
def gateway(tmp_path: Path) -> Gateway:
    """A gateway whose watcher has run once over a flagged, a blocked and a clean file."""
    gw = Gateway(tmp_path)
    gw.drop("纪要.txt", FLAG_TEXT)
    gw.drop("部门/密件.txt", BLOCK_TEXT)
    gw.drop("通知.txt", PASS_TEXT)
    assert main(["watch", str(gw.outbox), *gw.args(), "--once", "--settle", "0", "--quiet", "--threads"]) == 0
    return gw


def review(gateway: Gateway, *argv: str) -> int:
    return main(["review", "--outbox", str(gateway.outbox), *gateway.args(), *argv])


def test_list_shows_each_held_file_with_its_verdict_and_rules(
    gateway: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    assert review(gateway) == 0
    out = capsys.readouterr().out
    assert "纪要.txt" in out and "mark.internal" in out and "flag" in out
    assert "部门/密件.txt" in out and "mark.state-secret" in out and "quarantine" in out
    assert "通知.txt" not in out
    assert "2 held: 1 for review, 1 in quarantine" in out


def test_list_as_json_carries_the_verdict_records(gateway: Gateway, capsys: pytest.CaptureFixture[str]) -> None:
    assert review(gateway, "list", "--format", "json") == 0
    rows = {Path(r["path"]).name: r for r in json.loads(capsys.readouterr().out)}
    assert rows["纪要.txt"]["route"] == "review"
    assert rows["密件.txt"]["record"]["rules"] == ["mark.state-secret"]


def test_show_gives_the_findings_with_their_short_context(gateway: Gateway, capsys: pytest.CaptureFixture[str]) -> None:
    assert review(gateway, "show", str(gateway.folder("review") / "纪要.txt")) == 0
    out = capsys.readouterr().out
    assert "mark.internal" in out and "内部资料 注意保存" in out


def test_release_moves_the_file_on_and_records_reviewer_and_reason(gateway: Gateway) -> None:
    held = gateway.folder("review") / "纪要.txt"
    assert review(gateway, "release", str(held), "--reason", "会议纪要已脱密", "--reviewer", "王保密") == 0
    assert gateway.places("纪要.txt") == ["released"]
    assert not (gateway.folder("review") / "纪要.txt.verdict.json").exists()
    released = gateway.decisions()[0]
    assert (released.action, released.actor, released.reason) == ("released", "王保密", "会议纪要已脱密")
    assert (released.verdict, released.rules, released.name) == ("flag", ["mark.internal"], "纪要.txt")


def test_release_takes_a_path_relative_to_the_held_folder(gateway: Gateway) -> None:
    assert review(gateway, "release", "纪要.txt", "--reason", "ok") == 0
    assert gateway.places("纪要.txt") == ["released"]


def test_a_quarantined_file_is_released_only_with_force(gateway: Gateway) -> None:
    held = str(gateway.folder("quarantine") / "部门" / "密件.txt")
    assert review(gateway, "release", held, "--reason", "定密错误") == 2
    assert gateway.places("部门/密件.txt") == ["quarantine"]
    assert review(gateway, "release", held, "--reason", "定密错误，已解密", "--force") == 0
    assert gateway.places("部门/密件.txt") == ["released"]


def test_a_held_file_changed_since_its_scan_is_not_released(gateway: Gateway) -> None:
    held = gateway.folder("review") / "纪要.txt"
    held.write_text(FLAG_TEXT + "机密★5年\n", encoding="utf-8")
    assert review(gateway, "release", str(held), "--reason", "ok") == 1
    assert gateway.places("纪要.txt") == ["review"]
    assert [d.actor for d in gateway.decisions()] == [None, None, None], "no reviewer's decision"


def test_keep_records_the_decision_and_marks_the_file_kept(
    gateway: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    held = gateway.folder("review") / "纪要.txt"
    assert review(gateway, "keep", str(held), "--reason", "含内部人事安排", "--reviewer", "王保密") == 0
    assert gateway.places("纪要.txt") == ["review"]
    kept = gateway.decisions()[0]
    assert (kept.action, kept.actor, kept.reason) == ("held", "王保密", "含内部人事安排")
    capsys.readouterr()
    review(gateway)
    assert any(line.startswith("kept") and "纪要.txt" in line for line in capsys.readouterr().out.splitlines())


def test_a_file_outside_the_held_folders_is_refused(gateway: Gateway, capsys: pytest.CaptureFixture[str]) -> None:
    assert review(gateway, "release", str(gateway.folder("released") / "通知.txt"), "--reason", "x") == 2
    assert "not a file held" in capsys.readouterr().err


def test_a_name_held_in_two_folders_must_be_given_in_full(gateway: Gateway, capsys: pytest.CaptureFixture[str]) -> None:
    (gateway.folder("quarantine") / "纪要.txt").write_text(BLOCK_TEXT, encoding="utf-8")
    assert review(gateway, "show", "纪要.txt") == 2
    assert "give the full path" in capsys.readouterr().err
