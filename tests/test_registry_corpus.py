"""Registered laws as if they were secret (a reduced run of bench/registry_corpus.py, whose full figures are in the
issue's report): excerpts of them are found, edited or not; the other laws, declared public, are not flagged."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.registry_corpus import LAWS, Office, flagged, laws, recall
from tests.conftest import require

REGISTERED = 200
SCANNED = 150


@pytest.fixture(scope="module")
def corpus() -> list[Path]:
    require(LAWS.is_dir(), f"the laws corpus at {LAWS}")
    return laws()


def test_excerpts_of_registered_laws_are_found_with_up_to_a_tenth_edited(corpus: list[Path], tmp_path: Path) -> None:
    office = Office(tmp_path)
    office.register(corpus[:REGISTERED], [])
    rate, missed = recall(office, corpus[:REGISTERED], 200)
    assert rate >= 0.95, missed


def test_other_laws_declared_public_are_not_flagged(corpus: list[Path], tmp_path: Path) -> None:
    others = corpus[REGISTERED : REGISTERED + SCANNED]
    office = Office(tmp_path)
    office.register(corpus[:REGISTERED], others)
    assert flagged(office, others) == []
