"""Live reload, on its own: new rules are built beside those in force and swapped in at once; a scan that took the
old ones keeps them; a reload that fails keeps the rules in force and says why; a change of a watched file or SIGHUP
asks for one."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from scanner.audit import Action, AuditLog
from scanner.engine import Scanner
from scanner.i18n import Message, msg, render, speaking
from scanner.model import Verdict
from scanner.policy import Config, load_config
from scanner.reloading import Reload, Rules, build, recorder, stop_observer
from scanner.ruleset import rule_set
from tests.language import data_words, english_words

CODENAME = "天河七号"
SECOND = "北斗计划"
TEXT = f"关于{CODENAME}与{SECOND}的安排".encode()


def codenames(folder: Path, *terms: str) -> Path:
    """A dictionary of blocking codenames, written as an editor saves: to a new file, renamed over the old one."""
    path = folder / "codenames.txt"
    temporary = folder / ".codenames.txt.swp"
    temporary.write_text("".join(f"{t}\tblock\n" for t in terms), encoding="utf-8")
    os.replace(temporary, path)
    return path


def policy(folder: Path, text: str) -> Path:
    path = folder / "baomi.toml"
    path.write_text(f'[dictionaries]\nfiles = ["codenames.txt"]\n{text}', encoding="utf-8")
    return path


def rules_of(folder: Path, on_reload: Callable[[Reload], None] | None = None) -> Rules:
    config_file = folder / "baomi.toml"

    def load() -> Config:
        return load_config(config_file)

    return Rules(build(load), load, [config_file], on_reload)


def found(scanner: Scanner) -> list[str]:
    return [f.text for f in scanner.scan_bytes(TEXT, "a.txt").findings]  # in the order of the text


def wait_until(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the reload did not come"
        time.sleep(0.02)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    codenames(tmp_path, CODENAME)
    policy(tmp_path, "")
    return tmp_path


def test_a_reload_puts_the_new_terms_in_force_and_reports_name_the_new_rules(folder: Path) -> None:
    rules = rules_of(folder)
    before = rules.fingerprint
    assert found(rules.scanner) == [CODENAME]
    codenames(folder, CODENAME, SECOND)
    outcome = rules.reload("a test")
    assert not outcome.failed and (outcome.previous, outcome.fingerprint) == (before, rules.fingerprint)
    assert rules.fingerprint != before == outcome.previous
    assert found(rules.scanner) == [CODENAME, SECOND]
    assert rules.scanner.scan_bytes(TEXT, "a.txt").rule_set == rules.fingerprint


def test_a_scan_that_took_the_old_rules_keeps_them(folder: Path) -> None:
    rules = rules_of(folder)
    in_flight = rules.scanner
    codenames(folder, SECOND)
    rules.reload("a test")
    report = in_flight.scan_bytes(TEXT, "a.txt")
    assert [f.text for f in report.findings] == [CODENAME] and report.rule_set == in_flight.fingerprint
    assert found(rules.scanner) == [SECOND]


def test_a_policy_that_is_not_toml_keeps_the_rules_in_force_and_says_why(folder: Path, tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.db")
    rules = rules_of(folder, recorder(log, "clamd"))
    before = rules.fingerprint
    (folder / "baomi.toml").write_text("[actions\n", encoding="utf-8")
    outcome = rules.reload("SIGHUP")
    assert outcome.failed and "not valid TOML" in render(outcome.error, "en") and rules.fingerprint == before
    assert found(rules.scanner) == [CODENAME]
    assert rules.status()["last_reload"]["error"] == render(outcome.error, "en")
    [record] = log.query()
    log.close()
    assert (record.channel, record.action, record.name) == ("clamd", Action.RELOAD_FAILED, "SIGHUP")
    assert record.rule_set == before
    assert "not valid TOML" in (record.reason or "")


def test_a_dictionary_that_cannot_be_read_keeps_the_rules_in_force(folder: Path) -> None:
    rules = rules_of(folder)
    (folder / "codenames.txt").unlink()
    outcome = rules.reload("a test")
    assert outcome.failed and "Cannot read the dictionary" in render(outcome.error, "en")
    assert found(rules.scanner) == [CODENAME]


def test_a_change_of_rules_is_recorded_and_a_reload_that_changes_nothing_is_not(folder: Path, tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.db")
    rules = rules_of(folder, recorder(log, "mail"))
    before = rules.fingerprint
    rules.reload("nothing changed")
    policy(folder, '[actions]\ninternal = "block"\n')
    rules.reload("the policy changed")
    [record] = log.query()
    log.close()
    assert (record.action, record.name, record.verdict) == (Action.RELOADED, "the policy changed", "")
    assert record.rule_set == rules.fingerprint != before and record.extra["previous"] == before
    said = Message.from_dict(record.extra["message"])  # what `baomi audit` shows, in its reader's language
    assert render(said, "en") == f"rules reloaded after the policy changed: {rules.fingerprint} (were {before})"
    assert render(said, "zh_CN") == f"规则已重新加载（起因：the policy changed）：{rules.fingerprint}（原为 {before}）"


def test_a_failed_reload_is_said_in_the_doors_language_and_in_english_for_scripts(
    folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    policy(folder, '[i18n]\nlanguage = "zh_CN"\n')
    rules = rules_of(folder)
    (folder / "codenames.txt").unlink()
    with caplog.at_level("ERROR", logger="baomi.reload"):
        rules.reload(msg("{file} changed", file="codenames.txt"))
    line = caplog.text.strip()  # as the log's handler wrote it: a Message is said when its line is written
    said = f"重新加载规则（起因：codenames.txt 已更改）失败，现行规则（{rules.fingerprint}）继续有效：无法读取词典 "
    assert said in line and english_words(line.split(said, 1)[1], keep=data_words(folder)) == []
    last = rules.status()["last_reload"]
    assert last["why"] == "codenames.txt changed" and last["error"].startswith("Cannot read the dictionary ")
    with speaking("zh_CN"):
        assert line.endswith(rules.status()["last_reload"]["message"])  # a health check's, in its reader's language


def test_a_reload_that_changes_no_rule_still_puts_what_it_built_in_force(folder: Path) -> None:
    """What the fingerprint does not cover (the registry's store, read when a Scanner is built) is new after it."""
    rules = rules_of(folder)
    before = rules.scanner
    outcome = rules.reload("SIGHUP")
    assert outcome.fingerprint == outcome.previous and rules.scanner is not before


def test_a_dictionary_written_before_the_watch_began_is_not_missed(folder: Path) -> None:
    """The door read its rules, then the file changed, then the door began to watch: it reloads all the same."""
    rules = rules_of(folder)
    codenames(folder, CODENAME, SECOND)
    with rules.watching():
        wait_until(lambda: rules.last is not None)
    assert found(rules.scanner) == [CODENAME, SECOND]
    assert rules.last is not None and render(rules.last.why, "en") == "a change while the door started"


def test_a_dictionary_written_is_in_force_once_the_reload_it_causes_is_done(folder: Path) -> None:
    rules = rules_of(folder)
    before = rules.fingerprint
    with rules.watching():
        codenames(folder, CODENAME, SECOND)
        wait_until(lambda: rules.fingerprint != before)
        assert found(rules.scanner) == [CODENAME, SECOND]
        assert rules.last is not None and render(rules.last.why, "en") == f"{folder / 'codenames.txt'} changed"


def test_a_policy_file_written_is_in_force_once_reloaded(folder: Path) -> None:
    rules = rules_of(folder)
    assert rules.scanner.scan_bytes("内部资料".encode(), "a.txt").verdict == Verdict.FLAG
    with rules.watching():
        policy(folder, '[actions]\ninternal = "block"\n')
        wait_until(lambda: rules.last is not None)
    assert rules.scanner.scan_bytes("内部资料".encode(), "a.txt").verdict == Verdict.BLOCK


def test_sighup_reloads(folder: Path) -> None:
    rules = rules_of(folder)
    before = rules.fingerprint
    handler = signal.getsignal(signal.SIGHUP)
    with rules.watching():
        rules._observer.unschedule_all()  # only the signal may cause this reload
        (folder / "codenames.txt").write_text(f"{SECOND}\tblock\n", encoding="utf-8")
        os.kill(os.getpid(), signal.SIGHUP)
        wait_until(lambda: rules.fingerprint != before)
        assert rules.last is not None and render(rules.last.why, "en") == "SIGHUP"
    assert signal.getsignal(signal.SIGHUP) is handler


def test_the_rule_set_built_is_the_one_its_reports_name() -> None:
    config = load_config()
    assert build(lambda: config).fingerprint == rule_set(config).fingerprint


def test_an_event_while_the_observer_stops_leaves_no_error_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    """watchdog logs an error when an inotify event comes while its observer stops (its own race): a door stopping
    its watch keeps that line out of its log, and only that line."""

    class Stopping:  # watchdog's observer, as it behaves when an event comes during stop()
        def stop(self) -> None:
            inotify = logging.getLogger("watchdog.observers.inotify")
            inotify.error("InotifyEmitter.queue_events() called when the thread is inactive")
            inotify.error("something else")

        def join(self, timeout: float) -> None:
            pass

    with caplog.at_level(logging.ERROR):
        stop_observer(Stopping(), timeout=1)
    assert [r.getMessage() for r in caplog.records] == ["something else"]
    assert not logging.getLogger("watchdog.observers.inotify").filters
