"""How many connections a door keeps open at once, and who gives way: when every place is taken, a new connection
makes room by closing the oldest one that waits for its next request (a client opens another when it needs one);
when every connection is in the middle of a request, the new one waits a moment for one to end, then is refused.
"""

from __future__ import annotations

import threading
import time
from typing import Generic, Protocol, TypeVar


class Held(Protocol):
    """A connection as admission sees it."""

    @property
    def idle(self) -> bool:
        """Waiting for its next request, nothing under way: it may be closed to make room."""

    def close_now(self) -> None:
        """End the connection from another thread: the one serving it sees the client gone."""


C = TypeVar("C", bound=Held)


class Admission(Generic[C]):
    def __init__(self, limit: int, patience: float) -> None:
        """`limit` connections at once; a new one waits up to `patience` seconds for room."""
        self.limit = limit
        self.patience = patience
        self._changed = threading.Condition()  # guards _open; notified when a connection ends or goes idle
        self._open: dict[C, None] = {}  # oldest first

    def admit(self, conn: C) -> bool:
        """Room for `conn`, made by closing the oldest idle connection if need be; False when there is none."""
        until = time.monotonic() + self.patience
        with self._changed:
            while len(self._open) >= self.limit:
                idle = next((c for c in self._open if c.idle), None)
                if idle is not None:
                    del self._open[idle]
                    idle.close_now()
                    break
                if not self._changed.wait(until - time.monotonic()):
                    return False
            self._open[conn] = None
            return True

    def went_idle(self) -> None:
        """A connection waits for its next request now: a new connection waiting for room may take its place."""
        with self._changed:
            self._changed.notify_all()

    def leave(self, conn: C) -> None:
        with self._changed:
            self._open.pop(conn, None)
            self._changed.notify_all()
