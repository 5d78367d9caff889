"""The registry in PostgreSQL, where the scan index will live: the same commands and the same findings as with a
SQLite file, against a real server the test starts (tests/postgres_fixture.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner.cli import main
from scanner.engine import Scanner
from scanner.policy import load_config
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
