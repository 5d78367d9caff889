"""The milter protocol (version 6, as Postfix and Sendmail speak it) on the milter's side: framing, negotiation,
the commands an MTA sends and the replies and modifications a milter sends back. No baomi logic lives here.

Each packet is a 4-byte big-endian length, a one-byte command and its data; strings are NUL-terminated. A handler
sees a session as method calls (envelope, headers, body chunks, end of message) and answers the end of the message
with modifications and one final reply.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from scanner.doors.listening import Listener
from scanner.i18n import msg

log = logging.getLogger("baomi.milter")

VERSION = 6
# Commands from the MTA.
ABORT, BODY, CONNECT, MACRO, BODYEOB, HELO = b"A", b"B", b"C", b"D", b"E", b"H"
QUIT_NC, HEADER, MAIL, EOH, OPTNEG, QUIT, RCPT, DATA, UNKNOWN = b"K", b"L", b"M", b"N", b"O", b"Q", b"R", b"T", b"U"
# Replies and modifications from the milter.
R_ACCEPT, R_CONTINUE, R_REJECT, R_TEMPFAIL, R_REPLYCODE = b"a", b"c", b"r", b"t", b"y"
R_ADDHEADER, R_CHGHEADER, R_QUARANTINE, R_PROGRESS, R_OPTNEG = b"h", b"m", b"q", b"p", b"O"

# Actions a milter may ask to take (SMFIF_*).
F_ADDHDRS, F_CHGHDRS, F_QUARANTINE = 0x01, 0x10, 0x20
# Protocol steps a milter may skip or not answer (SMFIP_*).
P_NOCONNECT, P_NOHELO, P_NOMAIL, P_NORCPT, P_NOBODY, P_NOHDRS, P_NOEOH = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40
P_NR_HDR, P_NOUNKNOWN, P_NODATA, P_NR_CONN, P_NR_HELO = 0x80, 0x100, 0x200, 0x1000, 0x2000
P_NR_MAIL, P_NR_RCPT, P_NR_DATA, P_NR_UNKN, P_NR_EOH, P_NR_BODY = 0x4000, 0x8000, 0x10000, 0x20000, 0x40000, 0x80000
P_HDR_LEADSPC = 0x100000

# A content filter decides only at the end of the message, so every earlier step is skipped or left unanswered when
# the MTA allows it: a message then costs one round trip plus its packets.
WANTED_PROTOCOL = (
    P_NOHELO
    | P_NOUNKNOWN
    | P_NODATA
    | P_NR_CONN
    | P_NR_MAIL
    | P_NR_RCPT
    | P_NR_HDR
    | P_NR_EOH
    | P_NR_BODY
    | P_HDR_LEADSPC
)
WANTED_ACTIONS = F_ADDHDRS | F_CHGHDRS | F_QUARANTINE
# Which negotiated flag silences the reply to which command.
_NO_REPLY = {CONNECT: P_NR_CONN, HELO: P_NR_HELO, MAIL: P_NR_MAIL, RCPT: P_NR_RCPT, HEADER: P_NR_HDR, EOH: P_NR_EOH}
_NO_REPLY |= {BODY: P_NR_BODY, DATA: P_NR_DATA, UNKNOWN: P_NR_UNKN}

MAX_PACKET = 16 * 1024 * 1024  # Postfix sends body chunks of 64 KB; anything near this is not an MTA talking
_LENGTH = struct.Struct("!I")


class ProtocolError(Exception):
    """The peer broke the protocol; the connection is closed."""


# Replies and modifications ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """The final answer about a message (or a step): accept, continue, tempfail, reject, or an SMTP reply."""

    command: bytes
    text: str = ""  # for R_REPLYCODE: "550 5.7.1 why"

    def encode(self) -> bytes:
        return packet(self.command, _cstring(self.text) if self.command == R_REPLYCODE else b"")

    @classmethod
    def smtp(cls, code: int, status: str, text: str) -> Reply:
        """An SMTP reply such as 550 5.7.1; the text is folded to one safe line."""
        if not (400 <= code < 600 and status[:1] == str(code)[0]):
            raise ValueError(f"{code} {status} is not a temporary or permanent failure")
        clean = "".join(c if c.isprintable() else " " for c in text)
        return cls(R_REPLYCODE, f"{code} {status} {clean}")


ACCEPT = Reply(R_ACCEPT)
CONTINUE = Reply(R_CONTINUE)
TEMPFAIL = Reply(R_TEMPFAIL)
REJECT = Reply(R_REJECT)


@dataclass(frozen=True)
class AddHeader:
    name: str
    value: str

    def encode(self, leading_space: bool = False) -> bytes:
        """With HDR_LEADSPC negotiated the MTA writes the value verbatim after the colon, so it needs its space."""
        value = " " + self.value if leading_space and not self.value[:1].isspace() else self.value
        return packet(R_ADDHEADER, _cstring(self.name) + _cstring(value))


@dataclass(frozen=True)
class DeleteHeader:
    """Remove the `index`-th (1-based) occurrence of the header `name`."""

    name: str
    index: int

    def encode(self, leading_space: bool = False) -> bytes:
        return packet(R_CHGHEADER, _LENGTH.pack(self.index) + _cstring(self.name) + _cstring(""))


@dataclass(frozen=True)
class Quarantine:
    """Hold the message (Postfix: the hold queue) with a reason for the administrator."""

    reason: str

    def encode(self, leading_space: bool = False) -> bytes:
        return packet(R_QUARANTINE, _cstring(self.reason))


Modification = AddHeader | DeleteHeader | Quarantine


@dataclass
class Outcome:
    """What a handler decides at the end of a message."""

    reply: Reply
    modifications: list[Modification] = field(default_factory=list)


# The handler -----------------------------------------------------------------------------------------------------


class Handler:
    """One SMTP connection's view of the protocol; a subclass overrides what it needs. `macros` holds what the MTA
    sent (e.g. `i`, the queue ID); `actions` the modifications the MTA agreed to."""

    def __init__(self) -> None:
        self.macros: dict[str, str] = {}
        self.actions = 0

    def connect(self, hostname: str, address: str) -> None:
        """A client connected (address is empty for a local or unknown family)."""

    def mail(self, sender: str, arguments: list[str]) -> None:
        """MAIL FROM: a new message begins."""

    def rcpt(self, recipient: str, arguments: list[str]) -> None:
        """RCPT TO: one recipient."""

    def header(self, name: str, value: str) -> None:
        """One header field; `value` keeps its leading space when the MTA allows it."""

    def end_of_headers(self) -> None:
        """The blank line between headers and body."""

    def body(self, chunk: bytes) -> None:
        """A chunk of the body, with CRLF line ends."""

    def end_of_message(self, progress: Callable[[], None]) -> Outcome:
        """The whole message is in: decide. Call `progress()` at least every few minutes while working."""
        return Outcome(ACCEPT)

    def abort(self) -> None:
        """The message was abandoned (RSET, or the client went away); forget it, keep the connection."""

    def close(self) -> None:
        """The connection ends."""


# Framing ---------------------------------------------------------------------------------------------------------


def packet(command: bytes, data: bytes = b"") -> bytes:
    return _LENGTH.pack(len(data) + 1) + command + data


def _cstring(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape").replace(b"\0", b" ") + b"\0"


def strings(data: bytes) -> list[str]:
    """The NUL-terminated strings of a packet's data (undecodable bytes kept as surrogates)."""
    if not data:
        return []
    parts = data.split(b"\0")
    if parts[-1] == b"":
        parts.pop()
    return [p.decode("utf-8", "surrogateescape") for p in parts]


def read_packet(sock: socket.socket) -> tuple[bytes, bytes] | None:
    """One (command, data) pair, or None when the peer closed the connection between packets."""
    header = _read_exactly(sock, _LENGTH.size, eof_ok=True)
    if header is None:
        return None
    (length,) = _LENGTH.unpack(header)
    if not 1 <= length <= MAX_PACKET:
        raise ProtocolError(f"packet length {length}")
    body = _read_exactly(sock, length, eof_ok=False)
    assert body is not None
    return body[:1], body[1:]


def _read_exactly(sock: socket.socket, size: int, eof_ok: bool) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 16))
        if not chunk:
            if eof_ok and left == size:
                return None
            raise ProtocolError("connection closed inside a packet")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def parse_connect(data: bytes) -> tuple[str, str]:
    """CONNECT: hostname, family (4, 6, L, U), port, address."""
    hostname, _, rest = data.partition(b"\0")
    address = ""
    if rest[:1] in (b"4", b"6") and len(rest) >= 3:
        address = rest[3:].rstrip(b"\0").decode("ascii", "replace")
    return hostname.decode("utf-8", "replace"), address


def parse_macros(data: bytes) -> dict[str, str]:
    """MACRO: the command the macros are for, then name/value pairs; braces are dropped from names."""
    items = strings(data[1:])
    return {items[i].strip("{}"): items[i + 1] for i in range(0, len(items) - 1, 2)}


def negotiate(data: bytes) -> tuple[int, int, bytes]:
    """The MTA's OPTNEG offer → (actions, protocol flags) we take and the reply packet."""
    if len(data) < 12:
        raise ProtocolError("short option negotiation")
    version, offered_actions, offered_protocol = struct.unpack("!III", data[:12])
    if version < VERSION:
        raise ProtocolError(f"the MTA speaks milter protocol version {version}; version {VERSION} is needed")
    actions = WANTED_ACTIONS & offered_actions
    protocol = WANTED_PROTOCOL & offered_protocol
    return actions, protocol, packet(R_OPTNEG, struct.pack("!III", VERSION, actions, protocol))


# One connection --------------------------------------------------------------------------------------------------


class Session:
    """Runs the protocol for one MTA connection, calling its handler."""

    def __init__(self, sock: socket.socket, new_handler: Callable[[], Handler]) -> None:
        self.sock = sock
        self.new_handler = new_handler
        self.handler = new_handler()
        self.protocol = 0

    def run(self) -> None:
        try:
            while (item := read_packet(self.sock)) is not None:
                if not self.dispatch(*item):
                    break
        except (ProtocolError, OSError) as exc:
            log.warning(msg("milter connection dropped: {error}", error=str(exc)))
        finally:
            self.handler.close()

    def dispatch(self, command: bytes, data: bytes) -> bool:
        """Handle one packet; False when the connection is to be closed."""
        handler = self.handler
        if command == OPTNEG:
            handler.actions, self.protocol, reply = negotiate(data)
            self.sock.sendall(reply)
            return True
        if command == MACRO:
            handler.macros.update(parse_macros(data))
            return True
        if command == QUIT:
            return False
        if command == QUIT_NC:  # the MTA reuses this connection for a new SMTP session
            handler.close()
            self.handler = self.new_handler()
            self.handler.actions = handler.actions
            return True
        if command == ABORT:
            handler.abort()
            return True
        if command == BODYEOB:
            if data:
                handler.body(data)
            outcome = handler.end_of_message(self._progress)
            allowed = [m for m in outcome.modifications if _permitted(m, handler.actions)]
            spaced = bool(self.protocol & P_HDR_LEADSPC)
            self.sock.sendall(b"".join(m.encode(spaced) for m in allowed) + outcome.reply.encode())
            return True
        self._step(command, data)
        if not self.protocol & _NO_REPLY.get(command, 0):
            self.sock.sendall(CONTINUE.encode())
        return True

    def _step(self, command: bytes, data: bytes) -> None:
        handler = self.handler
        if command == CONNECT:
            handler.connect(*parse_connect(data))
        elif command == MAIL:
            args = strings(data)
            handler.mail(args[0] if args else "", args[1:])
        elif command == RCPT:
            args = strings(data)
            handler.rcpt(args[0] if args else "", args[1:])
        elif command == HEADER:
            name, value = ([*strings(data), "", ""])[:2]
            handler.header(name, value)
        elif command == EOH:
            handler.end_of_headers()
        elif command == BODY:
            handler.body(data)
        elif command not in (HELO, DATA, UNKNOWN):
            raise ProtocolError(f"unknown command {command!r}")

    def _progress(self) -> None:
        self.sock.sendall(packet(R_PROGRESS))


def _permitted(modification: Modification, actions: int) -> bool:
    needed = {AddHeader: F_ADDHDRS, DeleteHeader: F_CHGHDRS, Quarantine: F_QUARANTINE}[type(modification)]
    return bool(actions & needed)


# The listener ----------------------------------------------------------------------------------------------------


def parse_listen(spec: str) -> tuple[int, str | tuple[str, int]]:
    """A milter socket as Sendmail and Postfix write it: `inet:PORT@HOST`, `inet:HOST:PORT`, `inet6:PORT@HOST`,
    `unix:/path` (or `local:/path`) → (address family, address)."""
    kind, _, rest = spec.partition(":")
    if kind in ("unix", "local") and rest:
        return socket.AF_UNIX, rest
    if kind in ("inet", "inet6") and rest:
        if "@" in rest:
            port, _, host = rest.partition("@")
        else:
            host, _, port = rest.rpartition(":")
        host = host.strip("[]") or ("::1" if kind == "inet6" else "127.0.0.1")
        if port.isdigit() and int(port) < 65536:  # port 0: any free port
            return (socket.AF_INET6 if kind == "inet6" else socket.AF_INET), (host, int(port))
    raise ValueError(msg("expected inet:PORT@HOST, inet6:PORT@HOST or unix:/path"))


class _RequestHandler(socketserver.BaseRequestHandler):
    server: MilterServer

    def handle(self) -> None:
        Session(self.request, self.server.new_handler).run()


class MilterServer(Listener):
    """A threaded listener: one thread per MTA connection, each with its own Handler."""

    def __init__(self, listen: str, new_handler: Callable[[], Handler], socket_mode: int = 0o660) -> None:
        self.new_handler = new_handler
        family, address = parse_listen(listen)
        super().__init__(family, address, _RequestHandler, socket_mode, what="milter")

    def serve_in_thread(self, name: str = "milter-listener", poll_interval: float = 0.5) -> threading.Thread:
        return super().serve_in_thread(name, poll_interval)
