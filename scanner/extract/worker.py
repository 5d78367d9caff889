"""Isolation: binary formats are parsed in worker processes with a memory rlimit and a wall-clock timeout.

A persistent pool of workers (one `python -m scanner.extract.worker` each, spoken to over pipes) serves the threads
and processes of one scanner; a worker that crashes, hangs or runs out of memory is killed and replaced, and the file
it was reading gets a problem instead of taking the scanner down.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import pickle
import resource
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

from scanner.extract.base import Detail, Extraction, Limits, Problem, memory_needed, took_too_long
from scanner.i18n import msg

_HEADER = struct.Struct("!Q")
# A reader gets `seconds` to finish by itself (it checks its own deadline and returns partial text); past this grace
# the worker is killed.
_GRACE_SECONDS = 2.0
# A worker is retired after this many files, so a slow leak in a parser library cannot build up.
_JOBS_PER_WORKER = 500
# Files parsed at once by one scanner process; more callers (the threads of a web server) wait their turn, since each
# worker may grow to memory_mb.
MAX_WORKERS = 2 * (os.cpu_count() or 2)
# Every worker that may run is kept when idle: retiring the surplus after each burst cost a door with more scanning
# threads than cores a new process (~80 ms) per file in the next burst (the milter's p95 went to 0.3-0.6 s).
_MAX_IDLE = MAX_WORKERS


class WorkerFailed(Exception):
    """The worker died or did not answer in time; `reason` is crash, seconds or memory_mb."""

    def __init__(self, reason: str, detail: Detail, cause: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.cause = cause


def run_isolated(data: bytes, name: str, limits: Limits, ocr: bool, fmt: str) -> Extraction:
    """`read_file` for one top-level file, in a worker; a worker's failure is the file's problem."""
    try:
        result: Extraction = call(limits, "scanner.extract:read_file", data, name, limits, ocr, fmt)
    except WorkerFailed as exc:
        return Extraction(fmt, [], [Problem(exc.reason, exc.detail, cause=exc.cause)])
    return result


def call(limits: Limits, function: str, *args: Any) -> Any:
    """Call `module:function(*args)` in a worker under `limits.memory_mb` and `limits.seconds`."""
    return _pool().call(function, args, limits)


class Worker:
    """One worker process and its two pipes."""

    def __init__(self) -> None:
        # The worker imports this very package, wherever it was imported from (an install or a source checkout).
        root = str(Path(__file__).resolve().parents[2])
        path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scanner.extract.worker"],
            env={**os.environ, "PYTHONPATH": path},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: the tools it runs die with it
            close_fds=True,
        )
        self.jobs = 0

    def call(self, function: str, args: tuple[Any, ...], limits: Limits) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        request = pickle.dumps((function, args, limits.memory_mb), protocol=pickle.HIGHEST_PROTOCOL)
        self.jobs += 1
        deadline = time.monotonic() + limits.seconds + _GRACE_SECONDS
        try:
            self.proc.stdin.write(_HEADER.pack(len(request)) + request)
            self.proc.stdin.flush()
            header = self._read(_HEADER.size, deadline, limits)
            (length,) = _HEADER.unpack(header)
            reply = self._read(length, deadline, limits)
        except (BrokenPipeError, ConnectionResetError, EOFError):
            raise self._died() from None
        status, value = pickle.loads(reply)
        if status == "memory":
            raise WorkerFailed("memory_mb", memory_needed(limits))
        if status == "error":
            raise WorkerFailed("crash", msg("The reader of this format failed on it."), value)
        return value

    def _read(self, size: int, deadline: float, limits: Limits) -> bytes:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        chunks: list[bytes] = []
        while size:
            left = deadline - time.monotonic()
            ready = select.select([fd], [], [], max(0.0, left))[0] if left > 0 else []
            if not ready:
                self.kill()
                raise WorkerFailed("seconds", took_too_long(limits))
            chunk = os.read(fd, min(size, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def _died(self) -> WorkerFailed:
        self.kill()
        code = self.proc.returncode
        if code is not None and code < 0:
            with contextlib.suppress(ValueError):
                return WorkerFailed("crash", msg("The reader of this format died on it."), signal.Signals(-code).name)
        return WorkerFailed("crash", msg("The reader of this format died on it."), f"exit status {code}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.close()

    def close(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                if pipe is not None:
                    pipe.close()


class Pool:
    """Idle workers shared by the threads of one process; a thread takes one, or starts one when none is idle."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.slots = threading.BoundedSemaphore(MAX_WORKERS)
        self.idle: list[Worker] = []

    def call(self, function: str, args: tuple[Any, ...], limits: Limits) -> Any:
        with self.slots:
            return self._call(function, args, limits)

    def _call(self, function: str, args: tuple[Any, ...], limits: Limits) -> Any:
        worker = self._take()
        try:
            result = worker.call(function, args, limits)
        except WorkerFailed:
            worker.kill()
            raise
        except BaseException:
            worker.kill()  # interrupted mid-conversation: the pipe is out of step
            raise
        self._give(worker)
        return result

    def _take(self) -> Worker:
        with self.lock:
            while self.idle:
                worker = self.idle.pop()
                if worker.alive():
                    return worker
                worker.kill()
        return Worker()

    def _give(self, worker: Worker) -> None:
        with self.lock:
            if worker.jobs < _JOBS_PER_WORKER and len(self.idle) < _MAX_IDLE and os.getpid() == self.pid:
                self.idle.append(worker)
                return
        worker.close()  # it exits on end of input

    def shutdown(self) -> None:
        with self.lock:
            idle, self.idle = self.idle, []
        for worker in idle:
            worker.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.proc.wait(timeout=1)

    def forget(self) -> None:
        """In a forked child: the parent's workers are the parent's; drop our copies of their pipes."""
        for worker in self.idle:
            worker.close()
        self.idle = []


_POOL: Pool | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> Pool:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL.pid != os.getpid():
            _POOL = Pool()
        return _POOL


def _after_fork_in_child() -> None:
    global _POOL, _POOL_LOCK
    _POOL_LOCK = threading.Lock()
    if _POOL is not None:
        _POOL.lock = threading.Lock()  # another thread may have held it at the fork
        _POOL.forget()
        _POOL = None


def shutdown() -> None:
    """Let this process's idle workers exit (also done at interpreter exit)."""
    if _POOL is not None and _POOL.pid == os.getpid():
        _POOL.shutdown()


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(shutdown)


# The worker side.


def _serve(requests: BinaryIO, replies: BinaryIO) -> None:
    while True:
        header = requests.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return
        (length,) = _HEADER.unpack(header)
        function, args, memory_mb = pickle.loads(requests.read(length))
        reply = _run(function, args, memory_mb)
        replies.write(_HEADER.pack(len(reply)) + reply)
        replies.flush()


def _run(function: str, args: tuple[Any, ...], memory_mb: int) -> bytes:
    _limit_memory(memory_mb)
    try:
        module_name, name = function.split(":")
        value = getattr(importlib.import_module(module_name), name)(*args)
        reply: tuple[str, Any] = ("ok", value)
    except MemoryError:
        reply = ("memory", None)
    except Exception as exc:
        reply = ("error", f"{type(exc).__name__}: {exc}"[:500])
    _limit_memory(0)
    try:
        return pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        return pickle.dumps(("error", f"unpicklable result: {exc}"))


def _limit_memory(memory_mb: int) -> None:
    """Cap this worker's address space (0 lifts the cap) so a runaway parser gets a MemoryError, not the host."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    soft = memory_mb * 1024 * 1024 if memory_mb > 0 else hard
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _exit_with_parent(parent: int) -> None:
    """A worker busy on a hostile file when its scanner dies would otherwise run on until its own deadline."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(0)


def main() -> None:
    # Replies go on the real stdout; anything a library prints goes to stderr instead of into the protocol.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when a worker stops
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    _serve(sys.stdin.buffer, replies)


if __name__ == "__main__":
    main()
