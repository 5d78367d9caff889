"""How a long-running door learns it should stop: SIGTERM or SIGINT (and SIGHUP where asked), whichever thread the
kernel hands it to; and how it leaves the process's signal handling as it found it.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from types import TracebackType


class StopSignal:
    """A context manager: inside it, SIGTERM and SIGINT call `on_stop` (if given) and end `wait()`; on leaving it, the
    handlers and the wakeup fd are what they were before.

    A Python signal handler runs only when the main thread wakes up, and a signal taken by another thread does not
    wake it (an Event.wait() in the main thread hung about one time in three). The wakeup fd is written by whichever
    thread takes the signal, so reading it always returns. Enter it from the main thread, before the door starts
    serving, so that a SIGTERM while the door starts still ends in an orderly stop.
    """

    def __init__(self, on_stop: Callable[[], None] | None = None, hangup: bool = False, leases: bool = False) -> None:
        """`hangup`: SIGHUP stops too. `leases`: SIGIO is ignored (a file lease the door holds for a moment signals
        SIGIO when a writer opens the file meanwhile, and by default that kills the process)."""
        self.on_stop = on_stop
        self.stopping = (signal.SIGTERM, signal.SIGINT, *((signal.SIGHUP,) if hangup else ()))
        self.ignored = (signal.SIGIO,) if leases else ()
        self._saved: dict[int, signal._HANDLER] = {}
        self._saved_fd = -1
        self._pipe: tuple[int, int] | None = None

    def __enter__(self) -> StopSignal:
        read, write = os.pipe()
        os.set_blocking(write, False)
        self._pipe = (read, write)
        self._saved_fd = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        for signum in (*self.stopping, *self.ignored):
            self._saved[signum] = signal.getsignal(signum)
        for signum in self.stopping:
            signal.signal(signum, self._stop)
        for signum in self.ignored:
            signal.signal(signum, signal.SIG_IGN)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(self._saved_fd)
        if self._pipe is not None:
            for fd in self._pipe:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._saved, self._pipe = {}, None

    def wait(self) -> None:
        """Return once a stopping signal has arrived (at once if one came since this block began)."""
        assert self._pipe is not None, "wait() inside the with block"
        while os.read(self._pipe[0], 1)[0] not in self.stopping:  # the fd carries every handled signal's number
            pass

    def _stop(self, signum: int, frame: object) -> None:
        if self.on_stop is not None:
            self.on_stop()
