"""Shared fixtures: a scanner under the default policy, and the environment every test runs in."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner.engine import Scanner
from scanner.model import FileReport

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(available: bool, what: str) -> None:
    """Skip when a real component is missing, except in CI, where a missing component is a failure."""
    if not available:
        if in_ci():
            pytest.fail(f"{what} is required in CI (CI=true) but is not available")
        pytest.skip(f"{what} is not available")


@pytest.fixture(scope="session", autouse=True)
def _private_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep the automaton cache, the audit log and the registry of the test run out of the user's home."""
    state = tmp_path_factory.mktemp("state")
    saved = {k: os.environ.get(k) for k in ("BAOMI_CACHE", "BAOMI_AUDIT", "BAOMI_REGISTRY")}
    os.environ["BAOMI_CACHE"] = str(state / "cache")
    os.environ["BAOMI_AUDIT"] = str(state / "audit.db")
    os.environ["BAOMI_REGISTRY"] = str(state / "registry.db")
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def scanner() -> Scanner:
    return Scanner()


@pytest.fixture(scope="session")
def scan_text(scanner: Scanner):  # type: ignore[no-untyped-def]
    def scan(text: str, name: str = "note.txt", channel: str = "scan") -> FileReport:
        return scanner.scan_bytes(text.encode("utf-8"), name, channel)

    return scan
