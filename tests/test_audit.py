"""The decision log itself: records as written come back as read, newest first and filtered; contexts are cut short;
threads and processes may write at once; where the log lives."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from pathlib import Path

import pytest

from scanner.audit import _SCHEMA, REDACT_CHARS, Action, AuditLog, Decision, default_audit_path
from scanner.config import AuditTable
from scanner.database import SQL_TYPES
from scanner.model import FileReport, Finding, Location, Verdict


def decision(name: str, channel: str = "watch", verdict: str = "pass", **extra: object) -> Decision:
    return Decision(channel, "outbox", name, 1, "ab" * 32, verdict, Action.RELEASED, extra=dict(extra))


def test_a_decision_comes_back_as_it_was_written(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.db")
    written = Decision(
        "mail",
        "<m@x>",
        "报告.eml",
        9,
        "cd" * 32,
        "block",
        Action.REFUSED,
        ["mark.state-secret"],
        "机密★5年",
        extra={"recipients": ["a@b.cn"], "internal": False},
    )
    ref = log.record(written)
    [read] = log.query()
    log.close()
    assert ref == written.id == read.id
    assert read == written and read.time.endswith("+00:00")


def test_newest_first_filtered_by_verdict_channel_and_time(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.db")
    for n, (channel, verdict) in enumerate([("watch", "pass"), ("mail", "block"), ("mail-internal", "pass")]):
        log.record(Decision(channel, "s", f"{n}.txt", 1, "", verdict, "allowed", time=f"2026-11-0{n + 1}T08:00"))
    assert [d.name for d in log.query()] == ["2.txt", "1.txt", "0.txt"]
    assert [d.name for d in log.query(verdict="pass")] == ["2.txt", "0.txt"]
    assert [d.name for d in log.query(channel=["mail", "mail-internal"])] == ["2.txt", "1.txt"]
    assert [d.name for d in log.query(since="2026-11-02", until="2026-11-02")] == ["1.txt"]
    assert [d.name for d in log.query(limit=1)] == ["2.txt"]
    log.close()


def test_a_decision_of_a_report_keeps_a_short_context_only() -> None:
    finding = Finding("state-secret", "mark.state-secret", Verdict.BLOCK, "机密", Location("body", 1, 1), "长" * 200)
    report = FileReport("a.txt", Verdict.BLOCK, [finding], size=5, sha256="ef" * 32)
    made = Decision.of(report, "web", "10.0.0.1", Action.REFUSED, token="cms")
    assert len(made.context) == REDACT_CHARS and made.context.startswith("mark.state-secret: 长")
    assert (made.verdict, made.action, made.rules, made.extra) == (
        "block",
        "refused",
        ["mark.state-secret"],
        {"token": "cms"},
    )


def test_a_decision_names_the_rule_set_of_its_report(tmp_path: Path) -> None:
    report = FileReport("a.txt", Verdict.PASS, size=1, sha256="ef" * 32, rule_set="0123456789abcdef")
    log = AuditLog(tmp_path / "audit.db")
    log.record(Decision.of(report, "web", "10.0.0.1", Action.ALLOWED))
    [read] = log.query()
    log.close()
    assert read.rule_set == "0123456789abcdef"


def test_a_log_written_before_records_named_their_rule_set_gets_the_column(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    old_schema = _SCHEMA.format(**SQL_TYPES["sqlite"]).replace(",\n    rule_set TEXT NOT NULL DEFAULT ''", "")
    assert "rule_set" not in old_schema
    old = sqlite3.connect(path)
    old.executescript(old_schema)
    old.execute(
        "INSERT INTO decisions (time, channel, source, name, size, sha256, verdict, action, rules, context, extra)"
        " VALUES ('2026-01-01T00:00', 'mail', 's', 'old.eml', 1, '', 'pass', 'allowed', '[]', '', '{}')"
    )
    old.commit()
    old.close()
    log = AuditLog(path)
    log.record(decision("new.txt"))
    assert [(d.name, d.rule_set) for d in log.query()] == [("new.txt", ""), ("old.eml", "")]
    log.close()


def test_the_vocabulary_of_what_doors_do() -> None:
    assert [str(a) for a in Action] == [
        "released",
        "allowed",
        "held",
        "quarantined",
        "refused",
        "tempfailed",
        "reloaded",
        "reload-failed",
    ]


def test_threads_sharing_one_log_each_get_their_record(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.db")
    threads = [
        threading.Thread(target=lambda n=n: [log.record(decision(f"{n}-{i}")) for i in range(50)]) for n in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({d.id for d in log.query(limit=None)}) == 400
    log.close()


def write_many(location: Path | str, prefix: str) -> None:
    """100 decisions named prefix-0 to prefix-99."""
    log = AuditLog(location)
    for i in range(100):
        log.record(decision(f"{prefix}-{i}"))
    log.close()


def written_at_once(location: Path | str, processes: int) -> list[Decision]:
    """What the log holds after `processes` processes each wrote 100 decisions at once."""
    AuditLog(location).close()
    context = multiprocessing.get_context("forkserver")
    writers = [context.Process(target=write_many, args=(location, f"p{n}")) for n in range(processes)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=120)
    log = AuditLog(location)
    decisions = log.query(limit=None)
    log.close()
    return decisions


def test_processes_sharing_one_log_each_get_their_record(tmp_path: Path) -> None:
    assert len(written_at_once(tmp_path / "audit.db", 3)) == 300


def test_the_log_lives_where_the_configuration_says_else_where_the_environment_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BAOMI_AUDIT", str(tmp_path / "env.db"))
    assert default_audit_path(AuditTable(tmp_path / "conf.db")) == tmp_path / "conf.db"
    assert default_audit_path(AuditTable()) == tmp_path / "env.db"
    monkeypatch.delenv("BAOMI_AUDIT")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert default_audit_path(AuditTable()) == tmp_path / "state" / "baomi" / "audit.db"
