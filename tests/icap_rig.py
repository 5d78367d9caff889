"""The parts the ICAP tests and bench/icap.py start on loopback: `baomi icap`, an upstream web server that records
what reaches it, and a throwaway Squid with its own squid.conf, pid file and logs. Each is stopped by its PID.
"""

from __future__ import annotations

import os
import pwd
import random
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.common import docx_of, free_port, stop, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
BAOMI = Path(sys.executable).parent / "baomi"
SQUID = shutil.which("squid") or shutil.which("squid", path="/usr/sbin:/sbin")


def filler_docx(size: int, first_line: str = "会议纪要", seed: int = 6) -> bytes:
    """A docx of about `size` bytes: `first_line`, then paragraphs of seeded random Chinese characters (which do not
    compress, so the file is as large on the wire as it is on disk)."""
    chars = random.Random(seed)
    paragraphs = [first_line]
    while len(paragraphs) * 550 * 2.5 < size:  # a random CJK character costs about 2.5 bytes in the package
        paragraphs.append("".join(chr(chars.randint(0x4E00, 0x9FA5)) for _ in range(550)))
    return docx_of(*paragraphs)


class IcapService:
    """`baomi icap` in a subprocess on a free port, with its own audit log."""

    def __init__(self, workdir: Path, *options: str, notify_socket: Path | None = None) -> None:
        self.port = free_port()
        self.audit = workdir / "audit.db"
        self.log = workdir / "icap.log"
        env = {**os.environ, "BAOMI_AUDIT": str(self.audit)}
        env.pop("NOTIFY_SOCKET", None)
        if notify_socket:
            env["NOTIFY_SOCKET"] = str(notify_socket)
        command = [str(BAOMI), "icap", "--host", "127.0.0.1", "--port", str(self.port), "--audit", str(self.audit)]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen([*command, *options], stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            wait_for_port(self.port, self.process, seconds=60)
        except Exception:
            stop(self.process)
            raise RuntimeError(f"baomi icap did not start:\n{self.log.read_text()}") from None

    def stop(self) -> None:
        stop(self.process)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Upstream:
    """A web server standing for the site uploads go to; it records every request that reaches it."""

    def __init__(self, keep: bool = True) -> None:
        """`keep`: record what arrives (a benchmark does not)."""
        self.received: list[Received] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if keep:
                    received.append(Received(self.command, self.path, dict(self.headers), body))
                answer = b"upstream got it"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                # One request per connection: a handler thread kept for Squid's next request would outlive the test.
                self.send_header("Connection", "close")
                self.close_connection = True
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = do_PUT = _any

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


HOOK = ROOT / "hooks" / "squid" / "baomi.conf"
SQUID_CONF = """\
# A throwaway Squid for baomi's tests: loopback only, no disk cache, its own pid file and logs.
http_port 127.0.0.1:{http_port}
visible_hostname baomi-test
pid_filename {dir}/squid.pid
cache_log {dir}/cache.log
access_log stdio:{dir}/access.log
cache_store_log none
coredump_dir {dir}
netdb_filename none
pinger_enable off
cache deny all
cache_mem 8 MB
shutdown_lifetime 0 seconds
http_access allow all

# hooks/squid/baomi.conf as documented, but for the ICAP port of this test:
{hook}
"""


class Squid:
    """Squid in the foreground (-N) on a free loopback port, configured with hooks/squid/baomi.conf for baomi's ICAP
    service on `icap_port` (a port where nothing listens stands for baomi being down; None: no ICAP at all)."""

    def __init__(self, icap_port: int | None) -> None:
        assert SQUID, "no squid"
        self.dir = Path(tempfile.mkdtemp(prefix="baomi-squid-"))
        self.http_port = free_port()
        hook = "# (none: Squid alone, for comparison)"
        if icap_port is not None:
            hook = HOOK.read_text().replace("icap://127.0.0.1:1344/", f"icap://127.0.0.1:{icap_port}/")
            assert f":{icap_port}/reqmod" in hook
        self.conf = self.dir / "squid.conf"
        self.conf.write_text(SQUID_CONF.format(dir=self.dir, http_port=self.http_port, hook=hook))
        if os.geteuid() == 0:  # Squid started as root works as its cache_effective_user, which must write the logs
            user = pwd.getpwnam("proxy")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
        # A service name of its own keeps its shared memory and IPC names apart from a system Squid's.
        self.name = "baomitest" + "".join(c for c in self.dir.name if c.isalnum())
        self.process: subprocess.Popen[bytes] | None = None

    def parse(self) -> subprocess.CompletedProcess[str]:
        """`squid -k parse` on this configuration."""
        return subprocess.run(
            [str(SQUID), "-k", "parse", "-n", self.name, "-f", str(self.conf)],
            capture_output=True,
            text=True,
            timeout=60,
        )

    def start(self) -> None:
        self.stderr = (self.dir / "stderr.log").open("wb")
        self.process = subprocess.Popen(
            [str(SQUID), "-N", "-d", "1", "-n", self.name, "-f", str(self.conf)],
            stdout=self.stderr,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(self.http_port, self.process, seconds=60)
        except Exception:
            self.stop()
            raise RuntimeError(f"squid did not start:\n{self.logs()}") from None

    @property
    def proxy(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def logs(self) -> str:
        stderr = self.dir / "stderr.log"  # with -d 1 it holds what cache.log does
        return stderr.read_text(errors="replace") if stderr.exists() else ""

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)
