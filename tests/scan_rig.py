"""What the tests of the scan index and the cluster share: `baomi scan` run as a user runs it, with the files it
opens counted by a Python audit hook (an open of a file is the one way to read it), and small shares made here."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scanner.index.reuse import RACY_NS
from tests.common import docx_of

# Runs the command line with a hook that counts the files below a folder opened by this process (--jobs 1 keeps
# every read in it; the folders opened to look their files up are not counted), and says how many on standard error
# as it exits.
_COUNTING = """
import atexit, os, sys
below = os.fsencode(sys.argv[1]).rstrip(b"/") + b"/"
opened = []
def hook(event, args):
    if event == "open" and isinstance(args[0], (str, bytes)) and os.fsencode(args[0]).startswith(below):
        if not os.path.isdir(args[0]):
            opened.append(args[0])
sys.addaudithook(hook)
atexit.register(lambda: sys.stderr.write(f"files read: {len(opened)}\\n"))
from scanner.cli import main
sys.exit(main(sys.argv[2:]))
"""
_READ = re.compile(r"^files read: (\d+)$", re.MULTILINE)


@dataclass
class Scan:
    status: int
    stdout: str
    stderr: str
    read: int = -1  # files opened below the counted folder

    @property
    def files(self) -> list[dict[str, Any]]:
        """The reports of a --format jsonl scan."""
        return [json.loads(line) for line in self.stdout.splitlines()]


def baomi_scan(*args: str | Path, count_below: Path | None = None, timeout: float = 300) -> Scan:
    """`baomi scan ARGS` in a process of its own; with `count_below`, the files it opened there are counted."""
    words = [str(a) for a in args]
    if count_below is None:
        command = [sys.executable, "-m", "scanner.cli", "scan", *words]
    else:
        command = [sys.executable, "-c", _COUNTING, str(count_below), "scan", *words]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env={**os.environ})
    found = _READ.search(done.stderr)
    return Scan(done.returncode, done.stdout, done.stderr, int(found.group(1)) if found else -1)


def verdicts(scan: Scan) -> dict[str, str]:
    return {f["path"]: f["verdict"] for f in scan.files}


def without_reused(files: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in f.items() if k != "reused"} for f in files]


MARKED = "机密★5年\n关于某型号试验的通知\n"
CLEAN = "关于举办春季运动会的通知\n请各部门于三月十日前报名。\n"


def make_tree(root: Path, files: int, documents: int = 0) -> list[Path]:
    """`files` small text files (every tenth marked) in folders of 20, and `documents` Word files (every fifth
    marked), each with content of its own; the paths, in no particular order."""
    made = []
    for n in range(files):
        path = root / f"folder{n // 20:03d}" / f"note{n:05d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text((MARKED if n % 10 == 0 else CLEAN) + f"编号 {n}\n", encoding="utf-8")
        made.append(path)
    for n in range(documents):
        path = root / "documents" / f"report{n:04d}.docx"
        path.parent.mkdir(parents=True, exist_ok=True)
        header = "秘密★1年" if n % 5 == 0 else None
        path.write_bytes(docx_of("关于年度工作的报告", f"第 {n} 号", header=header))
        made.append(path)
    return made


def settle(paths: list[Path]) -> None:
    """Wait until every file was last changed longer ago than the index's margin for a change it could miss, so that
    a scan can trust their metadata without reading them."""
    newest = max(max(p.stat().st_mtime_ns, p.stat().st_ctime_ns) for p in paths)
    wait = (newest + RACY_NS - time.time_ns()) / 1e9 + 0.05
    if wait > 0:
        time.sleep(wait)
