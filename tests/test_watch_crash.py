"""Nothing lost, nothing twice: a watcher killed at any moment and started again leaves every file in exactly one
place and its decision in the audit log exactly once; SIGTERM finishes the file in hand and stops."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import sqlite3
from pathlib import Path

import pytest

from scanner.audit import AuditLog, Decision
from scanner.outbox.handles import ContentChanged, open_held
from scanner.outbox.journal import Journal
from scanner.outbox.mover import Mover
from tests.watch_rig import (
    FLAG_TEXT,
    PASS_TEXT,
    ROUTES,
    TEXTS,
    Gateway,
    baomi_watch,
    descendants,
    folder_elsewhere,
    wait_for,
)


@pytest.fixture
def gateway(tmp_path: Path) -> Gateway:
    return Gateway(tmp_path)


def batch(gateway: Gateway, count: int) -> dict[str, str]:
    """`count` files of every verdict in the outbox; name → the route it must end in."""
    expected = {f"{n:04d}.txt": ROUTES[n % 3] for n in range(count)}
    for rel, route in expected.items():
        gateway.drop(rel, TEXTS[route] + f"第{rel}号\n")
    return expected


def delivered_count(gateway: Gateway) -> int:
    return sum(len(gateway.files(route)) for route in ROUTES)


def assert_each_file_once(gateway: Gateway, expected: dict[str, str]) -> None:
    assert {rel: gateway.places(rel) for rel in expected} == {rel: [route] for rel, route in expected.items()}
    names = sorted(d.name for d in gateway.decisions())
    assert names == sorted(expected), "each file's decision is in the audit log exactly once"


def test_a_watcher_killed_mid_batch_and_restarted_accounts_for_every_file(gateway: Gateway) -> None:
    expected = batch(gateway, 600)
    for fraction in (0.2, 0.6):  # killed twice, each time in the middle of the batch
        watcher = baomi_watch(gateway, "--jobs", "2")
        enough = fraction * len(expected)
        wait_for(lambda: delivered_count(gateway) >= enough, timeout=60, what="some deliveries")  # noqa: B023
        helpers = descendants(watcher.pid)
        assert helpers, "the watcher scans in processes of its own"
        watcher.send_signal(signal.SIGKILL)
        assert watcher.wait(timeout=10) == -signal.SIGKILL
        assert delivered_count(gateway) < len(expected), "killed before the batch was done"
        wait_for(lambda: not any(Path(f"/proc/{p}").exists() for p in helpers), timeout=10, what="helpers to exit")  # noqa: B023
    finishing = baomi_watch(gateway, "--once")
    assert finishing.wait(timeout=60) == 0
    assert_each_file_once(gateway, expected)


def test_sigterm_finishes_the_files_in_hand_and_stops(gateway: Gateway) -> None:
    expected = batch(gateway, 300)
    watcher = baomi_watch(gateway, "--jobs", "2")
    wait_for(lambda: delivered_count(gateway) >= 30, timeout=60, what="some deliveries")
    watcher.send_signal(signal.SIGTERM)
    assert watcher.wait(timeout=10) == 0
    left = [rel for rel in expected if gateway.places(rel) == ["outbox"]]
    assert left, "stopped before the batch was done"
    done = {rel: route for rel, route in expected.items() if rel not in left}
    assert {rel: gateway.places(rel) for rel in done} == {rel: [route] for rel, route in done.items()}
    assert sorted(d.name for d in gateway.decisions()) == sorted(done)


# The mover killed (os._exit in a process of its own) at each step of a delivery, then recovered by a new process.
# (held?, readable?, the step it dies after): a released file has no verdict record, so no "sidecar" step; a file
# nobody may read is moved as it is (to quarantine), so no "copied" and "renamed" steps.
STEPS = [
    (held, readable, step)
    for held in (False, True)
    for readable in (True, False)
    for step in ("begun", "sidecar", "copied", "renamed", "moved", "recorded")
    if (held or step != "sidecar") and (readable or step not in ("copied", "renamed")) and (held or readable)
]


def deliver_and_die(gateway: Gateway, source: Path, folder: Path, step: str, held: bool, readable: bool = True) -> None:
    """A mover in a process of its own that dies at `step`, as a SIGKILL would leave it. The process is started by
    the forkserver: this one may have threads, and a fork would copy the locks they hold."""
    context = multiprocessing.get_context("forkserver")
    args = (gateway.journal_path, gateway.audit_path, source, folder, step, held, readable)
    child = context.Process(target=_die_at, args=args)
    child.start()
    child.join(timeout=60)
    assert child.exitcode in (0, 9)


def _die_at(journal: Path, audit: Path, source: Path, folder: Path, step: str, held: bool, readable: bool) -> None:
    mover = Mover(Journal(journal), AuditLog(audit), checkpoint=lambda s: os._exit(9) if s == step else None)
    deliver(mover, source, folder, held, readable)


def deliver(mover: Mover, source: Path, folder: Path, held: bool = False, readable: bool = True) -> Path:
    """Deliver `source` (a file at the top of its outbox) as the watcher does: held open, by its descriptor."""
    with open_held(source.parent, Path(source.name)) as handle:
        if not readable:  # as a file of mode 000 is held: by its folder and name alone
            assert handle.fd is not None
            os.close(handle.fd)
            handle.fd = None
        sha256 = sha256_of(source) if readable else ""
        decision = Decision("watch", "outbox", source.name, 1, sha256, "flag", folder.name)
        placed = mover.place(handle, folder, Path(source.name), decision, {"verdict": "flag"} if held else None)
        return mover.complete_one(placed)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def recover_and_finish(
    gateway: Gateway, source: Path, folder: Path, held: bool = False, readable: bool = True
) -> list[Decision]:
    mover = gateway.mover()
    mover.recover()
    assert mover.recover() == [], "recovery is idempotent"
    if source.exists():  # undone: the next pass of the watcher delivers it
        deliver(mover, source, folder, held, readable)
    return gateway.decisions()


@pytest.mark.parametrize(
    ("held", "readable", "step"),
    STEPS,
    ids=[f"{'held' if h else 'released'}-{'copy' if r else 'unreadable'}-{s}" for h, r, s in STEPS],
)
def test_a_delivery_killed_at_any_step_ends_in_one_place_with_one_decision(
    gateway: Gateway, step: str, held: bool, readable: bool
) -> None:
    source = gateway.drop("文件.txt", FLAG_TEXT)
    folder = gateway.folder("review" if held else "released")
    deliver_and_die(gateway, source, folder, step, held, readable)
    decisions = recover_and_finish(gateway, source, folder, held, readable)
    assert gateway.places("文件.txt") == [folder.name]
    assert (folder / "文件.txt").read_text(encoding="utf-8") == FLAG_TEXT
    assert len(decisions) == 1
    left = sorted(p.name for p in folder.iterdir() if p.name != "文件.txt")
    assert left == (["文件.txt.verdict.json"] if held else []), "no hidden temporary left"
    assert sorted(p.name for p in gateway.outbox.iterdir()) == []


@pytest.mark.parametrize("step", ["begun", "copied", "renamed", "moved", "recorded"])
def test_a_copy_across_file_systems_killed_at_any_step_ends_in_one_place(gateway: Gateway, step: str) -> None:
    with folder_elsewhere(gateway, step) as folder:
        source = gateway.drop("跨盘.txt", PASS_TEXT)
        deliver_and_die(gateway, source, folder, step, held=False)
        decisions = recover_and_finish(gateway, source, folder)
        assert [p.name for p in folder.iterdir()] == ["跨盘.txt"], "one copy, no hidden temporary left"
        assert (folder / "跨盘.txt").read_text(encoding="utf-8") == PASS_TEXT
        assert not source.exists()
        assert len(decisions) == 1


def test_an_undone_move_leaves_another_writers_record_alone(gateway: Gateway) -> None:
    """A verdict record that appeared under the chosen name meanwhile is not ours: recovery must not remove it."""
    source = gateway.drop("纪要.txt", FLAG_TEXT)
    folder = gateway.folder("review")
    deliver_and_die(gateway, source, folder, "begun", held=True)
    theirs = folder / "纪要.txt.verdict.json"
    theirs.write_text('{"verdict": "flag", "move": "someone else"}', encoding="utf-8")
    gateway.mover().recover()
    assert theirs.read_text(encoding="utf-8") == '{"verdict": "flag", "move": "someone else"}'
    assert gateway.places("纪要.txt") == ["outbox"]


def test_the_watcher_says_in_its_log_what_recovery_did(gateway: Gateway) -> None:
    source = gateway.drop("日志.txt", PASS_TEXT)
    deliver_and_die(gateway, source, gateway.folder("released"), "moved", held=False)
    assert baomi_watch(gateway, "--once").wait(timeout=30) == 0
    assert "finished an interrupted move" in (gateway.root / "watch.log").read_text(encoding="utf-8")
    assert len(gateway.decisions()) == 1


class LockedOnce(AuditLog):
    """An audit log that is locked (another process holding it too long) the first time a decision comes."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.refused = False

    def record(self, decision: Decision) -> int:
        if not self.refused:
            self.refused = True
            raise sqlite3.OperationalError("database is locked")
        return super().record(decision)


def test_a_decision_the_audit_log_refused_is_recorded_by_the_next_recovery(gateway: Gateway) -> None:
    source = gateway.drop("锁.txt", PASS_TEXT)
    mover = Mover(Journal(gateway.journal_path), LockedOnce(gateway.audit_path))
    deliver(mover, source, gateway.folder("released"))
    assert gateway.places("锁.txt") == ["released"] and gateway.decisions() == []
    assert len(mover.recover()) == 1
    assert [d.name for d in gateway.decisions()] == ["锁.txt"]
    assert mover.recover() == []


def test_a_file_changed_since_its_scan_is_not_delivered_and_stays(gateway: Gateway) -> None:
    source = gateway.drop("改.txt", PASS_TEXT)
    checked = hashlib.sha256(b"the content that was scanned").hexdigest()
    decision = Decision("watch", "outbox", "改.txt", 1, checked, "pass", "released")
    with open_held(gateway.outbox, Path("改.txt")) as handle, pytest.raises(ContentChanged):
        gateway.mover().place(handle, gateway.folder("released"), Path("改.txt"), decision)
    assert list(gateway.folder("released").iterdir()) == []
    assert source.read_text(encoding="utf-8") == PASS_TEXT
    assert gateway.decisions() == []
