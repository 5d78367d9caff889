"""A Dask distributed cluster for tests: a real `dask scheduler` and `dask worker` processes on loopback, started here
(each worker without a nanny, so that killing its PID loses it), and stopped by their PIDs.

    with DaskCluster(tmp_path, workers=2) as cluster:
        baomi scan --cluster {cluster.address} ...
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from tests.common import free_port, stop, wait_for_port

JOINED = "Registered to:"  # what a worker logs once the scheduler knows it


def dask_missing_reason() -> str | None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        return "Dask distributed is not installed (pip install 'baomi[cluster]')"
    return None


class DaskCluster:
    def __init__(self, folder: Path, workers: int = 2) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.scheduler: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.count = workers

    def __enter__(self) -> DaskCluster:
        try:
            self.scheduler = self._start("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", str(self.port)])
            wait_for_port(self.port, self.scheduler, seconds=60)
            for _each in range(self.count):
                self.add_worker()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def add_worker(self, wrapper: Sequence[str] = ()) -> subprocess.Popen[bytes]:
        """One more worker with one thread, joined when this returns; `wrapper` is a command it runs under (one that
        ends by exec-ing its arguments, so that the PID is the worker's)."""
        number = len(self.workers)
        options = ["worker", self.address, "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny"]
        options += ["--local-directory", str(self.folder / f"worker{number}")]
        worker = self._start(f"worker{number}", options, wrapper)
        self.workers.append(worker)
        log = self.folder / f"worker{number}.log"
        deadline = time.monotonic() + 60
        while JOINED not in log.read_text(errors="replace"):
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not join: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.1)
        return worker

    def _start(self, name: str, options: list[str], wrapper: Sequence[str] = ()) -> subprocess.Popen[bytes]:
        with open(self.folder / f"{name}.log", "wb") as log:
            command = [*wrapper, sys.executable, "-m", "dask", *options, "--no-dashboard"]
            return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def stop(self) -> None:
        for process in [*self.workers, *([self.scheduler] if self.scheduler else [])]:
            stop(process, seconds=30)
