"""The registry in PostgreSQL, where the scan index will live: the same commands and the same findings as with a
SQLite file, against a real server the test starts (tests/postgres_fixture.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner import reloading
from scanner.cli import main
from scanner.database import shown
from scanner.engine import Scanner
from scanner.i18n import render
from scanner.policy import load_config
from scanner.reloading import Rules
from tests.common import docx_of
from tests.conftest import require
from tests.postgres_fixture import PrivatePostgres, postgres_missing_reason
from tests.test_registry import ROSTER, ROSTER_COLUMNS, SECRET, excerpt, registered


@pytest.fixture(scope="module")
def server() -> Iterator[PrivatePostgres]:
    reason = postgres_missing_reason()
    require(reason is None, reason or "PostgreSQL")
    with PrivatePostgres() as server:
        yield server


def test_documents_and_tables_registered_in_postgresql_are_found(server: PrivatePostgres, tmp_path: Path) -> None:
    url = server.create_database("registry")
    policy = tmp_path / "policy.toml"
    policy.write_text(f'[registry]\nstore = "{url}"\nkey = "registry.key"\n', encoding="utf-8")
    secret = tmp_path / "报告.docx"
    secret.write_bytes(docx_of(*SECRET))
    roster = tmp_path / "名单.csv"
    roster.write_text("\n".join(",".join(r) for r in [ROSTER_COLUMNS, *ROSTER]), encoding="utf-8")
    config = ["--config", str(policy)]
    assert main(["register", "add", str(secret), "--level", "机密", *config]) == 0
    assert main(["register", "table", str(roster), "--columns", "姓名,手机", "--level", "秘密", *config]) == 0
    assert (tmp_path / "registry.key").exists()

    scanner = Scanner(load_config(policy))
    assert registered(scanner.scan_bytes(excerpt(200).encode(), "摘录.txt"))
    assert registered(scanner.scan_bytes("张伟 13812345678".encode(), "名单.txt"), "registered-table")
    assert not registered(scanner.scan_bytes(excerpt(50).encode(), "短.txt"))


def test_a_postgresql_store_moves_to_sqlite_by_export_and_import(server: PrivatePostgres, tmp_path: Path) -> None:
    url = server.create_database("moving")
    key = tmp_path / "registry.key"
    secret = tmp_path / "报告.docx"
    secret.write_bytes(docx_of(*SECRET))
    where = ["--store", url, "--key", str(key)]
    assert main(["register", "add", str(secret), "--level", "绝密", *where]) == 0
    assert main(["register", "export", str(tmp_path / "out.json"), *where]) == 0
    sqlite = ["--store", str(tmp_path / "local.db"), "--key", str(key)]
    assert main(["register", "import", str(tmp_path / "out.json"), *sqlite]) == 0
    policy = tmp_path / "policy.toml"
    policy.write_text(f'[registry]\nstore = "local.db"\nkey = "{key}"\n', encoding="utf-8")
    assert registered(Scanner(load_config(policy)).scan_bytes(excerpt(200).encode(), "摘录.txt"))


def test_a_registration_in_postgresql_is_put_in_force_in_a_door_without_sighup(
    server: PrivatePostgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SQLite store is watched as a file; a door asks a store in PostgreSQL every REGISTRY_POLL_SECONDS whether a
    registration made a new generation since its rules were built, and reloads when one did."""
    monkeypatch.setattr(reloading, "REGISTRY_POLL_SECONDS", 0.2)
    url = server.create_database("watched")
    policy = tmp_path / "policy.toml"
    policy.write_text(f'[registry]\nstore = "{url}"\nkey = "registry.key"\n', encoding="utf-8")
    roster = tmp_path / "名单.csv"
    roster.write_text("\n".join(",".join(r) for r in [ROSTER_COLUMNS, *ROSTER]), encoding="utf-8")
    config = ["--config", str(policy)]
    assert main(["register", "table", str(roster), "--columns", "姓名,手机", "--level", "秘密", *config]) == 0
    rules = Rules(Scanner(load_config(policy)), load=lambda: load_config(policy))
    before = rules.fingerprint
    assert not registered(rules.scanner.scan_bytes(excerpt(200).encode(), "摘录.txt"))
    secret = tmp_path / "报告.docx"
    secret.write_bytes(docx_of(*SECRET))
    with rules.watching():
        assert main(["register", "add", str(secret), "--level", "机密", *config]) == 0
        deadline = time.monotonic() + 30
        while rules.fingerprint == before and time.monotonic() < deadline:
            time.sleep(0.05)
    assert registered(rules.scanner.scan_bytes(excerpt(200).encode(), "摘录.txt"))
    assert rules.last is not None and render(rules.last.why, "en") == f"{shown(url)} changed"
