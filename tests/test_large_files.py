"""One large text file costs memory a small multiple of its size, and work linear in it: the tests measure the memory
Python allocates (tracemalloc) and the work detection counts, never a time."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from scanner.detect import Detectors, Work
from scanner.dictionaries import load_dictionaries
from scanner.engine import Scanner
from scanner.index.reuse import Examiner, Job
from scanner.model import FileReport, Segment
from scanner.policy import load_config

# Prose the way laws are written: articles opened with an ideographic space (a filler normalising cuts), a mention of
# 秘密 on most lines, a Traditional character to fold, digits, and now and then a mark that counts.
ARTICLE = (
    "第十二条　机关、单位应当加强对国家秘密载体的管理，任何组织和个人不得有下列行为：非法获取、持有國家秘密载体。\n"
    "（一）买卖、转送或者私自销毁国家秘密载体；电话 010-6520 1234，编号 2024-117。\n"
)
MARK = "机密★5年\n"


def prose(size: int) -> str:
    """About `size` bytes of UTF-8: articles, a mark every hundred of them."""
    block = ARTICLE * 100 + MARK
    return block * (size // len(block.encode()) + 1)


def peak_of_scanning(scan: Callable[[], FileReport | None]) -> int:
    scan()  # once before, so what is loaded on first use is not counted
    tracemalloc.start()
    try:
        report = scan()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report is not None and "mark.state-secret" in report.rules
    return peak


@pytest.mark.parametrize("size", [1 << 17, 1 << 19])
def test_a_large_text_file_costs_at_most_four_times_its_size_in_memory(tmp_path: Path, size: int) -> None:
    """What it costs: its bytes while they are decoded (in pieces), its text, the text folded (it holds a Traditional
    character), the normalised text and the pieces it is made of, the code units the matcher reads, and the hits (one
    every 35 characters here). Each copy is let go once the next step has what it needs; 8.9 times before."""
    path = tmp_path / "large.txt"
    path.write_text(prose(size), encoding="utf-8")
    scanner = Scanner()
    peak = peak_of_scanning(lambda: scanner.scan_path(path))
    assert peak <= 4 * path.stat().st_size, peak / path.stat().st_size


def test_a_large_text_file_costs_as_little_where_a_scan_of_folders_reads_it(tmp_path: Path) -> None:
    """`baomi scan` reads each file itself, to look its content up in the scan index, then hands its bytes over to
    the engine, which lets them go once they are extracted, as it does with a file it reads itself."""
    path = tmp_path / "large.txt"
    path.write_text(prose(1 << 19), encoding="utf-8")
    examiner = Examiner(Scanner(), "scan")
    peak = peak_of_scanning(lambda: examiner.examine(Job(str(path), str(path))).report)
    assert peak <= 4 * path.stat().st_size, peak / path.stat().st_size


def test_detection_work_grows_with_the_text_and_no_faster() -> None:
    config = load_config()
    detectors = Detectors(load_dictionaries(config))

    def work_for(text: str) -> Work:
        work = Work()
        detectors.run([Segment(text)], config.channel("scan"), work=work)
        return work

    small, large = work_for(prose(1 << 18)), work_for(prose(1 << 21))
    assert large.candidates <= 8.5 * small.candidates
    assert large.characters <= 8.5 * small.characters
