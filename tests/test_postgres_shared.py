"""The scan index and the audit log in PostgreSQL, as a cluster and several gateway hosts share them: both round-trip
as in SQLite, and two writers at once each get all their records, against a real server the tests start
(tests/postgres_fixture.py)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner.audit import Action, AuditLog, Decision
from tests.conftest import require
from tests.postgres_fixture import PrivatePostgres, postgres_missing_reason
from tests.scan_rig import baomi_scan, make_tree, without_reused
from tests.test_audit import write_many, written_at_once


@pytest.fixture(scope="module")
def server() -> Iterator[PrivatePostgres]:
    reason = postgres_missing_reason()
    require(reason is None, reason or "PostgreSQL")
    with PrivatePostgres() as server:  # ready once it takes a session
        yield server


def test_the_scan_index_round_trips_in_postgresql(server: PrivatePostgres, tmp_path: Path) -> None:
    url = server.create_database("index_round_trip")
    make_tree(tmp_path / "share", 40, documents=2)
    fresh = baomi_scan("--no-index", "--format", "jsonl", tmp_path / "share")
    first = baomi_scan("--index", url, "--format", "jsonl", tmp_path / "share")
    again = baomi_scan("--index", url, "--format", "jsonl", tmp_path / "share")
    assert without_reused(first.files) == without_reused(again.files) == without_reused(fresh.files)
    assert all(f["reused"] for f in again.files) and not any(f["reused"] for f in first.files)
    assert "42 of 42 reports reused from the scan index postgresql://" in again.stderr


def test_two_scans_write_one_postgresql_index_at_once(server: PrivatePostgres, tmp_path: Path) -> None:
    url = server.create_database("index_two_writers")
    shares = [tmp_path / "one", tmp_path / "two"]
    for share in shares:
        make_tree(share, 300)
    command = [sys.executable, "-m", "scanner.cli", "scan", "--jobs", "1", "--index", url]
    scans = [subprocess.Popen([*command, str(s)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for s in shares]
    errors = [scan.communicate(timeout=300)[1] for scan in scans]
    assert [scan.returncode for scan in scans] == [1, 1], errors
    both = baomi_scan("--index", url, "--format", "jsonl", *shares)
    assert len(both.files) == 600 and all(f["reused"] for f in both.files)


def test_the_index_is_configured_in_the_index_table(server: PrivatePostgres, tmp_path: Path) -> None:
    url = server.create_database("index_configured")
    config = tmp_path / "baomi.toml"
    config.write_text(f'[index]\nurl = "{url}"\n', encoding="utf-8")
    make_tree(tmp_path / "share", 3)
    baomi_scan("--config", config, tmp_path / "share")
    assert all(f["reused"] for f in baomi_scan("--index", url, "--format", "jsonl", tmp_path / "share").files)


def test_an_unreachable_index_is_a_clear_error_without_its_password(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("正文", encoding="utf-8")
    result = baomi_scan("--index", "postgresql://baomi:s3cret@127.0.0.1:1/none", tmp_path / "a.txt")
    assert result.status == 2 and "Cannot connect to the PostgreSQL database" in result.stderr
    assert "s3cret" not in result.stderr and "Traceback" not in result.stderr


def decision(name: str, channel: str = "mail") -> Decision:
    return Decision(channel, "<m@x>", name, 9, "cd" * 32, "block", Action.REFUSED, ["mark.state-secret"], "机密★5年")


def test_the_audit_log_round_trips_in_postgresql(server: PrivatePostgres) -> None:
    log = AuditLog(server.create_database("audit_round_trip"))
    written = decision("报告.eml")
    written.extra = {"recipients": ["a@b.cn"], "internal": False}
    assert log.record(written) == written.id
    for n, channel in enumerate(["watch", "web"]):
        log.record(Decision(channel, "s", f"{n}.txt", 1, "", "pass", "allowed", time=f"2026-11-0{n + 1}T08:00"))
    assert log.query(limit=1)[0].name == "1.txt"
    assert [d.name for d in log.query(channel="watch")] == ["0.txt"]
    assert [d.name for d in log.query(since="2026-11-02", until="2026-11-02")] == ["1.txt"]
    [read] = log.query(channel="mail")
    log.close()
    assert read == written and read.time.endswith("+00:00")


def test_the_audit_log_connects_again_when_the_server_drops_its_connection(server: PrivatePostgres) -> None:
    """A door runs for months; the server restarts, or a firewall cuts an idle connection: the next record is kept."""
    import psycopg

    log = AuditLog(server.create_database("audit_dropped"))
    log.record(decision("before"))
    with psycopg.connect(server.url(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'audit_dropped'")
    log.record(decision("after"))
    assert [d.name for d in log.query()] == ["after", "before"]
    log.close()


def test_two_processes_write_one_postgresql_audit_log_at_once(server: PrivatePostgres) -> None:
    decisions = written_at_once(server.create_database("audit_two_writers"), 2)
    assert len({d.id for d in decisions}) == 200
    assert {d.name for d in decisions} == {f"p{n}-{i}" for n in range(2) for i in range(100)}


def test_baomi_audit_reads_the_log_the_configuration_names(server: PrivatePostgres, tmp_path: Path) -> None:
    url = server.create_database("audit_configured")
    write_many(url, "relay")
    config = tmp_path / "baomi.toml"
    config.write_text(f'[audit]\nurl = "{url}"\n', encoding="utf-8")
    command = [sys.executable, "-m", "scanner.cli", "audit", "--config", str(config), "--format", "json"]
    shown = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert '"name": "relay-99"' in shown.stdout


def test_the_registry_lives_in_postgresql(server: PrivatePostgres, tmp_path: Path) -> None:
    """`[registry] store = "postgresql://…"`: a document registered there is found by a scan that reads the same
    store."""
    from scanner.cli import main
    from scanner.engine import Scanner
    from scanner.model import Verdict
    from scanner.policy import load_config
    from tests.common import docx_of
    from tests.test_registry import SECRET, excerpt, registered

    url = server.create_database("registry")
    policy = tmp_path / "policy.toml"
    key = tmp_path / "registry.key"
    policy.write_text(f'[registry]\nstore = "{url}"\nkey = "{key}"\nmin_chars = 80\n', encoding="utf-8")
    secret = tmp_path / "天河七号报告.docx"
    secret.write_bytes(docx_of(*SECRET))
    assert main(["register", "add", str(secret), "--level", "机密", "--config", str(policy)]) == 0
    report = Scanner(load_config(policy)).scan_bytes(excerpt(200).encode(), "摘录.txt")
    assert registered(report) and report.verdict == Verdict.BLOCK
