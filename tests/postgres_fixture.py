"""A private PostgreSQL server for tests and benchmarks: its own cluster in a temporary folder (initdb), on a free
loopback port, run as an unprivileged user when the tests run as root, stopped by its PID.

    with PrivatePostgres() as server:
        url = server.create_database("registry")   # postgresql://baomi@127.0.0.1:PORT/registry

Nothing of the system's clusters (/etc/postgresql, port 5432) is touched. Reusable by any test that needs the real
thing (the registry, the scan index, the audit log): call `postgres_missing_reason()` first and pass it to
`conftest.require`.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from tests.common import free_port, wait_for_port

SUPERUSER = "baomi"  # the cluster's own superuser (trust authentication on loopback only)


def postgres_bin() -> Path | None:
    """The newest installed server's bin folder (Debian: /usr/lib/postgresql/N/bin), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def postgres_missing_reason() -> str | None:
    """Why a private PostgreSQL cannot run here, or None when it can."""
    folder = postgres_bin()
    if folder is None or not (folder / "postgres").exists():
        return "PostgreSQL's server is not installed (apt-get install postgresql)"
    if os.geteuid() == 0 and _unprivileged_user() is None:
        return "running as root, and there is no unprivileged user (postgres or nobody) to run the server as"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed"
    return None


def _unprivileged_user() -> pwd.struct_passwd | None:
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    return None


class PrivatePostgres:
    """initdb, start, create databases, stop by PID, remove the folder."""

    def __init__(self) -> None:
        folder = postgres_bin()
        if folder is None:
            raise RuntimeError("PostgreSQL is not installed")
        self.bin = folder
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="baomi-postgres-", dir="/tmp"))  # the server's user must reach it
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.process: subprocess.Popen[bytes] | None = None
        self.user = _unprivileged_user() if os.geteuid() == 0 else None
        self.log = self.root / "server.log"

    def __enter__(self) -> PrivatePostgres:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _run_as(self) -> dict[str, int]:
        return {"user": self.user.pw_uid, "group": self.user.pw_gid} if self.user else {}

    def start(self) -> PrivatePostgres:
        self.sockets.mkdir()
        if self.user:
            self.root.chmod(0o755)
            for path in (self.root, self.sockets):
                os.chown(path, self.user.pw_uid, self.user.pw_gid)
        env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
        subprocess.run(
            [self.bin / "initdb", "-D", self.data, "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"],
            check=True,
            capture_output=True,
            env=env,
            timeout=120,
            **self._run_as(),  # type: ignore[call-overload]
        )
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [
                    self.bin / "postgres", "-D", self.data, "-p", str(self.port), "-k", self.sockets,
                    "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
                    "-c", "full_page_writes=off",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                **self._run_as(),  # type: ignore[call-overload]
            )  # fmt: skip
        try:
            wait_for_port(self.port, self.process, seconds=60)
            self._wait_for_sessions(seconds=60)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{exc}: {self.log.read_text(errors='replace')[-2000:]}") from None
        return self

    def _wait_for_sessions(self, seconds: float) -> None:
        """The port opens before the server takes sessions ("the database system is starting up", seen under load)."""
        import psycopg

        deadline = time.monotonic() + seconds
        while True:
            try:
                psycopg.connect(self.url(), connect_timeout=5).close()
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"PostgreSQL took no session within {seconds:g} s: {exc}") from None
                time.sleep(0.1)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new, empty database; its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Fast shutdown (SIGINT) of the postmaster by its PID, SIGKILL if it lingers; then the folder goes."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None
        shutil.rmtree(self.root, ignore_errors=True)
