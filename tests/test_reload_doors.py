"""Live reload in every long-running door, each as a real process: a dictionary written is in force once the door
logs the new rule set, and the door's next verdict is by it; a policy file that is not TOML keeps the rules in force
and says why; SIGHUP reloads; none of it stops the door.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from scanner.audit import Action, AuditLog
from scanner.cli import main
from scanner.doors import milter_protocol as mp
from scanner.policy import load_config
from scanner.ruleset import rule_set
from tests.clamd_rig import BAOMI, BaomiClamd, instream
from tests.common import free_port, stop, wait_for_port
from tests.icap_rig import IcapService
from tests.test_milter_protocol import ScriptedMTA
from tests.web_service import serve

TERM = "天河七号"
TEXT = f"关于{TERM}的进度安排\n".encode()
POLICY = '[dictionaries]\nfiles = ["codenames.txt"]\n'


@dataclass
class Door:
    """A running door: its process, its log, its audit log, and how to ask it for a verdict on TEXT (True: refused
    or held back)."""

    process: subprocess.Popen[bytes]
    log: Path
    audit: Path
    refuses: Callable[[], bool]


def save(path: Path, text: str) -> None:
    """As an editor saves: a new file renamed over the old, so no reload sees half of it."""
    temporary = path.with_name(f".{path.name}.swp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def dictionary(folder: Path, *terms: str) -> str:
    """Save the codenames; the fingerprint of the rules they make with the folder's policy."""
    save(folder / "codenames.txt", "".join(f"{t}\tblock\n" for t in terms))
    return rule_set(load_config(folder / "baomi.toml")).fingerprint


def wait_for_line(door: Door, text: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while text not in door.log.read_text(encoding="utf-8", errors="replace"):
        assert door.process.poll() is None, f"the door exited:\n{door.log.read_text()}"
        assert time.monotonic() < deadline, f"no line {text!r} in the log:\n{door.log.read_text()}"
        time.sleep(0.05)


@contextlib.contextmanager
def started(command: list[str], folder: Path, port: int | None) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    log = folder / "door.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=folder)
    try:
        if port is not None:
            wait_for_port(port, process, seconds=60)
        yield process, log
    finally:
        stop(process)


@contextlib.contextmanager
def clamd(folder: Path) -> Iterator[Door]:
    service = BaomiClamd(folder)
    try:
        yield Door(service.process, service.log, service.audit, lambda: b"FOUND" in service.ask(instream(TEXT)))
    finally:
        service.stop()


@contextlib.contextmanager
def web(folder: Path) -> Iterator[Door]:
    with serve(folder, POLICY) as service:

        def refuses() -> bool:
            report = httpx.put(service.url + "/v1/scan/a.txt", content=TEXT, timeout=60).json()["files"][0]
            assert report["rule_set"] == httpx.get(service.url + "/healthz").json()["rule_set"]
            return bool(report["verdict"] == "block")

        yield Door(service.process, service.log, service.audit, refuses)


@contextlib.contextmanager
def icap(folder: Path) -> Iterator[Door]:
    service = IcapService(folder, "--config", str(folder / "baomi.toml"), "--verbose")

    def refuses() -> bool:
        head = b"PUT http://example.cn/a.txt HTTP/1.1\r\nHost: example.cn\r\n\r\n"
        request = (
            (
                f"REQMOD icap://127.0.0.1:{service.port}/reqmod ICAP/1.0\r\nHost: 127.0.0.1\r\n"
                f"Encapsulated: req-hdr=0, req-body={len(head)}\r\n\r\n"
            ).encode()
            + head
            + f"{len(TEXT):x}\r\n".encode()
            + TEXT
            + b"\r\n0\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", service.port), timeout=60) as sock:
            sock.sendall(request)
            answer = sock.recv(65536)
        return b"X-Baomi-Verdict: block" in answer

    try:
        yield Door(service.process, service.log, service.audit, refuses)
    finally:
        service.stop()


@contextlib.contextmanager
def milter(folder: Path) -> Iterator[Door]:
    port = free_port()
    audit = folder / "audit.db"
    command = [str(BAOMI), "milter", "--listen", f"inet:{port}@127.0.0.1", "--config", "baomi.toml"]
    with started([*command, "--audit", str(audit)], folder, port) as (process, log):

        def refuses() -> bool:
            mta = ScriptedMTA(("127.0.0.1", port))
            try:
                mta.negotiate()
                mta.message([("Subject", "进度")], TEXT)
                command, data = mta.end()[-1]
            finally:
                mta.close()
            return command == mp.R_REPLYCODE and data.startswith(b"550")

        yield Door(process, log, audit, refuses)


@contextlib.contextmanager
def watch(folder: Path, *options: str) -> Iterator[Door]:
    """`baomi watch` scanning in processes, as it does by default: new rules are new scanning processes."""
    for name in ("outbox", "released", "review", "quarantine"):
        (folder / name).mkdir()
    audit = folder / "audit.db"
    outbox = (folder / "outbox", folder / "released", folder / "review", folder / "quarantine")
    command = [str(BAOMI), "watch", "--config", "baomi.toml", "--audit", str(audit), "--settle", "0.2", *options]
    command += [str(outbox[0]), "--released", str(outbox[1]), "--review", str(outbox[2])]
    with started([*command, "--quarantine", str(outbox[3])], folder, None) as (process, log):
        dropped = iter(range(1000))

        def refuses() -> bool:
            name = f"{next(dropped)}.txt"
            (outbox[0] / name).write_bytes(TEXT)
            deadline = time.monotonic() + 60
            while not any((where / name).exists() for where in outbox[1:]):
                assert time.monotonic() < deadline, "the file was not delivered"
                time.sleep(0.05)
            return (outbox[3] / name).exists()

        door = Door(process, log, audit, refuses)
        wait_for_line(door, "watching")
        yield door


def watch_in_threads(folder: Path) -> contextlib.AbstractContextManager[Door]:
    return watch(folder, "--threads")


@pytest.mark.parametrize("door", [clamd, web, icap, milter, watch, watch_in_threads])
def test_a_door_reloads_its_rules_while_it_runs(
    door: Callable[[Path], contextlib.AbstractContextManager[Door]], tmp_path: Path
) -> None:
    config = tmp_path / "baomi.toml"
    save(config, POLICY)
    first = dictionary(tmp_path, "北斗计划")
    with door(tmp_path) as running:
        assert not running.refuses()
        added = dictionary(tmp_path, "北斗计划", TERM)
        wait_for_line(running, f"rules reloaded after {tmp_path / 'codenames.txt'} changed: {added} (were {first})")
        assert running.refuses()

        save(config, POLICY + "[actions\n")
        wait_for_line(running, f"reload after {config} changed failed; the rules in force ({added}) stay")
        assert running.refuses()
        save(config, POLICY)
        wait_for_line(running, f"reloaded after {config} changed: the rules are unchanged ({added})")
        running.process.send_signal(signal.SIGHUP)
        wait_for_line(running, f"reloaded after SIGHUP: the rules are unchanged ({added})")

        dictionary(tmp_path, "北斗计划")
        wait_for_line(running, f"changed: {first} (were {added})")
        assert not running.refuses()
        assert running.process.poll() is None
    log = AuditLog(running.audit)
    reloads = [(d.action, d.rule_set) for d in reversed(log.query(limit=None)) if d.source == "rules"]
    log.close()
    assert reloads == [(Action.RELOADED, added), (Action.RELOAD_FAILED, added), (Action.RELOADED, first)]


def test_a_failed_reload_is_said_in_each_readers_language(
    tmp_path: Path, speak: Callable[[str], None], capsys: pytest.CaptureFixture[str]
) -> None:
    """/healthz: `why` and `error` in English for scripts, `message` in the language asked for; `baomi audit`: the
    reload in its reader's language."""
    config = tmp_path / "baomi.toml"
    save(config, POLICY)
    dictionary(tmp_path, TERM)
    with serve(tmp_path, POLICY) as service:
        save(config, POLICY + "[actions\n")
        wait_for_line(Door(service.process, service.log, service.audit, lambda: False), "failed; the rules in force")
        chinese = httpx.get(service.url + "/healthz", headers={"Accept-Language": "zh-CN,en;q=0.5"}, timeout=30)
        english = httpx.get(service.url + "/healthz", timeout=30).json()["last_reload"]
    last = chinese.json()["last_reload"]
    assert chinese.headers["content-language"] == "zh-CN"
    assert (last["why"], last["error"]) == (english["why"], english["error"]) == (f"{config} changed", last["error"])
    assert "not valid TOML" in last["error"]
    assert last["message"].startswith(f"重新加载规则（起因：{config} 已更改）失败，现行规则（")
    assert english["message"].startswith(f"reload after {config} changed failed; the rules in force (")
    speak("zh_CN.UTF-8")
    assert main(["audit", "--audit", str(service.audit)]) == 0
    shown = capsys.readouterr().out
    assert "重新加载失败" in shown and last["message"] in shown
