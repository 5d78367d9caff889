"""`baomi scan --cluster` on a real Dask scheduler and two `dask worker` processes on loopback: the verdicts of a local
scan on the peer corpus, a worker killed mid-scan loses nothing, the scan index works as on one machine (with a
PostgreSQL index, the workers look the files up and find copies of what it holds), and a worker that cannot see the
paths is a clear error before anything is scanned."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from distributed import Client

from scanner.index.reuse import PASSING_PROBLEMS
from tests.common import free_port
from tests.conftest import PEER, require
from tests.dask_fixture import DaskCluster, dask_missing_reason
from tests.postgres_fixture import PrivatePostgres, postgres_missing_reason
from tests.scan_rig import baomi_scan, make_tree, verdicts

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    reason = dask_missing_reason()
    require(reason is None, reason or "Dask")
    with DaskCluster(tmp_path_factory.mktemp("dask"), workers=2) as cluster:
        yield cluster


def test_the_cluster_gives_the_verdicts_of_a_local_scan_on_the_peer_corpus(cluster: DaskCluster) -> None:
    require(PEER.is_dir(), f"the peer corpus at {PEER}")
    local = baomi_scan("--no-index", "--jobs", "2", "--format", "jsonl", PEER)
    remote = baomi_scan("--no-index", "--cluster", cluster.address, "--format", "jsonl", PEER)
    assert remote.status == local.status == 1, remote.stderr
    assert [f["path"] for f in remote.files] == [f["path"] for f in local.files]
    assert len(remote.files) >= 387
    pairs = zip(local.files, remote.files, strict=True)
    differ = [(here, there) for here, there in pairs if here["verdict"] != there["verdict"]]
    # A busy machine may run one file out of time in one scan and not the other; anything else differing is a fault.
    # (The errors' words are not compared: a PDF's problems can depend on what its parser process read before it:
    # pdfjs/poppler-395-0-fuzzed.pdf is "encrypted" after some files and "repaired" alone; blocked either way.)
    assert all(_out_of_luck(here) or _out_of_luck(there) for here, there in differ), differ
    assert len(differ) <= 3, differ


def _out_of_luck(report: dict[str, Any]) -> bool:
    """Its reading or checking ran out of time, or its parser died: what another try might not meet."""
    return any(error.partition(":")[0] in PASSING_PROBLEMS for error in report["errors"])


def test_the_scan_index_of_a_cluster_scan_is_kept_by_its_client(cluster: DaskCluster, tmp_path: Path) -> None:
    share, index = tmp_path / "share", tmp_path / "index.db"
    make_tree(share, 30, documents=2)
    first = baomi_scan("--cluster", cluster.address, "--index", index, "--format", "jsonl", share)
    again = baomi_scan("--cluster", cluster.address, "--index", index, "--format", "jsonl", share)
    assert verdicts(first) == verdicts(again) and all(f["reused"] for f in again.files)
    assert "32 of 32 reports reused" in again.stderr


def test_a_worker_killed_mid_scan_loses_nothing(tmp_path: Path) -> None:
    require(dask_missing_reason() is None, dask_missing_reason() or "Dask")
    share = tmp_path / "share"
    # More reports than the pipe to this test holds: the client cannot have fetched them all when the worker dies.
    made = make_tree(share, 200, documents=400)
    expected = {str(p): "block" if ("note" in p.name and int(p.stem[4:]) % 10 == 0) else "pass" for p in made}
    expected.update({str(p): "block" for p in made if p.suffix == ".docx" and int(p.stem[6:]) % 5 == 0})
    with DaskCluster(tmp_path / "dask", workers=2) as cluster:
        command = [sys.executable, "-m", "scanner.cli", "scan", "--no-index", "--cluster", cluster.address]
        with subprocess.Popen(
            [*command, "--format", "jsonl", str(share)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as scan:
            assert scan.stdout is not None and scan.stderr is not None
            lines = [scan.stdout.readline() for _line in range(20)]
            assert scan.poll() is None  # mid-scan
            cluster.workers[0].send_signal(signal.SIGKILL)
            lines += scan.stdout.readlines()
            errors = scan.stderr.read()
            status = scan.wait(timeout=300)
    assert status == 1, errors
    reports = [json.loads(line) for line in lines]
    assert {r["path"]: r["verdict"] for r in reports} == expected
    assert len(reports) == len(expected) and not any(r["errors"] for r in reports)
    # The scheduler saw work lost with the worker, and had it done again elsewhere.
    assert "which will be recomputed elsewhere" in (cluster.folder / "scheduler.log").read_text()


def test_a_worker_that_cannot_see_the_paths_is_a_clear_error(tmp_path: Path) -> None:
    require(dask_missing_reason() is None, dask_missing_reason() or "Dask")
    unshare = shutil.which("unshare")
    require(os.geteuid() == 0 and unshare is not None, "root and unshare(1), for a worker with mounts of its own")
    assert unshare is not None
    share = tmp_path / "share"
    make_tree(share, 3)
    # A worker on whose host the share is not mounted: an empty folder stands where it should be.
    hidden = [unshare, "--mount", "sh", "-c", f'mount -t tmpfs tmpfs "{share}" && exec "$0" "$@"']
    with DaskCluster(tmp_path / "dask", workers=1) as cluster:
        cluster.add_worker(wrapper=hidden)
        result = baomi_scan("--no-index", "--cluster", cluster.address, share)
    assert result.status == 2 and "Traceback" not in result.stderr
    assert "These workers cannot scan the paths" in result.stderr
    assert f"sees something else at {share}" in result.stderr


def test_a_scheduler_nobody_listens_at_is_a_clear_error(tmp_path: Path) -> None:
    require(dask_missing_reason() is None, dask_missing_reason() or "Dask")
    (tmp_path / "a.txt").write_text("正文", encoding="utf-8")
    result = baomi_scan("--no-index", "--cluster", f"tcp://127.0.0.1:{free_port()}", tmp_path / "a.txt")
    assert result.status == 2 and "Cannot reach the Dask scheduler" in result.stderr
    assert "Traceback" not in result.stderr


def test_workers_find_copies_of_what_a_postgresql_index_holds(cluster: DaskCluster, tmp_path: Path) -> None:
    reason = postgres_missing_reason()
    require(reason is None, reason or "PostgreSQL")
    share = tmp_path / "share"
    make_tree(share / "2025", 20)
    with PrivatePostgres() as server:
        url = server.create_database("cluster_index")
        baomi_scan("--cluster", cluster.address, "--index", url, share)
        shutil.copytree(share / "2025", share / "备份")
        again = baomi_scan("--cluster", cluster.address, "--index", url, "--format", "jsonl", share)
    assert all(f["reused"] for f in again.files) and len(again.files) == 40
    assert "20 copies of files already scanned); 0 files scanned" in again.stderr
    # The workers reach the index: they looked the files up, not the client.
    with Client(cluster.address, timeout=30) as client:
        prefixes = client.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.task_prefixes))
    assert "look_batch" in prefixes  # tasks of _look_batch
