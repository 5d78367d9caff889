"""Precision on real prose: regulations and laws discuss secrets on every page and carry no mark.

None may be blocked, and at most half a per cent flagged (a handling phrase or a record named in a case or a law).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner.engine import Scanner
from tests.conftest import SHARED, require

SEED = SHARED / "seed"
LAWS = SHARED / "corpora" / "laws"


def _files(folder: Path) -> list[Path]:
    require(folder.is_dir(), f"the corpus {folder}")
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_the_seed_regulations_are_not_blocked(scanner: Scanner) -> None:
    for path in _files(SEED):
        report = scanner.scan_path(path)
        assert str(report.verdict) == "pass", (path.name, [f.to_dict() for f in report.findings])


@pytest.mark.slow
def test_no_law_is_blocked_and_few_are_flagged(scanner: Scanner) -> None:
    files = _files(LAWS)
    assert len(files) > 1500
    blocked, flagged = [], []
    for path in files:
        report = scanner.scan_path(path)
        if str(report.verdict) == "block":
            blocked.append((str(path), report.rules))
        elif str(report.verdict) == "flag":
            flagged.append(path)
    assert blocked == []
    assert len(flagged) / len(files) <= 0.005, [str(p.relative_to(LAWS)) for p in flagged]


@pytest.mark.slow
def test_laws_mention_every_mark_word(scanner: Scanner) -> None:
    """The precision test means something only if the corpus really talks about 绝密, 机密, 秘密 and 工作秘密."""
    text = "".join(p.read_text(encoding="utf-8", errors="replace") for p in _files(LAWS)[:400])
    for word in ("绝密", "机密", "秘密", "商业秘密", "内部"):
        assert word in text
