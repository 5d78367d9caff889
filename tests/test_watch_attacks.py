"""An outbox writer attacking `baomi watch`: each attack runs against the real watcher process, timed with inotify on
the file's own inode at each moment the watcher touches it (it opens the file twice, reads it twice and closes it
twice: six moments; an attack whose moment never comes is made once the watcher is done). Whatever the timing, what
lands in released/ is exactly what was scanned and passed, and nothing that was in the outbox is lost."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from scanner.cli import main
from tests.watch_rig import BLOCK_TEXT, Gateway, Inotify, baomi_watch, wait_for

MOMENTS = range(1, 7)
# About 2.5 MB: read in several chunks, scanned in a fraction of a second.
CLEAN = "今天天气很好，下午三点在三楼会议室开会，请各部门准时参加。\n" * 14_000
Attack = Callable[[], None]


@pytest.fixture
def gateway(tmp_path: Path) -> Gateway:
    return Gateway(tmp_path)


def resident_ids(count: int) -> list[str]:
    """`count` distinct resident ID numbers with valid check digits (GB 11643): a roster, blocked wherever it is."""
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    ids = []
    for n in range(count):
        body = f"11010519800101{100 + n:03d}"
        check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]
        ids.append(body + check)
    return ids


ROSTER = "\n人员名单\n" + "\n".join(f"张{n} 身份证号 {i}" for n, i in enumerate(resident_ids(12))) + "\n"


class Attacker(threading.Thread):
    """Makes each attack right after the watcher's `moment`th touch of its file (an open, a run of reads, a close),
    by inotify on the file's inode; attacks whose moment has not come when `finish()` is called are made then."""

    def __init__(self) -> None:
        super().__init__(name="attacker", daemon=True)
        self.inotify = Inotify()
        self.pending: dict[int, tuple[int, Attack]] = {}
        self.done = threading.Event()
        self.made: list[int] = []  # the moments at which attacks were made in time

    def aim(self, path: Path, moment: int, attack: Attack) -> None:
        wd = self.inotify.watch(path, Inotify.OPEN | Inotify.ACCESS | Inotify.CLOSE_NOWRITE)
        self.pending[wd] = (moment, attack)

    def run(self) -> None:
        touches: dict[int, int] = {}
        last: dict[int, int] = {}
        while self.pending and not self.done.is_set():
            for wd, mask in self.inotify.events(0.05):
                kind = mask & (Inotify.OPEN | Inotify.ACCESS | Inotify.CLOSE_NOWRITE)
                if wd not in self.pending or not kind or (kind == Inotify.ACCESS == last.get(wd)):
                    continue
                last[wd] = kind
                touches[wd] = touches.get(wd, 0) + 1
                moment, attack = self.pending[wd]
                if touches[wd] == moment:
                    del self.pending[wd]
                    attack()
                    self.made.append(moment)

    def finish(self) -> None:
        if self.done.is_set():
            return
        self.done.set()
        if self.is_alive():
            self.join(timeout=10)
        for _moment, attack in self.pending.values():
            attack()
        self.pending.clear()
        self.inotify.close()


def regular_files(folder: Path) -> list[Path]:
    found = []
    for root, _dirs, names in os.walk(folder):
        found += [Path(root) / n for n in names if Path(root, n).is_file() and not Path(root, n).is_symlink()]
    return found


def attacked(gateway: Gateway, aim: Callable[[Attacker], None]) -> str:
    """Run `baomi watch` on the gateway while the attacker does its work; return the watcher's log once every file
    it could see has left the outbox."""
    attacker = Attacker()
    watcher = baomi_watch(gateway, "--jobs", "1", "--settle", "0.5")
    try:
        wait_for(lambda: b"watching" in (gateway.root / "watch.log").read_bytes(), timeout=60, what="the watcher")
        aim(attacker)
        attacker.start()
        wait_for(lambda: not attacker.pending, timeout=120, what="the attacks")
        attacker.finish()
        quiet_since = [time.monotonic(), len(gateway.decisions())]

        def settled() -> bool:
            count = len(gateway.decisions())
            if regular_files(gateway.outbox) or count != quiet_since[1]:
                quiet_since[:] = [time.monotonic(), count]
                return False
            return time.monotonic() - quiet_since[0] > 2.0

        wait_for(settled, timeout=120, what="the outbox to empty")
    finally:
        attacker.finish()
        watcher.send_signal(signal.SIGTERM)
        assert watcher.wait(timeout=60) == 0
    return (gateway.root / "watch.log").read_text(encoding="utf-8")


def assert_released_is_what_was_scanned(gateway: Gateway) -> None:
    """The promise: every file in released/ is the very bytes a scan passed (its decision's SHA-256, verdict pass)."""
    decisions = {d.extra.get("destination"): d for d in gateway.decisions()}
    for path in regular_files(gateway.folder("released")):
        decision = decisions.get(str(path))
        assert decision is not None, f"{path} was released without a decision"
        assert decision.verdict == "pass", f"{path}: released with verdict {decision.verdict}"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == decision.sha256, f"{path} is not what was scanned"


def contents(folder: Path) -> list[str]:
    return sorted(p.read_text(encoding="utf-8") for p in regular_files(folder) if not p.name.endswith(".json"))


def stage(gateway: Gateway, rel: str, text: str) -> Path:
    """A file written outside the outbox (so its writing is no event there), to be moved in once it is aimed at."""
    path = gateway.root / "staging" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_a_marked_file_renamed_over_the_checked_one_is_never_released(gateway: Gateway) -> None:
    marked = {n: gateway.root / "attacker" / f"{n}.txt" for n in MOMENTS}

    def aim(attacker: Attacker) -> None:
        for n in MOMENTS:
            marked[n].parent.mkdir(exist_ok=True)
            marked[n].write_text(BLOCK_TEXT + f"第{n}号\n", encoding="utf-8")
            staged = stage(gateway, f"{n}.txt", CLEAN + f"第{n}号\n")
            target = gateway.outbox / f"{n}.txt"
            attacker.aim(staged, n, lambda m=marked[n], t=target: os.rename(m, t))
            os.rename(staged, target)

    attacked(gateway, aim)
    assert_released_is_what_was_scanned(gateway)
    assert all(BLOCK_TEXT not in text for text in contents(gateway.folder("released")))
    quarantined = contents(gateway.folder("quarantine"))
    assert all(BLOCK_TEXT + f"第{n}号\n" in quarantined for n in MOMENTS), "the marked files are quarantined"


def test_a_mark_appended_after_a_read_is_never_released(gateway: Gateway) -> None:
    appended: dict[int, int] = {}  # the attacker keeps each file it appended to open, to see what became of it

    def aim(attacker: Attacker) -> None:
        for n in MOMENTS:
            staged = stage(gateway, f"{n}.txt", CLEAN + f"第{n}号\n")
            target = gateway.outbox / f"{n}.txt"

            def append(target: Path = target, n: int = n) -> None:
                fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)  # a new file if it is gone
                appended[n] = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY)  # the same file, whatever its name
                os.write(fd, ROSTER.encode())
                os.close(fd)

            attacker.aim(staged, n, append)
            os.rename(staged, target)

    try:
        attacked(gateway, aim)
        finals = {n: os.pread(fd, 10_000_000, 0).decode() for n, fd in appended.items()}
    finally:
        for fd in appended.values():
            os.close(fd)
    assert_released_is_what_was_scanned(gateway)
    assert all(ROSTER not in text for text in contents(gateway.folder("released")))
    quarantined = contents(gateway.folder("quarantine"))
    for n in MOMENTS:
        assert finals[n].endswith(ROSTER)
        assert finals[n] in quarantined, f"what the file appended to at moment {n} became is quarantined, not lost"


def test_a_folder_swapped_for_a_link_to_the_quarantine_releases_nothing_from_there(gateway: Gateway) -> None:
    quarantine = gateway.folder("quarantine")
    away = gateway.root / "attacker"
    away.mkdir()

    def aim(attacker: Attacker) -> None:
        for n in MOMENTS:
            kept = quarantine / f"d{n}" / "f.txt"  # a marked file an earlier run quarantined under the same name
            kept.parent.mkdir(mode=0o700)
            kept.write_text(BLOCK_TEXT + f"第{n}号\n", encoding="utf-8")
            staged = stage(gateway, f"d{n}/f.txt", CLEAN + f"第{n}号\n")
            folder = gateway.outbox / f"d{n}"

            def swap(folder: Path = folder, n: int = n) -> None:
                os.rename(folder, away / f"d{n}")
                os.symlink(quarantine / f"d{n}", folder)

            attacker.aim(staged, n, swap)
            os.rename(staged.parent, folder)

    log = attacked(gateway, aim)
    assert_released_is_what_was_scanned(gateway)
    assert all(BLOCK_TEXT not in text for text in contents(gateway.folder("released")))
    for n in MOMENTS:
        assert (quarantine / f"d{n}" / "f.txt").read_text(encoding="utf-8") == BLOCK_TEXT + f"第{n}号\n"
        assert (gateway.outbox / f"d{n}").is_symlink(), "the link is left where it is"
        clean = [gateway.folder("released") / f"d{n}" / "f.txt", away / f"d{n}" / "f.txt"]
        assert sum(p.exists() for p in clean) == 1, f"the clean file of moment {n} is released or still the writer's"
    assert "not a regular file (a link" in log


def test_a_hard_link_cannot_change_what_was_released(gateway: Gateway) -> None:
    links = gateway.root / "attacker"
    links.mkdir()

    def overwrite(link: Path) -> None:
        with link.open("r+b") as fh:
            fh.write(BLOCK_TEXT.encode())  # over the first line: a mark at the top of the file

    def aim(attacker: Attacker) -> None:
        for n in MOMENTS:
            staged = stage(gateway, f"{n}.txt", CLEAN + f"第{n}号\n")
            os.link(staged, links / f"{n}.txt")
            attacker.aim(staged, n, lambda link=links / f"{n}.txt": overwrite(link))
            os.rename(staged, gateway.outbox / f"{n}.txt")

    attacked(gateway, aim)
    for n in MOMENTS:  # and once more after the watcher is done, through every link
        overwrite(links / f"{n}.txt")
    assert_released_is_what_was_scanned(gateway)
    assert all(BLOCK_TEXT not in text for text in contents(gateway.folder("released")))


FORGED = "x.txt → /released/x.txt\n2026-01-01 00:00:00 UTC baomi watch: INFO pass 伪造.txt"
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+ baomi watch: (INFO|WARNING|ERROR) ")


def test_names_with_newlines_and_escapes_cannot_forge_a_log_line(gateway: Gateway, capsys) -> None:  # type: ignore[no-untyped-def]
    for name in (f"报告{FORGED}.txt", "清屏\x1b[2J\x1b[H.txt", "换行\r伪造.txt"):
        gateway.drop(name, CLEAN[:200])
    gateway.drop(f"纪要\n{FORGED}.txt", "内部资料 注意保存\n会议纪要\n")
    watcher = baomi_watch(gateway, "--once", "--settle", "0")
    assert watcher.wait(timeout=120) == 0
    log = (gateway.root / "watch.log").read_text(encoding="utf-8")
    assert all(LOG_LINE.match(line) for line in log.splitlines()), log
    assert "报告x.txt → /released/x.txt\\n2026-01-01" in log and "\\x1b[2J" in log and "换行\\r伪造" in log
    assert len(regular_files(gateway.folder("released"))) == 3  # the names themselves are kept as they are
    for command in (["audit", "--audit", str(gateway.audit_path)], ["review", "--outbox", str(gateway.outbox)]):
        capsys.readouterr()
        assert main([*command, *(gateway.args() if command[0] == "review" else [])]) == 0
        out = capsys.readouterr().out
        assert "\x1b" not in out and "\r" not in out and "\\n2026-01-01" in out
        assert not any(line.startswith("2026-01-01") for line in out.splitlines())


def test_the_mail_door_log_escapes_what_senders_write(tmp_path: Path) -> None:
    from scanner.doors import milter_protocol as mp
    from tests.postfix_fixture import Milter
    from tests.test_milter_protocol import ScriptedMTA

    milter = Milter(tmp_path / "audit.db").start()
    try:
        mta = ScriptedMTA(("127.0.0.1", milter.port))
        mta.negotiate()
        mta.message([("Message-ID", " <a@b>\nbaomi milter: forged verdict=pass")], "您好。\r\n".encode())
        assert mta.end()[-1][0] in (mp.R_ACCEPT, mp.R_REPLYCODE)
    finally:
        log = milter.stop()
    assert not any(line.startswith("baomi milter: forged") for line in log.splitlines())
    assert "<a@b>\\nbaomi milter: forged" in log
