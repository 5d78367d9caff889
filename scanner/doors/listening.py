"""Where a door listens: a TCP port or a unix socket, one thread per connection. A unix socket's file gets the mode
asked for and is removed when the door stops; one left by a door that died is replaced, anything else at that path
(a live door's socket, a file) is left alone.
"""

from __future__ import annotations

import contextlib
import os
import socket
import socketserver
import stat
import threading
from collections.abc import Callable
from pathlib import Path

from scanner.i18n import msg


class Listener(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """A threaded listener on `address` of `family` (AF_INET, AF_INET6 or AF_UNIX, whose address is a path);
    `what` names the door in errors ("another milter is listening on …")."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        family: int,
        address: str | tuple[str, int],
        handler: type[socketserver.BaseRequestHandler],
        socket_mode: int = 0o660,
        what: str = "service",
    ) -> None:
        self.address_family = family
        self.unix_path: Path | None = None
        if family == socket.AF_UNIX:
            assert isinstance(address, str)
            self.unix_path = Path(address)
            _remove_stale_socket(self.unix_path, what)
        super().__init__(address, handler)  # type: ignore[arg-type]
        if self.unix_path is not None:
            os.chmod(self.unix_path, socket_mode)

    def server_close(self) -> None:
        super().server_close()
        if self.unix_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.unix_path.unlink()

    def serve_in_thread(self, name: str, poll_interval: float = 0.5) -> threading.Thread:
        """Accept connections in a thread of its own; `shutdown()` returns within `poll_interval` seconds."""
        thread = threading.Thread(target=self.serve_forever, args=(poll_interval,), name=name, daemon=True)
        thread.start()
        return thread

    def serve_until(self, stopped: Callable[[], None], name: str) -> None:
        """Accept connections until `stopped()` returns, then stop accepting and close the socket (connections in
        progress end with the process)."""
        self.serve_in_thread(name)
        try:
            stopped()
        finally:
            self.shutdown()
            self.server_close()


def _remove_stale_socket(path: Path, what: str) -> None:
    """A socket file left by a door that died; anything else at that path is not ours to delete."""
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise ValueError(msg("{path} exists and is not a socket", path=str(path)))
        probe = socket.socket(socket.AF_UNIX)
        try:
            probe.connect(str(path))
        except ConnectionRefusedError:
            path.unlink()
        else:
            raise ValueError(msg("another {program} is listening on {path}", program=what, path=str(path)))
        finally:
            probe.close()
