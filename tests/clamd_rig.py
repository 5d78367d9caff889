"""What the clamd tests and bench/clamd.py start and speak: `baomi clamd` (or ClamAV's own clamd) on a free loopback
port, a raw protocol client, and Debian's real `clamdscan` pointed at either by a clamd.conf of its own.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from tests.common import free_port, stop, wait_for_port

BAOMI = Path(sys.executable).parent / "baomi"
CLAMDSCAN = shutil.which("clamdscan")
CLAMD = shutil.which("clamd") or shutil.which("clamd", path="/usr/sbin:/sbin")


def chunks(data: bytes, size: int = 8192) -> bytes:
    """`data` as INSTREAM sends it: chunks of `size` bytes, each after its length in 4 bytes (big-endian), then a
    length of 0."""
    pieces = [data[i : i + size] for i in range(0, len(data), size)]
    return b"".join(len(p).to_bytes(4, "big") + p for p in pieces) + b"\0\0\0\0"


def instream(data: bytes, size: int = 8192) -> bytes:
    return b"zINSTREAM\0" + chunks(data, size)


def ask(port: int, data: bytes, timeout: float = 60.0) -> bytes:
    """Send `data` on a new connection and return all the service says until it closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_to_end(sock)


def read_to_end(sock: socket.socket) -> bytes:
    answer = b""
    try:
        while piece := sock.recv(65536):
            answer += piece
    except ConnectionResetError:
        pass
    return answer


def client_config(folder: Path, port: int, stream_max_length: str = "100M") -> Path:
    """A clamd.conf that points clamdscan at 127.0.0.1:`port`; clamdscan reads only these lines of it."""
    path = folder / f"clamdscan-{port}.conf"
    path.write_text(f"TCPSocket {port}\nTCPAddr 127.0.0.1\nStreamMaxLength {stream_max_length}\n", encoding="utf-8")
    return path


def clamdscan(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Debian's clamdscan with that configuration: exit 0 clean, 1 found, 2 an error."""
    assert CLAMDSCAN is not None
    command = [CLAMDSCAN, f"--config-file={config}", "--no-summary", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


class BaomiClamd:
    """`baomi clamd` in a subprocess on a free port, with its own configuration file and audit log."""

    def __init__(self, workdir: Path, config: str = "", *options: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.port = free_port()
        self.audit = workdir / "audit.db"
        self.log = workdir / "clamd.log"
        self.config = workdir / "baomi.toml"
        if not self.config.exists() or config:
            self.config.write_text(config, encoding="utf-8")
        command = [str(BAOMI), "clamd", "--listen", f"tcp:127.0.0.1:{self.port}", "--audit", str(self.audit)]
        command += ["--config", str(self.config), *options]
        env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir)
        try:
            wait_for_port(self.port, self.process, seconds=60)
        except Exception:
            stop(self.process)
            raise RuntimeError(f"baomi clamd did not start:\n{self.log.read_text()}") from None

    def ask(self, data: bytes, timeout: float = 60.0) -> bytes:
        return ask(self.port, data, timeout)

    def stop(self) -> None:
        stop(self.process)


class RealClamd:
    """ClamAV's clamd in a subprocess on a free port, with a database of one small custom signature (there is no
    internet to fetch ClamAV's own), in the foreground, stopped by its PID."""

    MARKER = b"BAOMI-TEST-MARKER"
    SIGNATURE = f"Baomi.Test.Marker:0:*:{MARKER.hex()}\n"  # an .ndb line: name, any target, any offset, hex

    def __init__(self, workdir: Path, threads: int = 2, **settings: str) -> None:
        """`settings`: clamd.conf lines over the defaults here (StreamMaxLength="1000", ReadTimeout="2")."""
        assert CLAMD is not None
        workdir.mkdir(parents=True, exist_ok=True)
        database = workdir / "db"
        database.mkdir(exist_ok=True)
        (database / "baomi-test.ndb").write_text(self.SIGNATURE, encoding="ascii")
        self.port = free_port()
        self.log = workdir / "clamd.log"
        self.config = workdir / "clamd.conf"
        lines = {
            "Foreground": "yes",
            "TCPSocket": str(self.port),
            "TCPAddr": "127.0.0.1",
            "DatabaseDirectory": str(database),
            "LogFile": str(self.log),
            "TemporaryDirectory": str(workdir),
            "MaxThreads": str(threads),
            "StreamMaxLength": "100M",
            "SelfCheck": "0",
            **settings,
        }
        self.config.write_text("".join(f"{k} {v}\n" for k, v in lines.items()), encoding="utf-8")
        self.process = subprocess.Popen(
            [CLAMD, f"--config-file={self.config}"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        try:
            wait_for_port(self.port, self.process, seconds=120)
        except Exception:
            stop(self.process)
            raise

    def stop(self) -> None:
        stop(self.process)
