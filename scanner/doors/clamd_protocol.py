"""The clamd protocol as ClamAV's clamd speaks it (clamd/session.c and clamd/server-th.c of ClamAV 1.4): commands
with the `z` (NUL-ended) or `n` (newline-ended) prefix or none, INSTREAM's length-prefixed chunks, IDSESSION's
numbered replies, and clamd's reply texts byte for byte. No scanning here: `scanner.doors.clamd` answers.
"""

from __future__ import annotations

import contextlib
import socket
import time
from dataclasses import dataclass
from typing import IO

from scanner.i18n import msg
from scanner.titles import os_error

# clamd's command buffer is PATH_MAX + 8 bytes; a command that does not fit ends the connection without a word.
MAX_COMMAND = 4096 + 8
TIMED_OUT = b"COMMAND READ TIMED OUT\n"  # always ended by a newline, whatever the command's prefix
STREAM = b"stream"  # what an INSTREAM reply names

# clamd's table, in its order (VERSIONCOMMANDS before VERSION: a command is found by its beginning): the name, the
# command it is (QUIT is SHUTDOWN), whether it takes an argument, and whether it may come without a z or n prefix.
_TABLE = (
    ("SCAN", "SCAN", True, True),
    ("QUIT", "SHUTDOWN", False, True),
    ("RELOAD", "RELOAD", False, True),
    ("SELFCHECK", "SELFCHECK", False, True),
    ("PING", "PING", False, True),
    ("CONTSCAN", "CONTSCAN", True, True),
    ("VERSIONCOMMANDS", "VERSIONCOMMANDS", False, False),
    ("VERSION", "VERSION", False, True),
    ("END", "END", False, False),
    ("SHUTDOWN", "SHUTDOWN", False, True),
    ("MULTISCAN", "MULTISCAN", True, True),
    ("FILDES", "FILDES", False, True),
    ("STATS", "STATS", False, False),
    ("IDSESSION", "IDSESSION", False, False),
    ("INSTREAM", "INSTREAM", False, False),
    ("DETSTATSCLEAR", "DETSTATSCLEAR", False, True),
    ("DETSTATS", "DETSTATS", False, True),
    ("ALLMATCHSCAN", "ALLMATCHSCAN", True, False),
)
COMMAND_NAMES = tuple(name for name, *_ in _TABLE)  # as VERSIONCOMMANDS lists them
# What an IDSESSION accepts; anything else ends it with an error.
IN_SESSION = frozenset({"FILDES", "SCAN", "END", "INSTREAM", "VERSION", "PING", "STATS", "VERSIONCOMMANDS"})
UNKNOWN = ""


class Gone(Exception):
    """The client closed the connection, or it broke. Its argument, like those of the two below, is a Message for
    the log; the client is told nothing in words of ours (clamd's replies are protocol)."""


class TimedOut(Exception):
    """The client sent nothing for too long, or not all of it by the deadline."""


class TooLong(Exception):
    """A command longer than clamd's buffer."""


@dataclass(frozen=True)
class Command:
    """One command as it came: which it is (UNKNOWN when none), its argument, the byte its replies end with, and
    whether it came without a prefix (old style)."""

    name: str
    argument: bytes | None
    term: bytes
    oldstyle: bool
    text: bytes  # as sent, for the log


def parse(text: bytes, term: bytes, oldstyle: bool) -> Command:
    """clamd's parse_command: the first command of the table `text` begins with; one that needs an argument and has
    none, one that takes none and has more after it, or one sent old style that must not be, is UNKNOWN. The
    argument starts one byte after the name, whatever that byte is."""
    for written, name, needs_argument, old_style_too in _TABLE:
        if not text.startswith(written.encode()):
            continue
        rest = text[len(written) :]
        if (needs_argument and not rest) or (not needs_argument and rest) or (oldstyle and not old_style_too):
            break
        return Command(name, rest[1:] if needs_argument else None, term, oldstyle, text)
    return Command(UNKNOWN, None, term, oldstyle, text)


def take_command(buffer: bytearray) -> Command | None:
    """clamd's get_cmd: the command at the start of `buffer`, removed from it, or None while it is incomplete.
    `z` commands end at a NUL, `n` commands at a newline (a trailing CR or LF dropped); a command with neither
    prefix is the whole packet, up to a newline if there is one."""
    if not buffer:
        return None
    prefix = buffer[:1]
    if prefix in (b"z", b"n"):
        term = b"\0" if prefix == b"z" else b"\n"
        end = buffer.find(term)
        if end < 0:
            return None
        text = bytes(buffer[1:end])
        del buffer[: end + 1]
        return parse(text.rstrip(b"\r\n") if term == b"\n" else text, term, oldstyle=False)
    end = buffer.find(b"\n")
    end = len(buffer) if end < 0 else end
    text = bytes(buffer[:end])
    del buffer[: end + 1]
    return parse(text.rstrip(b"\r\n"), b"\n", oldstyle=True)


def reply(term: bytes, number: int, *parts: bytes) -> bytes:
    """A reply as clamd's conn_reply writes it: inside an IDSESSION the command's number first, then `path: text`
    or the text alone, ended by the command's own terminator."""
    head = f"{number}: ".encode() if number else b""
    return head + b": ".join(parts) + term


class Connection:
    """One client connection, read through a buffer: each wait for the client is bounded by a timeout, and the whole
    connection (and, within it, each stream) by a deadline, so that a silent or trickling client cannot hold a
    thread for ever."""

    def __init__(self, sock: socket.socket, seconds: float) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.deadline = time.monotonic() + seconds
        self.idle = True  # waiting for a command, nothing under way: may be closed to make room

    def command(self, timeout: float) -> Command | None:
        """The next command; None when the client closed the connection between commands."""
        self.idle = True
        while (found := take_command(self.buffer)) is None:
            if len(self.buffer) >= MAX_COMMAND:
                raise TooLong(msg("a command of more than {size} bytes", size=MAX_COMMAND))
            if not self._fill(timeout, self.deadline):
                if self.buffer:
                    raise Gone(msg("closed in the middle of a command"))
                return None
        self.idle = False
        return found

    def copy(self, size: int, into: IO[bytes], timeout: float, deadline: float) -> None:
        """Move the next `size` bytes of the stream into `into`."""
        while size:
            if not self.buffer and not self._fill(timeout, deadline):
                raise Gone(msg("closed in the middle of a stream"))
            piece = self.buffer[:size]
            into.write(piece)
            del self.buffer[: len(piece)]
            size -= len(piece)

    def exactly(self, size: int, timeout: float, deadline: float) -> bytes:
        while len(self.buffer) < size:
            if not self._fill(timeout, deadline):
                raise Gone(msg("closed in the middle of a stream"))
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def _fill(self, timeout: float, deadline: float) -> bool:
        left = min(timeout, deadline - time.monotonic(), self.deadline - time.monotonic())
        if left <= 0:
            raise TimedOut(msg("past the deadline"))
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            raise TimedOut(msg("nothing for {seconds} s", seconds=f"{left:.0f}")) from None
        except OSError as exc:
            raise Gone(os_error(exc)) from None
        self.buffer += chunk
        return bool(chunk)

    def send(self, data: bytes, timeout: float) -> None:
        self.sock.settimeout(timeout)
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise Gone(os_error(exc)) from None

    def close_now(self) -> None:
        """End the connection from another thread: the one serving it sees the client gone."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
