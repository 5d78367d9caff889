"""The mail door's decisions that need no Postfix: failing closed, the [mail] table, internal-domain leniency and the
words of a refusal. A scripted MTA (tests.test_milter_protocol) speaks to the real door and engine over a socket.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from scanner.audit import AuditLog
from scanner.config import ConfigError, MailTable, Origin, read_table
from scanner.doors import milter_protocol as mp
from scanner.doors.milter import Gateway, MailHandler, Message, Places, is_internal, place
from scanner.engine import Scanner
from scanner.i18n import render
from scanner.model import Finding, Location, Verdict
from scanner.policy import load_config
from scanner.reloading import Rules
from tests.conftest import ROOT
from tests.language import english_words
from tests.postfix_fixture import Milter
from tests.test_milter_protocol import ScriptedMTA

HEADERS = [("From", " author@example.cn"), ("To", " reader@example.org"), ("Message-ID", " <m1@example.cn>")]

Door = Callable[..., tuple[ScriptedMTA, AuditLog]]


@pytest.fixture
def door(scanner: Scanner, tmp_path: Path) -> Iterator[Door]:
    """Start the door with a [mail] table; give back a negotiated MTA connection and the audit log."""
    started: list[mp.MilterServer] = []

    def start(**table: object) -> tuple[ScriptedMTA, AuditLog]:
        audit = AuditLog(tmp_path / f"audit{len(started)}.db")
        gateway = Gateway(Rules(scanner), audit, read_table(MailTable, table, "mail", Origin()), workers=2)
        server = mp.MilterServer("inet:0@127.0.0.1", lambda: MailHandler(gateway))
        server.serve_in_thread(poll_interval=0.02)
        started.append(server)
        mta = ScriptedMTA(server.server_address)
        mta.negotiate()
        return mta, audit

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


def final(mta: ScriptedMTA) -> tuple[bytes, str]:
    command, data = mta.end()[-1]
    return command, data.rstrip(b"\0").decode()


def test_a_message_over_the_size_limit_gets_a_temporary_failure(door: Door) -> None:
    mta, audit = door(max_message_bytes=1000)
    mta.message(HEADERS, b"x" * 2000)
    command, text = final(mta)
    assert (command, text[:9]) == (mp.R_REPLYCODE, "451 4.7.1")
    assert [(d.verdict, d.action, d.rules) for d in audit.query()] == [
        ("block", "tempfailed", ["unscannable.too-large"])
    ]


def test_a_message_over_the_size_limit_is_refused_when_the_policy_says_reject(door: Door) -> None:
    mta, _ = door(max_message_bytes=1000, on_oversize="reject")
    mta.message(HEADERS, b"x" * 2000)
    assert final(mta)[1].startswith("550 5.7.1")


def test_a_scan_that_outlasts_scan_seconds_gets_a_temporary_failure(door: Door) -> None:
    mta, audit = door(scan_seconds=0)
    mta.message(HEADERS, "您好，会议改到周三。\r\n".encode())
    assert final(mta)[1].startswith("451 4.7.1")
    assert "scan took more than" in (audit.query()[0].reason or "")


def test_a_message_that_finds_no_scanner_free_by_its_deadline_gets_its_own_temporary_failure(
    scanner: Scanner, tmp_path: Path
) -> None:
    mail = MailTable(scan_seconds=0.5, slow_seconds=60)
    gateway = Gateway(Rules(scanner), AuditLog(tmp_path / "audit.db"), mail, workers=1)
    assert gateway.places.take("a long scan", until=time.monotonic()) is not None  # the one place is taken
    outcome = gateway.decide(Message(headers=HEADERS, body=["您好。\r\n".encode()]), {}, progress=lambda: None)
    assert (
        outcome.reply.text
        == "451 4.7.1 Cannot check this message now; try again later. No scanner was free within 0.5 s."
    )
    assert [(d.action, d.reason) for d in gateway.audit.query()] == [
        ("tempfailed", "No scanner was free within 0.5 s.")
    ]


def test_a_scan_running_past_slow_seconds_is_set_aside_and_its_place_goes_to_the_next_message() -> None:
    places = Places(workers=1, slow_seconds=0.0)
    slow = places.take("slow", until=time.monotonic())
    assert slow is not None
    fresh = places.take("fresh", until=time.monotonic())
    assert fresh is not None and slow.aside and not fresh.aside


def test_no_more_than_twice_the_workers_scans_run_at_once() -> None:
    places = Places(workers=1, slow_seconds=0.0)
    first, second = places.take("1", time.monotonic()), places.take("2", time.monotonic())
    assert first is not None and second is not None
    assert places.take("3", until=time.monotonic() + 0.05) is None  # one set aside, one slow in the place: full
    places.give_back(first)
    third = places.take("3", until=time.monotonic())
    assert third is not None and second.aside


def test_a_place_given_back_goes_to_mail_waiting_for_one() -> None:
    places = Places(workers=1, slow_seconds=60.0)
    running = places.take("1", time.monotonic())
    assert running is not None
    threading.Timer(0.05, places.give_back, [running]).start()
    assert places.take("2", until=time.monotonic() + 30) is not None


def test_an_internal_error_gets_a_temporary_failure_never_an_accept(door: Door) -> None:
    mta, audit = door()
    audit.close()  # the decision cannot be recorded: the door must not let the message through unrecorded
    mta.message(HEADERS, "您好，会议改到周三。\r\n".encode())
    assert final(mta)[1].startswith("451 4.7.1")


def test_a_clean_message_is_accepted_with_the_pass_header(door: Door) -> None:
    mta, _ = door()
    mta.message(HEADERS, "您好，会议改到周三。\r\n".encode())
    assert mta.end() == [(mp.R_ADDHEADER, b"X-Baomi-Verdict\0 pass\0"), (mp.R_ACCEPT, b"")]


def test_a_queue_id_that_looks_like_a_mobile_number_is_not_personal_data(door: Door) -> None:
    mta, audit = door()
    mta.message(HEADERS, "您好，会议改到周三。\r\n".encode(), macros={"i": "17173219174"})  # Postfix IDs are hex
    assert mta.end()[-1] == (mp.R_ACCEPT, b"")
    assert (audit.query()[0].name, audit.query()[0].verdict) == ("17173219174.eml", "pass")


def test_the_pass_header_can_be_turned_off(door: Door) -> None:
    mta, _ = door(pass_header=False)
    mta.message(HEADERS, "您好。\r\n".encode())
    assert mta.end() == [(mp.R_ACCEPT, b"")]


def test_a_refusal_names_the_rule_and_the_audit_reference(door: Door) -> None:
    mta, audit = door()
    mta.message(HEADERS, "机密★5年\r\n\r\n试验数据如下。\r\n".encode())
    command, text = final(mta)
    ref = audit.query()[0].id
    assert command == mp.R_REPLYCODE
    assert text == (
        f"550 5.7.1 Message refused by the confidentiality check: mark.state-secret in the message (ref {ref})."
    )


@pytest.mark.parametrize(
    ("recipients", "internal"),
    [
        (["a@example.cn"], True),
        (["a@mail.example.cn", "b@EXAMPLE.CN"], True),
        (["a@example.cn", "b@example.org"], False),  # one outsider: the message leaves the organisation
        (["a@notexample.cn"], False),
        ([], False),
    ],
)
def test_leniency_needs_every_recipient_inside_the_organisation(recipients: list[str], internal: bool) -> None:
    assert is_internal(recipients, ["example.cn"]) is internal


def test_mail_to_internal_recipients_is_judged_by_the_mail_internal_channel(door: Door) -> None:
    """Personal data may circulate inside the organisation (the channel's actions in default.toml)."""
    mta, audit = door(internal_domains=["example.cn"])
    mta.send(mp.MAIL, b"<hr@example.cn>\0")
    mta.send(mp.RCPT, b"<staff@mail.example.cn>\0")
    mta.send(mp.EOH)
    mta.send(mp.BODY, "身份证号 11010519491231002X，请办理入职。\r\n".encode())
    assert mta.end()[-1] == (mp.R_ACCEPT, b"")
    [decision] = audit.query()
    assert (decision.channel, decision.verdict, decision.action) == ("mail-internal", "pass", "allowed")


@pytest.mark.parametrize(
    "table",
    [{"listen_on": "inet:1@x"}, {"on_error": "accept"}, {"on_oversize": "pass"}, {"internal_actions": {}}],
)
def test_a_mail_table_that_cannot_be_used_is_a_configuration_error(table: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match=r"\[mail\]"):
        read_table(MailTable, table, "mail", Origin())


@pytest.mark.parametrize(
    ("part", "words"),
    [
        ("report.docx!word/document.xml", "attachment report.docx"),
        ("materials.zip!情况说明.pdf!page", "attachment materials.zip"),
        ("进度报告.docx", "an attachment"),  # an SMTP reply is ASCII
        ("subject", "the subject"),
        ("body", "the message"),
        ("body2", "the message"),
        ("keywords", "the headers"),
    ],
)
def test_a_refusal_says_where_in_the_message_the_rule_fired(part: str, words: str) -> None:
    finding = Finding("state-secret", "mark.state-secret", Verdict.BLOCK, "机密", Location(part, 1, 1))
    assert render(place(finding)) == words


def test_the_command_refuses_a_socket_it_cannot_listen_on() -> None:
    # In a process of its own: the command installs its SIGTERM handler first, and pytest's process must keep its own
    # (a forked pool in a later test is stopped with SIGTERM).
    command = [str(Path(sys.executable).parent / "baomi"), "milter", "--listen", "tcp:25"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)
    assert done.returncode == 2
    assert "Cannot listen on tcp:25" in done.stderr


def test_the_administrators_example_configuration_is_valid() -> None:
    config = load_config(ROOT / "hooks" / "postfix" / "baomi.toml.example")
    policy = config.table(MailTable)
    assert policy.internal_domains == ("example.gov.cn",)
    assert policy.on_error == "tempfail"


def test_sigterm_stops_the_milter_in_order(tmp_path: Path) -> None:
    milter = Milter(tmp_path / "audit.db").start()
    log = milter.stop()  # SIGTERM
    assert milter.returncode == 0
    assert log.splitlines()[-1] == "baomi milter: stopped"


# -- the language of a reply: [i18n] language where it is ASCII (English), else rule IDs and the reference alone


def gateway_speaking(language: str, tmp_path: Path, **mail: object) -> Gateway:
    config = tmp_path / f"{language}.toml"
    config.write_text(f'[i18n]\nlanguage = "{language}"\n', encoding="utf-8")
    scanner = Scanner(load_config(config))
    return Gateway(Rules(scanner), AuditLog(tmp_path / f"{language}.db"), MailTable(**mail), workers=1)  # type: ignore[arg-type]


def reply(gateway: Gateway, body: str) -> str:
    outcome = gateway.decide(Message(headers=HEADERS, body=[body.encode()]), {}, progress=lambda: None)
    return outcome.reply.text


def test_a_refusal_in_english_is_a_sentence(tmp_path: Path) -> None:
    text = reply(gateway_speaking("en", tmp_path), "机密★5年\r\n\r\n试验数据如下。\r\n")
    assert text == "550 5.7.1 Message refused by the confidentiality check: mark.state-secret in the message (ref 1)."


def test_a_refusal_in_chinese_is_ascii_the_rules_and_the_reference(tmp_path: Path) -> None:
    """Chinese cannot travel in an SMTP reply to a client that did not ask for SMTPUTF8 (test_milter shows what
    Postfix does with it): the reply says what needs no language, and no English either."""
    text = reply(gateway_speaking("zh_CN", tmp_path), "机密★5年\r\n\r\n试验数据如下。\r\n")
    assert text == "550 5.7.1 baomi: mark.state-secret #1"
    assert text.isascii() and english_words(text.removeprefix("550 5.7.1")) == []


def test_a_temporary_failure_in_chinese_is_ascii_too(tmp_path: Path) -> None:
    gateway = gateway_speaking("zh_CN", tmp_path, scan_seconds=0.5, slow_seconds=60)
    assert gateway.places.take("a long scan", until=time.monotonic()) is not None  # the one place is taken
    assert reply(gateway, "您好。\r\n") == "451 4.7.1 baomi: unscannable.seconds #1"
