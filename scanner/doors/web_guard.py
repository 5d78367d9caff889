"""What keeps `baomi serve` answering while some clients hold connections open: a request's head must arrive in
`header_seconds`, a connection still waiting for one gives way when the service is full, and no client may have
more than `max_requests_per_client` requests in progress (slowloris, slow uploads).

uvicorn reads a request's head with no time limit and counts every open connection against its limit, so 64
connections that never finish their headers would hold the service; this module is its HTTP protocol with a clock.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from typing import Any

import h11
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from scanner.i18n import Message, msg, negotiate, render, speaking

log = logging.getLogger("baomi.web")

BUSY = msg("The service is busy: the file was not checked. Try again later.")
TOO_MANY = msg("Too many checks were sent at once: the file was not checked. Try again later.")


def refusal(code: str, message: Message, detail: str) -> dict[str, str]:
    """The JSON of a refusal (as web.Refusal says it), its message in the current language."""
    return {"error": code, "message": render(message), "detail": detail}


class Connections:
    """The open connections of one server, oldest first, and how long each may take to send a request's head."""

    def __init__(self, header_seconds: float, max_connections: int) -> None:
        self.header_seconds = header_seconds
        self.max_connections = max_connections
        self.open: dict[GuardedProtocol, None] = {}  # insertion order: oldest first

    def admit(self, connection: GuardedProtocol) -> bool:
        """Room for one more connection, made by closing the oldest still waiting for its head if need be; False
        when every connection is in the middle of a request."""
        if len(self.open) >= self.max_connections:
            idle = next((c for c in self.open if c.waiting_for_head), None)
            if idle is None:
                return False
            idle.drop(msg("the service is full and it has not sent a request"))
        self.open[connection] = None
        return True

    def protocol(self, **kwargs: Any) -> GuardedProtocol:
        """Build a protocol for uvicorn (its `http` setting takes any callable that does)."""
        return GuardedProtocol(connections=self, **kwargs)


class GuardedProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's head, from the connection's opening or the end of
    the previous answer; past it, or when a newer connection needs its place, the connection is closed."""

    def __init__(self, *args: Any, connections: Connections, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guard = connections
        self.head_deadline: asyncio.TimerHandle | None = None

    @property
    def waiting_for_head(self) -> bool:
        return self.conn.their_state is h11.IDLE

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        if not self.guard.admit(self):
            log.warning(
                msg("{client}: refused, every connection is in the middle of a request", client=_peer(self.client))
            )
            self.transport.write(_unavailable())
            self.transport.close()
            return
        self._watch_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.open.pop(self, None)
        self._stop_clock()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch_head()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch_head()

    def drop(self, why: Message) -> None:
        log.info(msg("{client}: connection closed: {why}", client=_peer(self.client), why=why))
        self._stop_clock()
        self.guard.open.pop(self, None)
        self.transport.close()

    def _watch_head(self) -> None:
        if self.transport.is_closing():
            return
        if not self.waiting_for_head:
            self._stop_clock()
        elif self.head_deadline is None:
            self.head_deadline = self.loop.call_later(self.guard.header_seconds, self._head_overdue)

    def _head_overdue(self) -> None:
        self.head_deadline = None
        if self.waiting_for_head and not self.transport.is_closing():
            self.drop(msg("no request head within {seconds} s", seconds=f"{self.guard.header_seconds:g}"))

    def _stop_clock(self) -> None:
        if self.head_deadline is not None:
            self.head_deadline.cancel()
            self.head_deadline = None


class ClientLimit:
    """ASGI middleware: a client (by address, the forwarded one behind a trusted proxy) with `limit` requests in
    progress is answered 429 for the next, so that one client's slow uploads cannot take every connection."""

    def __init__(self, app: ASGIApp, limit: int, language: str | None = None) -> None:
        self.app = app
        self.limit = limit
        self.language = language  # [i18n] language: for a browser that asks for none baomi speaks
        self.in_progress: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = _peer(scope.get("client"))
        if self.in_progress[client] >= self.limit:
            log.warning(msg("{client}: refused, {count} requests already in progress", client=client, count=self.limit))
            asked = dict(scope.get("headers", [])).get(b"accept-language", b"").decode("latin-1")
            with speaking(negotiate(asked, self.language)):
                body = refusal("too-many-requests", TOO_MANY, "this client has too many requests in progress")
            await _send_json(send, 429, body)
            return
        self.in_progress[client] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_progress[client] -= 1
            if not self.in_progress[client]:
                del self.in_progress[client]


def _peer(client: Any) -> str:
    return str(client[0]) if client else "unknown"


def _unavailable() -> bytes:
    """A whole 503 answer that closes the connection, for a connection uvicorn has not read a request from."""
    content = json.dumps(refusal("busy", BUSY, "every connection is taken"), ensure_ascii=False).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nconnection: close\r\n"
        f"retry-after: 10\r\ncontent-length: {len(content)}\r\n\r\n"
    )
    return head.encode() + content


async def _send_json(send: Send, status: int, body: dict[str, str]) -> None:
    content = json.dumps(body, ensure_ascii=False).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"connection", b"close"),  # its body, if any, is not read
        (b"retry-after", b"10"),
        (b"content-length", str(len(content)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})
