"""Helpers the test suites of several doors share: documents made with the real libraries, and local services
started on free loopback ports and stopped by their PID."""

from __future__ import annotations

import contextlib
import io
import signal
import socket
import subprocess
import time

import docx


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
