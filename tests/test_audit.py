"""The decision log itself: records as written come back as read, newest first and filtered; contexts are cut short;
threads and processes may write at once; where the log lives."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import pytest

from scanner.audit import REDACT_CHARS, Action, AuditLog, Decision, default_audit_path
from scanner.config import AuditTable
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


def test_the_vocabulary_of_what_doors_do() -> None:
    assert [str(a) for a in Action] == ["released", "allowed", "held", "quarantined", "refused", "tempfailed"]


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


def _write_many(path: Path, prefix: str) -> None:
    log = AuditLog(path)
    for i in range(100):
        log.record(decision(f"{prefix}-{i}"))
    log.close()


def test_processes_sharing_one_log_each_get_their_record(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    AuditLog(path).close()
    context = multiprocessing.get_context("forkserver")
    writers = [context.Process(target=_write_many, args=(path, f"p{n}")) for n in range(3)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=60)
    log = AuditLog(path)
    assert len(log.query(limit=None)) == 300
    log.close()


def test_the_log_lives_where_the_configuration_says_else_where_the_environment_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BAOMI_AUDIT", str(tmp_path / "env.db"))
    assert default_audit_path(AuditTable(tmp_path / "conf.db")) == tmp_path / "conf.db"
    assert default_audit_path(AuditTable()) == tmp_path / "env.db"
    monkeypatch.delenv("BAOMI_AUDIT")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert default_audit_path(AuditTable()) == tmp_path / "state" / "baomi" / "audit.db"
