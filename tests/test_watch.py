"""baomi watch with real watchdog observers on temporary folders: each file, once completely written, ends in exactly
one of released/, review/ or quarantine/, with a verdict record beside a held file and a decision in the audit log."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from scanner.cli import main
from scanner.config import WatchTable
from scanner.engine import Scanner
from scanner.model import FileReport
from scanner.outbox.handles import open_held
from scanner.outbox.layout import ACTIONS, is_temporary
from scanner.outbox.tracking import someone_writing
from scanner.policy import load_config
from tests.conftest import require
from tests.watch_rig import (
    BLOCK_TEXT,
    FLAG_TEXT,
    PASS_TEXT,
    ROUTES,
    TEXTS,
    Gateway,
    baomi_watch,
    folder_elsewhere,
    random_bytes,
    wait_for,
    watching,
)


@pytest.fixture
def gateway(tmp_path: Path) -> Gateway:
    return Gateway(tmp_path)


def delivered(gateway: Gateway, rel: str) -> bool:
    return gateway.places(rel) not in ([], ["outbox"])


@pytest.mark.parametrize(
    ("content", "route", "verdict"),
    [
        (PASS_TEXT, "released", "pass"),
        (FLAG_TEXT, "review", "flag"),
        (BLOCK_TEXT, "quarantine", "block"),
        (random_bytes(), "quarantine", "block"),
    ],
    ids=["pass", "flag", "block", "unscannable"],
)
def test_each_verdict_sends_the_file_to_its_folder_and_the_audit_log(
    gateway: Gateway, scanner: Scanner, content: str | bytes, route: str, verdict: str
) -> None:
    with watching(gateway, scanner):
        gateway.drop("报告.txt", content)
        wait_for(lambda: delivered(gateway, "报告.txt"))
    assert gateway.places("报告.txt") == [route]
    [decision] = gateway.decisions()
    body = content.encode() if isinstance(content, str) else content
    assert (decision.verdict, decision.action, decision.channel) == (verdict, ACTIONS[route], "watch")
    assert (decision.name, decision.size, decision.source) == ("报告.txt", len(body), str(gateway.outbox))
    assert decision.sha256 and decision.extra["destination"] == str(gateway.folder(route) / "报告.txt")


def test_a_held_file_has_its_verdict_record_beside_it(gateway: Gateway, scanner: Scanner) -> None:
    with watching(gateway, scanner):
        gateway.drop("纪要.txt", FLAG_TEXT)
        wait_for(lambda: delivered(gateway, "纪要.txt"))
    record = json.loads((gateway.folder("review") / "纪要.txt.verdict.json").read_text(encoding="utf-8"))
    assert (record["verdict"], record["action"], record["file"]) == ("flag", "held", "纪要.txt")
    assert record["rules"] == ["mark.internal"]
    assert all(len(f["context"]) <= 60 for f in record["findings"])


def test_a_released_file_has_no_verdict_record_for_the_uploader_to_pick_up(gateway: Gateway, scanner: Scanner) -> None:
    with watching(gateway, scanner):
        gateway.drop("通知.txt", PASS_TEXT)
        wait_for(lambda: delivered(gateway, "通知.txt"))
    assert sorted(p.name for p in gateway.folder("released").iterdir()) == ["通知.txt"]


def test_quarantine_folders_are_private_to_the_service(gateway: Gateway) -> None:
    os.chmod(gateway.folder("quarantine"), 0o755)
    gateway.drop("项目/密件.txt", BLOCK_TEXT)
    assert main(["watch", str(gateway.outbox), *gateway.args(), "--once", "--settle", "0", "--quiet"]) == 0
    assert gateway.places("项目/密件.txt") == ["quarantine"]
    for folder in (gateway.folder("quarantine"), gateway.folder("quarantine") / "项目"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_a_file_written_slowly_in_pieces_is_scanned_only_when_complete(gateway: Gateway, scanner: Scanner) -> None:
    """The mark comes in the last piece; the pauses are longer than the settle time, so only the open-for-writing
    check (a read lease) and the close-after-write event keep the file from leaving half-written."""
    probe = gateway.drop("probe.bin", b"")
    with open_held(gateway.outbox, Path("probe.bin")) as handle:
        assert handle.fd is not None
        leases = someone_writing(handle.fd) is not None
    # No CI machine can be given leases its file system refuses: a writer pausing longer than settle goes unseen there.
    require(leases, "file leases on the test folder's file system", needed_in_ci=False)
    probe.unlink()
    with watching(gateway, scanner, settle=0.3):
        with (gateway.outbox / "慢.txt").open("w", encoding="utf-8") as fh:
            for piece in (PASS_TEXT, PASS_TEXT, "\n" + BLOCK_TEXT):
                fh.write(piece)
                fh.flush()
                time.sleep(0.8)
        wait_for(lambda: delivered(gateway, "慢.txt"))
    assert gateway.places("慢.txt") == ["quarantine"]
    assert len(gateway.decisions()) == 1


def test_an_atomic_rename_save_is_scanned_under_its_final_name(gateway: Gateway, scanner: Scanner) -> None:
    with watching(gateway, scanner):
        temp = gateway.drop("方案.docx.tmp", BLOCK_TEXT)
        time.sleep(0.8)
        assert gateway.places("方案.docx.tmp") == ["outbox"]
        os.rename(temp, gateway.outbox / "方案.docx")
        wait_for(lambda: delivered(gateway, "方案.docx"))
    assert gateway.places("方案.docx") == ["quarantine"]
    assert [d.name for d in gateway.decisions()] == ["方案.docx"]


def test_a_file_moved_in_from_elsewhere_is_complete_and_does_not_wait_to_settle(
    gateway: Gateway, scanner: Scanner, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("desktop") / "报告.txt"
    elsewhere.write_text(BLOCK_TEXT, encoding="utf-8")
    with watching(gateway, scanner, settle=30):
        os.rename(elsewhere, gateway.outbox / "报告.txt")
        wait_for(lambda: delivered(gateway, "报告.txt"), timeout=5)
    assert gateway.places("报告.txt") == ["quarantine"]


def test_a_file_that_appears_without_being_closed_is_delivered_once_it_settles(
    gateway: Gateway, scanner: Scanner, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A hard link makes a complete file appear with no close-after-write: the size/time check lets it go."""
    original = tmp_path_factory.mktemp("share") / "通知.txt"
    original.write_text(PASS_TEXT, encoding="utf-8")
    os.utime(original, (time.time(), time.time()))
    with watching(gateway, scanner, settle=0.4):
        os.link(original, gateway.outbox / "通知.txt")
        wait_for(lambda: delivered(gateway, "通知.txt"), timeout=5)
    assert gateway.places("通知.txt") == ["released"]


@pytest.mark.parametrize("name", ["~$报告.docx", "下载.part", ".报告.txt.swp", "视频.crdownload", ".~lock.表.xlsx#"])
def test_temporary_names_wait_for_their_final_name(gateway: Gateway, scanner: Scanner, name: str) -> None:
    assert is_temporary(name)
    with watching(gateway, scanner, settle=0.2):
        gateway.drop(name, PASS_TEXT)
        gateway.drop("after.txt", PASS_TEXT)
        wait_for(lambda: delivered(gateway, "after.txt"))
        time.sleep(0.5)
    assert gateway.places(name) == ["outbox"]


def test_a_name_already_taken_gets_a_suffix_and_nothing_is_overwritten(gateway: Gateway, scanner: Scanner) -> None:
    (gateway.folder("released") / "报告.txt").write_text("an earlier release", encoding="utf-8")
    (gateway.folder("released") / "报告 (2).txt").write_text("another one", encoding="utf-8")
    with watching(gateway, scanner):
        gateway.drop("报告.txt", PASS_TEXT)
        wait_for(lambda: (gateway.folder("released") / "报告 (3).txt").exists())
    assert (gateway.folder("released") / "报告.txt").read_text(encoding="utf-8") == "an earlier release"
    assert (gateway.folder("released") / "报告 (2).txt").read_text(encoding="utf-8") == "another one"
    assert (gateway.folder("released") / "报告 (3).txt").read_text(encoding="utf-8") == PASS_TEXT


def test_a_held_name_taken_keeps_both_files_and_both_records(gateway: Gateway, scanner: Scanner) -> None:
    with watching(gateway, scanner):
        gateway.drop("纪要.txt", FLAG_TEXT)
        wait_for(lambda: delivered(gateway, "纪要.txt"))
        gateway.drop("纪要.txt", FLAG_TEXT + "第二版\n")
        wait_for(lambda: (gateway.folder("review") / "纪要 (2).txt.verdict.json").exists())
    assert gateway.files("review") == ["纪要 (2).txt", "纪要.txt"]
    assert (gateway.folder("review") / "纪要.txt.verdict.json").exists()


def test_a_dropped_folder_is_delivered_file_by_file_keeping_its_layout(
    gateway: Gateway, scanner: Scanner, tmp_path_factory: pytest.TempPathFactory
) -> None:
    staging = tmp_path_factory.mktemp("staging") / "项目甲"
    for rel, text in {"说明.txt": PASS_TEXT, "附件/纪要.txt": FLAG_TEXT, "附件/深/密件.txt": BLOCK_TEXT}.items():
        (staging / rel).parent.mkdir(parents=True, exist_ok=True)
        (staging / rel).write_text(text, encoding="utf-8")
    target = gateway.outbox / "项目甲"
    with watching(gateway, scanner):
        os.rename(staging, target)
        wait_for(lambda: len(gateway.decisions()) == 3)
    assert gateway.files("released") == ["项目甲/说明.txt"]
    assert gateway.files("review") == ["项目甲/附件/纪要.txt"]
    assert gateway.files("quarantine") == ["项目甲/附件/深/密件.txt"]


def test_files_already_in_the_outbox_are_delivered_at_start(gateway: Gateway, scanner: Scanner) -> None:
    for route, text in TEXTS.items():
        gateway.drop(f"{route}.txt", text)
    with watching(gateway, scanner):
        wait_for(lambda: len(gateway.decisions()) == 3)
    assert [gateway.places(f"{route}.txt") for route in ROUTES] == [[route] for route in ROUTES]


class EditedAfterScan(Scanner):
    """A person saves a new version of `name` just after baomi scanned the old one, before it is released."""

    def __init__(self, scanner: Scanner, path: Path, new_text: str) -> None:
        self.__dict__.update(scanner.__dict__)
        self.path, self.new_text, self.edited = path, new_text, threading.Event()

    def scan_bytes(self, data: bytes, name: str, channel: str = "scan") -> FileReport:
        report = super().scan_bytes(data, name, channel)
        if not self.edited.is_set():
            self.path.write_text(self.new_text, encoding="utf-8")
            self.edited.set()
        return report


def test_a_file_changed_between_scan_and_release_is_scanned_again(gateway: Gateway, scanner: Scanner) -> None:
    path = gateway.outbox / "草稿.txt"
    editing = EditedAfterScan(scanner, path, BLOCK_TEXT)
    with watching(gateway, editing):
        path.write_text(PASS_TEXT, encoding="utf-8")
        wait_for(lambda: delivered(gateway, "草稿.txt"))
    assert editing.edited.is_set()
    assert gateway.places("草稿.txt") == ["quarantine"]
    [decision] = gateway.decisions()
    assert decision.verdict == "block"


def test_five_hundred_mixed_files_dropped_at_once_each_end_in_the_right_place_once(
    gateway: Gateway, scanner: Scanner
) -> None:
    expected = {f"批次/{n:03d}.txt": ROUTES[n % 3] for n in range(500)}
    with watching(gateway, scanner, jobs=4):
        for rel, route in expected.items():
            gateway.drop(rel, TEXTS[route] + f"第{rel}号\n")
        wait_for(lambda: len(gateway.files("outbox")) == 0, timeout=60, what="the outbox to empty")
    assert {rel: gateway.places(rel) for rel in expected} == {rel: [route] for rel, route in expected.items()}
    decisions = gateway.decisions()
    assert sorted(d.name for d in decisions) == sorted(expected)
    assert all(d.action == ACTIONS[expected[d.name]] for d in decisions)


def test_names_that_are_not_utf8_are_delivered_and_logged_readably(gateway: Gateway, scanner: Scanner) -> None:
    name = "报告.txt".encode("gbk")  # a GBK name, as old Windows shares and zip tools leave them
    with watching(gateway, scanner):
        with open(os.fsencode(gateway.outbox) + b"/" + name, "wb") as fh:
            fh.write(PASS_TEXT.encode())
        wait_for(lambda: os.path.exists(os.fsencode(gateway.folder("released")) + b"/" + name))
    [decision] = gateway.decisions()
    assert decision.name == "报告.txt"


def test_links_and_pipes_are_left_where_they_are_and_the_watcher_goes_on(gateway: Gateway, scanner: Scanner) -> None:
    with watching(gateway, scanner, settle=0.2):
        os.mkfifo(gateway.outbox / "管道")
        os.symlink("/etc/passwd", gateway.outbox / "链接.txt")
        time.sleep(0.6)
        gateway.drop("之后.txt", PASS_TEXT)
        wait_for(lambda: delivered(gateway, "之后.txt"))
    assert gateway.places("之后.txt") == ["released"]
    assert sorted(p.name for p in gateway.outbox.iterdir()) == ["管道", "链接.txt"]


def test_a_file_that_cannot_be_moved_stays_in_the_outbox_and_the_watcher_goes_on(
    gateway: Gateway, scanner: Scanner
) -> None:
    (gateway.folder("released") / "部门").write_text("a file where a folder should be", encoding="utf-8")
    with watching(gateway, scanner, settle=0.2):
        gateway.drop("部门/报告.txt", PASS_TEXT)
        time.sleep(0.5)
        gateway.drop("其他.txt", PASS_TEXT)
        wait_for(lambda: delivered(gateway, "其他.txt"))
    assert gateway.places("部门/报告.txt") == ["outbox"]
    assert [d.name for d in gateway.decisions()] == ["其他.txt"]


def test_the_example_configuration_names_its_outboxes_and_policy() -> None:
    example = Path(__file__).parents[1] / "hooks" / "watch.example.toml"
    outboxes = load_config(example).table(WatchTable).outbox
    assert [(o.path.name, o.channel) for o in outboxes] == [("to-send", "watch"), ("to-send", "mail")]
    assert all(o.quarantine.name == "quarantine" for o in outboxes)


def test_an_unknown_watch_setting_is_a_configuration_error(
    gateway: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    config = gateway.root / "watch.toml"
    config.write_text("[watch]\nsetle = 1\n", encoding="utf-8")
    assert main(["watch", str(gateway.outbox), *gateway.args(), "--config", str(config), "--once"]) == 2
    assert f"{config}: [watch] has an unknown key “setle”. Did you mean “settle”?" in capsys.readouterr().err


def test_a_file_over_the_size_limit_is_quarantined_once_with_its_whole_hash(gateway: Gateway) -> None:
    config = gateway.root / "small.toml"
    config.write_text("[limits]\nmax_bytes = 100\n", encoding="utf-8")
    big = (PASS_TEXT * 20).encode("utf-8")
    with watching(gateway, Scanner(load_config(config))):
        gateway.drop("大文件.txt", big)
        wait_for(lambda: delivered(gateway, "大文件.txt"))
        time.sleep(0.3)
    assert gateway.places("大文件.txt") == ["quarantine"]
    [decision] = gateway.decisions()
    assert (decision.size, decision.sha256) == (len(big), hashlib.sha256(big).hexdigest())
    assert decision.rules == ["unscannable.max_bytes"]


def test_once_delivers_what_is_there_and_logs_to_the_file_given(gateway: Gateway) -> None:
    gateway.drop("通知.txt", PASS_TEXT)
    log = gateway.root / "watch.log"
    assert main(["watch", str(gateway.outbox), *gateway.args(), "--once", "--settle", "0", "--log", str(log)]) == 0
    assert gateway.places("通知.txt") == ["released"]
    assert "pass " in log.read_text(encoding="utf-8") and "通知.txt" in log.read_text(encoding="utf-8")


def test_a_release_folder_on_another_file_system_gets_a_complete_copy_and_the_outbox_none(gateway: Gateway) -> None:
    with folder_elsewhere(gateway, "released") as released:
        gateway.drop("跨盘.txt", PASS_TEXT)
        argv = ["watch", str(gateway.outbox), *gateway.args(), "--released", str(released), "--once", "--settle", "0"]
        assert main(argv) == 0
        assert [p.name for p in released.iterdir()] == ["跨盘.txt"]
        assert (released / "跨盘.txt").read_text(encoding="utf-8") == PASS_TEXT
        assert gateway.places("跨盘.txt") == []


def test_a_file_nobody_may_read_goes_to_quarantine_as_unscannable(gateway: Gateway) -> None:
    path = gateway.drop("锁住.txt", PASS_TEXT)
    path.chmod(0)
    assert baomi_watch(gateway, "--once", "--settle", "0", unprivileged=True).wait(timeout=120) == 0
    assert gateway.places("锁住.txt") == ["quarantine"]
    [decision] = gateway.decisions()
    assert (decision.verdict, decision.rules) == ("block", ["unscannable.unreadable"])
