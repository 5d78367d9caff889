"""How a long-running door learns it should stop: SIGTERM or SIGINT, whichever thread the kernel hands it to."""

from __future__ import annotations

import os
import signal


class StopSignal:
    """Install before the door starts serving; `wait()` returns once SIGTERM or SIGINT has arrived.

    A Python signal handler runs only when the main thread wakes up, and a signal taken by another thread does not
    wake it (an Event.wait() in the main thread hung about one time in three). The wakeup fd is written by whichever
    thread takes the signal, so reading it always returns.
    """

    def __init__(self) -> None:
        self._read, write = os.pipe()
        os.set_blocking(write, False)
        signal.set_wakeup_fd(write)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: None)

    def wait(self) -> None:
        os.read(self._read, 1)
