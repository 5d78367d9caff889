"""Every reason a file can be unscannable has a title and advice for readers, and the README's troubleshooting
table explains each of them."""

from __future__ import annotations

import re
from pathlib import Path

from scanner.titles import PROBLEMS, problem_reason

ROOT = Path(__file__).resolve().parent.parent
# Where the code names a Problem's reason: Unscannable("corrupt", …), ctx.problem("image", …), Problem("unreadable",
# …), WorkerFailed("crash", …).
RAISED = re.compile(r"\b(?:Unscannable|Problem|problem|WorkerFailed)\(\s*\"([a-z_-]+)\"")


def reasons_in_the_code() -> set[str]:
    return {m for path in (ROOT / "scanner").rglob("*.py") for m in RAISED.findall(path.read_text(encoding="utf-8"))}


def test_every_reason_the_code_gives_has_a_title_and_advice() -> None:
    found = reasons_in_the_code()
    assert {"encrypted", "corrupt", "max_ratio", "unreadable", "internal-error"} <= found
    assert found - set(PROBLEMS) == set()


def test_the_readmes_troubleshooting_table_explains_every_reason() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8").split("## Troubleshooting", 1)[1]
    listed = set(re.findall(r"^\| `([a-z_-]+)` \|", readme, flags=re.MULTILINE))
    assert listed == set(PROBLEMS)


def test_the_reason_of_a_finding_comes_from_its_rule() -> None:
    assert problem_reason("unscannable.encrypted") == "encrypted"
    assert problem_reason("image.not-examined") == "image"
    assert problem_reason("damaged.repaired") == "repaired"
