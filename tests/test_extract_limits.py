"""Limits and isolation: hostile files end quickly as problems named for the limit, and a parser's crash, hang or
memory blow-up costs one file, never the scanner."""

from __future__ import annotations

import io
import multiprocessing
import os
import struct
import subprocess
import sys
import threading
import time
import zipfile

import pytest

from scanner.extract import Limits, extract, worker
from scanner.extract.worker import WorkerFailed
from tests.conftest import SHARED, require
from tests.extract_fixtures import MARK, reasons, the_one, zip_of

PEER = SHARED / "corpora" / "peer"


def test_a_member_inflating_past_the_ratio_is_max_ratio() -> None:
    bomb = zip_of({"zeros.txt": b"\x00" * (64 << 20)})  # 64 MB of zeros in 64 kB
    started = time.monotonic()
    extraction = extract(bomb, "bomb.zip")
    assert reasons(extraction) == {"max_ratio"}
    assert time.monotonic() - started < 5


def test_decompressed_bytes_past_the_total_are_max_total_bytes() -> None:
    data = zip_of({f"{n}.txt": bytes(range(256)) * 8 for n in range(4)})
    assert "max_total_bytes" in reasons(extract(data, "many.zip", Limits(max_total_bytes=5000)))


def test_more_members_than_allowed_is_max_members_and_the_first_are_read() -> None:
    data = zip_of({f"{n}.txt": f"{MARK}{n}".encode() for n in range(5)})
    extraction = extract(data, "many.zip", Limits(max_members=3))
    assert reasons(extraction) == {"max_members"}
    assert the_one(extraction, f"{MARK}0").part == "0.txt!body"


def test_nesting_past_the_depth_is_max_depth() -> None:
    data = MARK.encode()
    for level in range(4):
        data = zip_of({f"level{level}.zip" if level else "通知.txt": data})
    assert reasons(extract(data, "deep.zip", Limits(max_depth=2))) == {"max_depth"}


def test_overlapping_zip_entries_are_refused_as_a_bomb() -> None:
    # Fifield's zip bombs point many directory entries at the same compressed bytes: copy the one entry's
    # central-directory record under a second name.
    data = zip_of({"a.txt": b"\x00" * 100_000})
    end = data.rindex(b"PK\x05\x06")
    entries, size, offset = struct.unpack_from("<HIL", data, end + 10)
    record = data[offset : offset + size]
    twin = record.replace(b"a.txt", b"b.txt")
    eocd = bytearray(data[end:])
    struct.pack_into("<HHIL", eocd, 8, entries * 2, entries * 2, size * 2, offset)
    bomb = data[:offset] + record + twin + bytes(eocd)
    assert len(zipfile.ZipFile(io.BytesIO(bomb)).infolist()) == 2
    extraction = extract(bomb, "overlap.zip")
    assert reasons(extraction) == {"corrupt"}
    assert "overlap" in extraction.problems[0].english


def test_xml_entity_declarations_are_refused() -> None:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "haha"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0">&b;'
        b"</office:document-content>"
    )
    odt = zip_of({"mimetype": b"application/vnd.oasis.opendocument.text", "content.xml": laughs})
    assert reasons(extract(odt, "laughs.odt")) == {"xml_entities"}


def test_a_file_out_of_time_is_seconds() -> None:
    assert reasons(extract(zip_of({"a.txt": b"x"}), "slow.zip", Limits(seconds=1e-9))) == {"seconds"}


@pytest.mark.parametrize("name", ["droste.zip", "quine.gz"])
def test_an_archive_that_contains_itself_ends_at_once(name: str) -> None:
    path = PEER / "tika" / "tika-parser-pkg-module" / name
    require(path.exists(), f"the peer corpus at {PEER}")
    started = time.monotonic()
    assert "max_depth" in reasons(extract(path.read_bytes(), name))
    assert time.monotonic() - started < 5


def test_a_hanging_parser_is_stopped_and_its_file_gets_seconds() -> None:
    started = time.monotonic()
    with pytest.raises(WorkerFailed) as failed:
        worker.call(Limits(seconds=0.5), "time:sleep", 60)
    assert failed.value.reason == "seconds"
    assert time.monotonic() - started < 5


def test_a_parser_that_crashes_costs_one_file_and_the_next_file_is_read() -> None:
    with pytest.raises(WorkerFailed) as failed:
        worker.call(Limits(), "os:abort")
    assert failed.value.reason == "crash"
    assert the_one(extract(zip_of({"a.txt": MARK.encode()}), "next.zip"), MARK).part == "a.txt!body"


def test_a_parser_past_the_memory_limit_is_memory_mb() -> None:
    with pytest.raises(WorkerFailed) as failed:
        worker.call(Limits(memory_mb=300), "builtins:bytearray", 2 << 30)
    assert failed.value.reason == "memory_mb"


def test_a_worker_failure_is_the_files_problem() -> None:
    extraction = worker.run_isolated(b"data", "x.bin", Limits(seconds=1e-9), False, "zip")
    assert reasons(extraction) == {"seconds"}


def test_threads_share_the_workers_safely() -> None:
    results: dict[int, str] = {}

    def scan(n: int) -> None:
        results[n] = the_one(extract(zip_of({f"{n}.txt": f"{MARK}{n}".encode()}), f"{n}.zip"), MARK).part

    threads = [threading.Thread(target=scan, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == {n: f"{n}.txt!body" for n in range(8)}


def _extract_part(n: int) -> str:
    return the_one(extract(zip_of({f"{n}.txt": f"{MARK}{n}".encode()}), f"{n}.zip"), MARK).part


def test_forked_processes_get_workers_of_their_own() -> None:
    _extract_part(0)  # this process now has a worker, which the forked children must not share
    with multiprocessing.get_context("fork").Pool(2) as pool:
        assert pool.map(_extract_part, range(4)) == [f"{n}.txt!body" for n in range(4)]
    assert _extract_part(9) == "9.txt!body"


def test_a_busy_worker_exits_when_its_scanner_dies() -> None:
    program = (
        "import os, threading, time\n"
        "from scanner.extract import Limits, worker\n"
        "busy = worker.Worker()\n"
        "call = (busy.call, ('time:sleep', (60,), Limits(seconds=120)))\n"
        "threading.Thread(target=call[0], args=call[1], daemon=True).start()\n"
        "time.sleep(0.5)\n"
        "print(busy.proc.pid, flush=True)\n"
        "os._exit(0)\n"  # no clean-up: as if the scanner were killed mid-file
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True)
    pid = int(done.stdout)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _running(pid):
        time.sleep(0.2)
    assert not _running(pid)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_callers_beyond_the_worker_cap_wait_instead_of_starting_more(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "MAX_WORKERS", 2)
    pool = worker.Pool()
    threads = [threading.Thread(target=pool.call, args=("time:sleep", (0.5,), Limits())) for _ in range(4)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert time.monotonic() - started >= 1.0  # two rounds of two
    assert len(pool.idle) == 2
    pool.shutdown()
