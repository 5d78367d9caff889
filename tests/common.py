"""Helpers the test suites of several doors share: documents made with the real libraries, and local services
started on free loopback ports and stopped by their PID."""

from __future__ import annotations

import contextlib
import io
import signal
import socket
import subprocess
import time
from collections.abc import Iterator

import docx

SLOWLORIS = ("127.0.0.2", 0)  # where connections that hold a service open come from; ordinary clients use 127.0.0.1


def docx_of(*paragraphs: str, header: str | None = None) -> bytes:
    """A Word document with these paragraphs (and a header), built with python-docx."""
    document = docx.Document()
    if header is not None:
        document.sections[0].header.paragraphs[0].text = header
    for text in paragraphs:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def free_port() -> int:
    """A loopback port nobody listens on now; never the well-known ports of a system Squid or Postfix."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    assert port not in (25, 3128)
    return port


def wait_for_port(port: int, process: subprocess.Popen[bytes] | None = None, seconds: float = 30.0) -> None:
    """Return once something accepts connections on 127.0.0.1:`port`; fail early if `process` exits first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with status {process.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {seconds:g} s")


def stop(process: subprocess.Popen[bytes], seconds: float = 15.0) -> None:
    """SIGTERM to that one PID, then SIGKILL if it lingers."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def closed_by_peer(sock: socket.socket) -> bytes | None:
    """What the peer sent before closing the connection, or None if it is still open after the socket's timeout."""
    answer = b""
    try:
        while data := sock.recv(65536):
            answer += data
    except (ConnectionResetError, BrokenPipeError):
        pass
    except TimeoutError:
        return None
    return answer


@contextlib.contextmanager
def slowloris(port: int, first_bytes: bytes, count: int = 64) -> Iterator[list[socket.socket]]:
    """`count` connections to `port` from 127.0.0.2 that send `first_bytes` of a head and never finish it; a few of
    them send one more header line, as slowloris does to look alive."""
    connections: list[socket.socket] = []
    try:
        for _ in range(count):
            connections.append(socket.create_connection(("127.0.0.1", port), timeout=30, source_address=SLOWLORIS))
            connections[-1].sendall(first_bytes)
        for sock in connections[:8]:
            sock.sendall(b"X-Trickle: 1\r\n")
        yield connections
    finally:
        for sock in connections:
            sock.close()
