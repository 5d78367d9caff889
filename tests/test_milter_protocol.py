"""The milter protocol on the milter's side, spoken to by a scripted MTA over a real socket.

The scripted MTA sends what Postfix sends (OPTNEG, MACRO, CONNECT, MAIL, RCPT, HEADER, EOH, BODY, BODYEOB, ABORT,
QUIT_NC, QUIT) and reads back raw packets, so each test shows the bytes on the wire.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from scanner.doors import milter_protocol as mp

ALL_ACTIONS = 0x1FF
ALL_STEPS = 0x1FFFFF  # what Postfix 3.x offers


class ScriptedMTA:
    """The MTA's side of one milter connection."""

    def __init__(self, address: str | tuple[str, int]) -> None:
        family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
        self.sock = socket.socket(family)
        self.sock.settimeout(10)
        self.sock.connect(address)

    def negotiate(self, actions: int = ALL_ACTIONS, steps: int = ALL_STEPS, version: int = 6) -> tuple[int, int]:
        self.send(mp.OPTNEG, struct.pack("!III", version, actions, steps))
        command, data = self.receive()
        assert command == mp.R_OPTNEG
        got_version, got_actions, got_steps = struct.unpack("!III", data[:12])
        assert got_version == 6
        return got_actions, got_steps

    def send(self, command: bytes, data: bytes = b"") -> None:
        self.sock.sendall(mp.packet(command, data))

    def receive(self) -> tuple[bytes, bytes]:
        item = mp.read_packet(self.sock)
        assert item is not None, "the milter closed the connection"
        return item

    def closed(self) -> bool:
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def message(self, headers: list[tuple[str, str]], body: bytes, macros: dict[str, str] | None = None) -> None:
        """Everything Postfix sends for one message up to (not including) the end of it."""
        self.send(mp.MAIL, b"<author@example.cn>\0SIZE=100\0")
        self.send(mp.RCPT, b"<reader@example.org>\0")
        for name, value in headers:
            self.send(mp.HEADER, name.encode() + b"\0" + value.encode() + b"\0")
        self.send(mp.EOH)
        self.send(mp.BODY, body)
        for name, value in (macros or {}).items():
            self.send(mp.MACRO, b"E" + name.encode() + b"\0" + value.encode() + b"\0")

    def end(self) -> list[tuple[bytes, bytes]]:
        """BODYEOB, then every packet up to and including the final reply."""
        self.send(mp.BODYEOB)
        packets = []
        while True:
            command, data = self.receive()
            packets.append((command, data))
            if command in (mp.R_ACCEPT, mp.R_CONTINUE, mp.R_REJECT, mp.R_TEMPFAIL, mp.R_REPLYCODE):
                return packets

    def close(self) -> None:
        self.sock.close()


class Recorder(mp.Handler):
    """A handler that writes down what it is told and answers with a fixed outcome."""

    def __init__(self, outcome: mp.Outcome, log: list[tuple[str, object]]) -> None:
        super().__init__()
        self.outcome = outcome
        self.log = log

    def connect(self, hostname: str, address: str) -> None:
        self.log.append(("connect", (hostname, address)))

    def mail(self, sender: str, arguments: list[str]) -> None:
        self.log.append(("mail", (sender, arguments)))

    def rcpt(self, recipient: str, arguments: list[str]) -> None:
        self.log.append(("rcpt", recipient))

    def header(self, name: str, value: str) -> None:
        self.log.append(("header", (name, value)))

    def body(self, chunk: bytes) -> None:
        self.log.append(("body", chunk))

    def end_of_message(self, progress: Callable[[], None]) -> mp.Outcome:
        self.log.append(("end", dict(self.macros)))
        return self.outcome

    def abort(self) -> None:
        self.log.append(("abort", None))

    def close(self) -> None:
        self.log.append(("close", None))


Serve = Callable[..., tuple[mp.MilterServer, list[tuple[str, object]]]]


@pytest.fixture
def serve() -> Iterator[Serve]:
    servers: list[mp.MilterServer] = []

    def start(
        outcome: mp.Outcome | None = None,
        listen: str = "inet:0@127.0.0.1",
        handler: Callable[[], mp.Handler] | None = None,
    ) -> tuple[mp.MilterServer, list[tuple[str, object]]]:
        log: list[tuple[str, object]] = []
        server = mp.MilterServer(listen, handler or (lambda: Recorder(outcome or mp.Outcome(mp.ACCEPT), log)))
        server.serve_in_thread(poll_interval=0.02)
        servers.append(server)
        return server, log

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_negotiation_takes_only_what_the_mta_offers(serve: Serve) -> None:
    server, _ = serve()
    mta = ScriptedMTA(server.server_address)
    actions, steps = mta.negotiate(actions=mp.F_ADDHDRS, steps=mp.P_NR_HDR | mp.P_NOHELO)
    assert (actions, steps) == (mp.F_ADDHDRS, mp.P_NR_HDR | mp.P_NOHELO)


def test_an_mta_older_than_protocol_6_is_disconnected(serve: Serve) -> None:
    server, _ = serve()
    mta = ScriptedMTA(server.server_address)
    mta.send(mp.OPTNEG, struct.pack("!III", 2, ALL_ACTIONS, 0x7F))
    assert mta.closed()


def test_steps_the_mta_insists_on_answering_get_continue(serve: Serve) -> None:
    server, log = serve()
    mta = ScriptedMTA(server.server_address)
    mta.negotiate(steps=0)  # an MTA that offers no skipping and no silent steps
    mta.send(mp.MAIL, b"<a@example.cn>\0")
    assert mta.receive() == (mp.R_CONTINUE, b"")
    mta.send(mp.HEADER, b"Subject\0 hi\0")
    assert mta.receive() == (mp.R_CONTINUE, b"")
    assert ("header", ("Subject", " hi")) in log


def test_silent_steps_get_no_answer_and_the_end_gets_modifications_then_the_reply(serve: Serve) -> None:
    outcome = mp.Outcome(mp.ACCEPT, [mp.Quarantine("held for review"), mp.DeleteHeader("X-Old", 1)])
    server, log = serve(outcome)
    mta = ScriptedMTA(server.server_address)
    mta.negotiate()
    mta.message([("Subject", " hi")], b"line\r\n")
    assert mta.end() == [
        (mp.R_QUARANTINE, b"held for review\0"),
        (mp.R_CHGHEADER, struct.pack("!I", 1) + b"X-Old\0\0"),
        (mp.R_ACCEPT, b""),
    ]
    assert [entry[0] for entry in log] == ["mail", "rcpt", "header", "body", "end"]
    assert ("mail", ("<author@example.cn>", ["SIZE=100"])) in log


def test_an_added_header_gets_its_leading_space_when_values_keep_theirs(serve: Serve) -> None:
    server, _ = serve(mp.Outcome(mp.ACCEPT, [mp.AddHeader("X-Verdict", "pass")]))
    spaced = ScriptedMTA(server.server_address)
    spaced.negotiate()
    spaced.message([], b"")
    assert spaced.end()[0] == (mp.R_ADDHEADER, b"X-Verdict\0 pass\0")
    plain = ScriptedMTA(server.server_address)
    plain.negotiate(steps=ALL_STEPS & ~mp.P_HDR_LEADSPC)
    plain.message([], b"")
    assert plain.end()[0] == (mp.R_ADDHEADER, b"X-Verdict\0pass\0")


def test_modifications_the_mta_did_not_allow_are_not_sent(serve: Serve) -> None:
    server, _ = serve(mp.Outcome(mp.ACCEPT, [mp.AddHeader("X-Verdict", "flag"), mp.Quarantine("why")]))
    mta = ScriptedMTA(server.server_address)
    mta.negotiate(actions=mp.F_QUARANTINE)
    mta.message([], b"")
    assert mta.end() == [(mp.R_QUARANTINE, b"why\0"), (mp.R_ACCEPT, b"")]


def test_an_smtp_reply_travels_as_one_printable_line(serve: Serve) -> None:
    server, _ = serve(mp.Outcome(mp.Reply.smtp(550, "5.7.1", "refused:\r\nrule x in 报告.docx")))
    mta = ScriptedMTA(server.server_address)
    mta.negotiate()
    mta.message([], b"")
    assert mta.end() == [(mp.R_REPLYCODE, "550 5.7.1 refused:  rule x in 报告.docx\0".encode())]


def test_an_smtp_reply_must_be_a_failure_with_a_matching_status() -> None:
    with pytest.raises(ValueError):
        mp.Reply.smtp(250, "2.0.0", "fine")
    with pytest.raises(ValueError):
        mp.Reply.smtp(550, "4.7.1", "mismatched")


def test_a_slow_handler_keeps_the_mta_waiting_with_progress_packets(serve: Serve) -> None:
    class Slow(mp.Handler):
        def end_of_message(self, progress: Callable[[], None]) -> mp.Outcome:
            progress()
            progress()
            return mp.Outcome(mp.TEMPFAIL)

    server, _ = serve(handler=Slow)
    mta = ScriptedMTA(server.server_address)
    mta.negotiate()
    mta.message([], b"")
    assert mta.end() == [(mp.R_PROGRESS, b""), (mp.R_PROGRESS, b""), (mp.R_TEMPFAIL, b"")]


def test_macros_reach_the_handler_at_the_end_of_the_message(serve: Serve) -> None:
    server, log = serve()
    mta = ScriptedMTA(server.server_address)
    mta.negotiate()
    mta.message([], b"", macros={"i": "4F2A81C0", "{mail_addr}": "author@example.cn"})
    mta.end()
    assert ("end", {"i": "4F2A81C0", "mail_addr": "author@example.cn"}) in log


def test_abort_forgets_the_message_and_keeps_the_connection(serve: Serve) -> None:
    server, log = serve()
    mta = ScriptedMTA(server.server_address)
    mta.negotiate()
    mta.message([("Subject", " first")], b"")
    mta.send(mp.ABORT)
    mta.message([("Subject", " second")], b"")
    assert mta.end()[-1] == (mp.R_ACCEPT, b"")
    assert ("abort", None) in log


def test_quit_nc_starts_a_new_session_on_the_same_connection(serve: Serve) -> None:
    server, log = serve(mp.Outcome(mp.ACCEPT, [mp.AddHeader("X-Verdict", "pass")]))
    mta = ScriptedMTA(server.server_address)
    mta.negotiate()
    mta.send(mp.QUIT_NC)
    mta.message([], b"")
    assert mta.end()[0][0] == mp.R_ADDHEADER  # the new session kept the negotiated actions
    assert [entry[0] for entry in log].count("close") == 1


def test_a_packet_longer_than_any_mta_sends_closes_the_connection(serve: Serve) -> None:
    server, _ = serve()
    mta = ScriptedMTA(server.server_address)
    mta.negotiate()
    mta.sock.sendall(struct.pack("!I", mp.MAX_PACKET + 1) + b"B")
    assert mta.closed()


def test_connect_gives_the_client_host_and_address(serve: Serve) -> None:
    server, log = serve()
    mta = ScriptedMTA(server.server_address)
    mta.negotiate()
    mta.send(mp.CONNECT, b"mail.example.cn\x004" + struct.pack("!H", 4567) + b"192.0.2.7\0")
    mta.send(mp.QUIT)
    assert mta.closed()
    assert ("connect", ("mail.example.cn", "192.0.2.7")) in log


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("inet:10025@127.0.0.1", (socket.AF_INET, ("127.0.0.1", 10025))),
        ("inet:127.0.0.1:10025", (socket.AF_INET, ("127.0.0.1", 10025))),
        ("inet:10025", (socket.AF_INET, ("127.0.0.1", 10025))),
        ("inet6:10025@[::1]", (socket.AF_INET6, ("::1", 10025))),
        ("unix:/run/baomi/milter.sock", (socket.AF_UNIX, "/run/baomi/milter.sock")),
        ("local:/run/baomi/milter.sock", (socket.AF_UNIX, "/run/baomi/milter.sock")),
    ],
)
def test_listen_specs_in_sendmail_and_postfix_forms(spec: str, expected: object) -> None:
    assert mp.parse_listen(spec) == expected


@pytest.mark.parametrize("spec", ["10025", "inet:port@host", "inet:99999@127.0.0.1", "tcp:10025", "unix:"])
def test_listen_specs_that_are_not_sockets_are_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        mp.parse_listen(spec)


def test_unix_socket_listener_replaces_a_socket_left_by_a_dead_milter(serve: Serve, tmp_path: Path) -> None:
    path = tmp_path / "milter.sock"
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(path))
    dead.close()  # the file stays, nobody listens
    serve(listen=f"unix:{path}")
    mta = ScriptedMTA(str(path))
    mta.negotiate()
    assert path.stat().st_mode & 0o777 == 0o660


def test_unix_socket_listener_leaves_a_live_milter_and_other_files_alone(serve: Serve, tmp_path: Path) -> None:
    path = tmp_path / "milter.sock"
    serve(listen=f"unix:{path}")
    with pytest.raises(ValueError, match="another milter"):
        mp.MilterServer(f"unix:{path}", mp.Handler)
    regular = tmp_path / "notes.txt"
    regular.write_text("keep me")
    with pytest.raises(ValueError, match="not a socket"):
        mp.MilterServer(f"unix:{regular}", mp.Handler)
    assert regular.read_text() == "keep me"


def test_connections_are_served_at_the_same_time(serve: Serve) -> None:
    gate = threading.Barrier(3, timeout=10)

    class Waiting(mp.Handler):
        def end_of_message(self, progress: Callable[[], None]) -> mp.Outcome:
            gate.wait()  # passes only when three sessions are inside end_of_message together
            return mp.Outcome(mp.ACCEPT)

    server, _ = serve(handler=Waiting)
    mtas = [ScriptedMTA(server.server_address) for _ in range(3)]
    for mta in mtas:
        mta.negotiate()
        mta.message([], b"")
        mta.send(mp.BODYEOB)
    assert [mta.receive() for mta in mtas] == [(mp.R_ACCEPT, b"")] * 3
