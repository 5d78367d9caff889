"""The ICAP wire protocol (RFC 3507) as a server speaks it: requests, encapsulated HTTP heads, chunked bodies with
preview and `100 Continue`, and the responses. Knows nothing of scanning; the door decides, this module talks.
"""

from __future__ import annotations

import contextlib
import re
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import formatdate

CRLF = b"\r\n"
MAX_LINE = 16 * 1024  # one request line, header line or chunk-size line
HEX = re.compile(rb"[0-9A-Fa-f]{1,15}")
MAX_HEAD = 256 * 1024  # all of an ICAP head, or of an encapsulated HTTP head

REASONS = {
    100: "Continue",
    200: "OK",
    204: "No Content",
    400: "Bad Request",
    404: "ICAP Service Not Found",
    405: "Method Not Allowed For Service",
    408: "Request Timeout",
    500: "Server Error",
    501: "Method Not Implemented",
    503: "Service Overloaded",
    505: "ICAP Version Not Supported",
}


class IcapError(Exception):
    """A request this server cannot answer normally; `status` is the ICAP status to send before closing."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status} {REASONS.get(status, '')}: {detail}")
        self.status = status
        self.detail = detail


class Disconnected(Exception):
    """The client closed the connection, or went quiet past a timeout."""


class BodyTooLarge(Exception):
    """The encapsulated body grew past the limit the caller set; the rest of it was not read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"body over {limit} bytes")
        self.limit = limit


class Headers:
    """Header fields in their order, looked up without regard to case (as RFC 3507 and RFC 9110 want)."""

    def __init__(self, fields: Iterable[tuple[str, str]] = ()) -> None:
        self.fields = list(fields)

    def get(self, name: str, default: str | None = None) -> str | None:
        wanted = name.lower()
        for key, value in self.fields:
            if key.lower() == wanted:
                return value
        return default

    def all(self, name: str) -> list[str]:
        """The value of every field called `name`, in order."""
        wanted = name.lower()
        return [value for key, value in self.fields if key.lower() == wanted]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def tokens(self, name: str) -> set[str]:
        """The comma-separated values of every field called `name`, lower-cased (`Allow: 204, trailers`)."""
        wanted = name.lower()
        return {
            token.strip().lower() for key, value in self.fields if key.lower() == wanted for token in value.split(",")
        } - {""}

    @classmethod
    def parse(cls, lines: list[bytes]) -> Headers:
        fields: list[tuple[str, str]] = []
        for raw in lines:
            line = raw.decode("latin-1")
            if line[:1] in (" ", "\t") and fields:  # obsolete line folding: part of the previous field
                key, value = fields[-1]
                fields[-1] = (key, f"{value} {line.strip()}")
                continue
            key, colon, value = line.partition(":")
            if not colon or not key or key != key.strip():
                raise IcapError(400, f"malformed header line {line[:80]!r}")
            fields.append((key, value.strip()))
        return cls(fields)


@dataclass
class HttpHead:
    """The head of the encapsulated HTTP request: its start line, header fields and the bytes as received."""

    method: str
    target: str
    version: str
    headers: Headers
    raw: bytes

    @classmethod
    def parse(cls, raw: bytes) -> HttpHead:
        lines = raw.split(CRLF)
        while lines and not lines[-1]:
            lines.pop()
        if not lines:
            raise IcapError(400, "empty encapsulated HTTP head")
        parts = lines[0].decode("latin-1").split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            raise IcapError(400, f"malformed encapsulated request line {lines[0][:80]!r}")
        return cls(parts[0], parts[1], parts[2], Headers.parse(lines[1:]), raw)

    def with_header(self, name: str, value: str) -> bytes:
        """The head as received with one more header field (the ones of that name before it removed)."""
        lines = [line for line in self.raw.split(CRLF) if line]
        prefix = name.lower().encode("latin-1") + b":"
        kept = [lines[0], *(line for line in lines[1:] if not line.lower().startswith(prefix))]
        return CRLF.join([*kept, f"{name}: {value}".encode("latin-1")]) + CRLF + CRLF


@dataclass
class IcapRequest:
    method: str
    uri: str
    version: str
    headers: Headers
    http: HttpHead | None = None  # the encapsulated request head (REQMOD)
    has_body: bool = False  # a req-body follows, chunked
    preview: int | None = None  # the client sends this many bytes first, then waits for 100 Continue

    @property
    def path(self) -> str:
        """The service path of the ICAP URI (`icap://host:port/reqmod?x` → `/reqmod`)."""
        rest = self.uri.split("://", 1)[1] if "://" in self.uri else self.uri
        path = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
        return path.split("?", 1)[0]

    @property
    def allows_204(self) -> bool:
        return "204" in self.headers.tokens("Allow")


@dataclass
class Encapsulated:
    """The `Encapsulated` header: which entities follow and where each starts (RFC 3507 section 4.4.1)."""

    sections: list[tuple[str, int]] = field(default_factory=list)

    @classmethod
    def parse(cls, value: str | None) -> Encapsulated:
        if value is None:
            raise IcapError(400, "no Encapsulated header")
        sections: list[tuple[str, int]] = []
        for item in value.split(","):
            name, eq, offset = item.strip().partition("=")
            if not eq or not offset.strip().isdigit():
                raise IcapError(400, f"malformed Encapsulated header {value!r}")
            sections.append((name.strip().lower(), int(offset)))
        offsets = [offset for _, offset in sections]
        if offsets != sorted(offsets) or offsets[0] != 0:
            raise IcapError(400, f"Encapsulated offsets out of order in {value!r}")
        return cls(sections)

    def length(self, name: str) -> int | None:
        """How many bytes the entity called `name` takes: from its offset to the next one's."""
        for i, (entity, offset) in enumerate(self.sections):
            if entity == name:
                if i + 1 == len(self.sections):
                    raise IcapError(400, f"{name} cannot be the last entity in Encapsulated")
                return self.sections[i + 1][1] - offset
        return None

    @property
    def body(self) -> str | None:
        last = self.sections[-1][0] if self.sections else None
        return None if last == "null-body" else last


class Connection:
    """One client connection: buffered reads with an idle timeout between requests, a deadline for a request's heads
    (ICAP and encapsulated HTTP) from their first byte, a read timeout for each wait inside a request and a deadline
    for a whole request, so a slow or silent client cannot hold a thread for ever."""

    def __init__(
        self, sock: socket.socket, idle_timeout: float, read_timeout: float, deadline: float, header_timeout: float
    ) -> None:
        self.sock = sock
        self.idle_timeout = idle_timeout
        self.read_timeout = read_timeout
        self.deadline_seconds = deadline
        self.header_timeout = min(header_timeout, deadline)
        self._buffer = bytearray()
        self._deadline = float("inf")
        self._waiting_for_request = True
        self.waiting_for_head = True  # between requests, or while a request's heads arrive: nothing under way yet

    @property
    def idle(self) -> bool:
        """Nothing under way: between requests, or while a request's heads arrive (scanner.doors.admission)."""
        return self.waiting_for_head

    # -- reading

    def read_request(self) -> IcapRequest | None:
        """The next request's head and encapsulated HTTP head; None when the client closed between requests."""
        self._waiting_for_request = True
        self.waiting_for_head = True
        try:
            if not self._buffer and not self._fill():
                return None
        except Disconnected:
            return None
        self._waiting_for_request = False
        started = time.monotonic()
        self._deadline = started + self.header_timeout
        request = self._read_heads()
        self._deadline = started + self.deadline_seconds
        self.waiting_for_head = False
        return request

    def _read_heads(self) -> IcapRequest:
        lines = self._read_head_lines()
        parts = lines[0].decode("latin-1").split(" ")
        if len(parts) != 3:
            raise IcapError(400, f"malformed request line {lines[0][:80]!r}")
        method, uri, version = parts
        if not version.startswith("ICAP/"):
            raise IcapError(400, f"not an ICAP request: {lines[0][:80]!r}")
        if version != "ICAP/1.0":
            raise IcapError(505, version)
        request = IcapRequest(method, uri, version, Headers.parse(lines[1:]))
        value = request.headers.get("Encapsulated")
        # Some clients leave the header out of OPTIONS, which has nothing encapsulated anyway.
        encapsulated = Encapsulated() if value is None and method == "OPTIONS" else Encapsulated.parse(value)
        head_length = encapsulated.length("req-hdr")
        if head_length is not None:
            if head_length > MAX_HEAD:
                raise IcapError(400, "encapsulated HTTP head too long")
            request.http = HttpHead.parse(self._read_exactly(head_length))
        body = encapsulated.body
        if body not in (None, "req-body"):
            raise IcapError(400, f"unexpected {body} in a request")
        request.has_body = body == "req-body"
        preview = request.headers.get("Preview")
        if preview is not None:
            if not preview.strip().isdigit():
                raise IcapError(400, f"malformed Preview header {preview!r}")
            request.preview = int(preview)
        return request

    def read_body(self, request: IcapRequest, limit: int) -> bytes:
        """The whole encapsulated body: the preview, then (unless it ended with ieof) `100 Continue` and the rest.
        Raises BodyTooLarge as soon as more than `limit` bytes have come, leaving the rest unread."""
        if not request.has_body:
            return b""
        data, ieof = self._read_chunks(limit)
        if request.preview is not None and not ieof:
            self.send(status_line(100) + CRLF)
            rest, _ = self._read_chunks(limit - len(data))
            data += rest
        return data

    def _read_chunks(self, limit: int) -> tuple[bytes, bool]:
        """Chunks up to the last (zero-size) one; whether that one carried the `ieof` extension."""
        data = bytearray()
        while True:
            line = self._read_line()
            size_text, _, extensions = line.partition(b";")
            if not HEX.fullmatch(size_text.strip()):  # int() alone would take "0x1f", "+1f" and "1_f"
                raise IcapError(400, f"malformed chunk size {line[:40]!r}")
            size = int(size_text, 16)
            if size == 0:
                while self._read_line():  # trailer fields, which nothing here needs
                    pass
                return bytes(data), b"ieof" in extensions.lower()
            if len(data) + size > limit:
                raise BodyTooLarge(limit)
            data += self._read_exactly(size)
            if self._read_exactly(2) != CRLF:
                raise IcapError(400, "chunk not followed by CRLF")

    def _read_head_lines(self) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        while True:
            line = self._read_line()
            if not line:
                if not lines:
                    continue  # tolerate stray blank lines between requests
                return lines
            total += len(line)
            if total > MAX_HEAD:
                raise IcapError(400, "ICAP head too long")
            lines.append(line)

    def _read_line(self) -> bytes:
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[: end + 1])
                del self._buffer[: end + 1]
                return line.rstrip(b"\r\n")
            if len(self._buffer) > MAX_LINE:
                raise IcapError(400, "line too long")
            if not self._fill():
                raise Disconnected("closed in the middle of a request")

    def _read_exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            if not self._fill():
                raise Disconnected("closed in the middle of a request")
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _fill(self) -> bool:
        if self._waiting_for_request:
            timeout = self.idle_timeout
        else:
            timeout = min(self.read_timeout, self._deadline - time.monotonic())
            if timeout <= 0:
                what = "request's heads" if self.waiting_for_head else "request"
                raise Disconnected(f"the {what} took longer than the deadline")
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            raise Disconnected("timed out waiting for the client") from None
        except OSError as exc:
            raise Disconnected(str(exc)) from None
        self._buffer += chunk
        return bool(chunk)

    def finish(self, answer: bytes) -> None:
        """Send the answer to the request under way; from then on the connection waits for the next one."""
        self.send(answer)
        self.waiting_for_head = True

    def close_now(self) -> None:
        """End the connection from another thread: the one serving it sees the client gone."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    # -- writing

    def send(self, data: bytes) -> None:
        self.sock.settimeout(self.read_timeout)
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise Disconnected(str(exc)) from None


# -- responses


def status_line(status: int) -> bytes:
    return f"ICAP/1.0 {status} {REASONS.get(status, 'Unknown')}".encode("ascii") + CRLF


def response_head(status: int, istag: str, fields: Iterable[tuple[str, str]] = ()) -> bytes:
    lines = [("Date", formatdate(usegmt=True)), ("ISTag", f'"{istag}"'), *fields]
    return status_line(status) + b"".join(f"{k}: {v}".encode("latin-1") + CRLF for k, v in lines)


def chunked(data: bytes) -> list[bytes]:
    """`data` as one chunk and the last chunk (or the last chunk alone when empty), in pieces to join once: a body
    may be tens of megabytes, and each copy of it counts."""
    last = b"0" + CRLF + CRLF
    return [f"{len(data):x}".encode("ascii") + CRLF, data, CRLF + last] if data else [last]


def options_response(istag: str, fields: Iterable[tuple[str, str]]) -> bytes:
    return response_head(200, istag, [*fields, ("Encapsulated", "null-body=0")]) + CRLF


def no_content(istag: str) -> bytes:
    """204: the client uses its own copy of the request unchanged."""
    return response_head(204, istag, [("Encapsulated", "null-body=0")]) + CRLF


def request_response(istag: str, http_head: bytes, body: bytes | None) -> bytes:
    """200 with a (possibly modified) HTTP request to send on; `body` None when the request has none."""
    entity = "req-body" if body is not None else "null-body"
    head = response_head(200, istag, [("Encapsulated", f"req-hdr=0, {entity}={len(http_head)}")]) + CRLF
    return b"".join([head, http_head, *(chunked(body) if body is not None else [])])


def http_response(istag: str, status: int, reason: str, fields: Iterable[tuple[str, str]], body: bytes) -> bytes:
    """200 carrying an HTTP response for the client instead of its request going on (a block page)."""
    http_lines = [
        f"HTTP/1.1 {status} {reason}".encode("latin-1"),
        *(f"{k}: {v}".encode("latin-1") for k, v in [*fields, ("Content-Length", str(len(body)))]),
    ]
    http_head = CRLF.join(http_lines) + CRLF + CRLF
    head = response_head(200, istag, [("Encapsulated", f"res-hdr=0, res-body={len(http_head)}")]) + CRLF
    return b"".join([head, http_head, *chunked(body)])


def error_response(istag: str, status: int) -> bytes:
    return response_head(status, istag, [("Connection", "close"), ("Encapsulated", "null-body=0")]) + CRLF
