"""Shared fixtures: a scanner under the default policy, the environment every test runs in, and the check that no
test leaves a signal handler, wakeup fd, thread or process behind (each once made the suite hang for good)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scanner.engine import Scanner
from scanner.model import FileReport

pytest_plugins = ("pytester",)  # for tests/test_suite.py, which runs the suite's rules on small suites of its own

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
PEER = SHARED / "corpora" / "peer"
LAWS = SHARED / "corpora" / "laws"
# Processes that outlive a test on purpose, shared by every test after it: the engine's idle extraction workers, and
# the forkserver and resource tracker multiprocessing starts once.
LONG_LIVED = ("scanner.extract.worker", "multiprocessing.forkserver", "multiprocessing.resource_tracker")
GRACE_SECONDS = 5.0  # for a thread or process that is on its way out when the test ends


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(available: bool, what: str, *, needed_in_ci: bool = True) -> None:
    """Skip when something a test needs is missing, except in CI, where a missing component is a failure. Every skip
    in the suite comes through here. `needed_in_ci=False` is for what no CI machine can be made to have (a file
    system that refuses leases): the skip then stands in CI too, and says why."""
    if not available:
        if in_ci() and needed_in_ci:
            pytest.fail(f"{what} is required in CI (CI=true) but is not available")
        pytest.skip(f"{what} is not available")


# The environment every test starts from: English messages and UTC times, whatever the developer's own locale and
# zone; a test of another language or zone sets its own (monkeypatch.setenv("LANG", "zh_CN.UTF-8")).
LOCALE_VARIABLES = ("LANG", "LC_ALL", "LC_MESSAGES", "LANGUAGE")
ENGLISH_UTC = {"LANG": "C.UTF-8", "LC_ALL": None, "LC_MESSAGES": None, "LANGUAGE": None, "TZ": "UTC"}


@pytest.fixture(scope="session", autouse=True)
def _private_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep the automaton cache, the audit log and the registry of the test run out of the user's home; speak English
    in UTC."""
    state = tmp_path_factory.mktemp("state")
    settings: dict[str, str | None] = {
        "BAOMI_CACHE": str(state / "cache"),
        "BAOMI_AUDIT": str(state / "audit.db"),
        "BAOMI_REGISTRY": str(state / "registry.db"),
        **ENGLISH_UTC,
    }
    saved = {k: os.environ.get(k) for k in settings}
    for key, value in settings.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def speak(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Set the locale the command line reads (LANG = `locale`), clearing the variables that would override it."""

    def set_locale(locale: str) -> None:
        for name in LOCALE_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("LANG", locale)

    return set_locale


@dataclass(frozen=True)
class Leftovers:
    """What a test may leave behind that makes later tests or the end of the run hang."""

    handlers: dict[int, object]
    wakeup_fd: int
    threads: frozenset[threading.Thread]
    children: frozenset[int]

    @classmethod
    def now(cls) -> Leftovers:
        fd = signal.set_wakeup_fd(-1)
        signal.set_wakeup_fd(fd)
        return cls(_handlers(), fd, frozenset(threading.enumerate()), frozenset(_children()))


@pytest.fixture(autouse=True)
def _leaves_nothing_behind() -> Iterator[None]:
    """A signal handler a test installs is inherited by every process forked later, and a SIGTERM handler makes
    Pool.terminate() wait for ever; a stray thread or process can keep pytest from exiting. Each is a failure of the
    test that left it, which is put right here so the tests after it run as they would alone."""
    before = Leftovers.now()
    yield
    problems = _restore_handlers(before) + _restore_wakeup_fd(before.wakeup_fd)
    problems += _threads_left(before.threads) + _processes_left(before.children)
    if problems:
        pytest.fail("the test left behind: " + "; ".join(problems), pytrace=False)


def _handlers() -> dict[int, object]:
    handlers = {}
    for signum in signal.valid_signals():
        try:
            handlers[signum] = signal.getsignal(signum)
        except (OSError, ValueError):
            continue
    return handlers


def _restore_handlers(before: Leftovers) -> list[str]:
    problems = []
    for signum, handler in _handlers().items():
        earlier = before.handlers.get(signum, handler)
        if getattr(earlier, "__module__", "") == "pytest_timeout":
            continue  # its timer, which it takes back itself once a test has failed
        if handler is not earlier:
            problems.append(f"a handler for {signal.Signals(signum).name} ({handler!r})")
            signal.signal(signum, before.handlers[signum])  # type: ignore[arg-type]
    return problems


def _restore_wakeup_fd(before: int) -> list[str]:
    fd = signal.set_wakeup_fd(before)
    return [f"signal.set_wakeup_fd({fd})"] if fd != before else []


def _threads_left(before: frozenset[threading.Thread]) -> list[str]:
    deadline = time.monotonic() + GRACE_SECONDS
    for thread in set(threading.enumerate()) - before:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    return [f"thread {t.name!r}" for t in set(threading.enumerate()) - before if t.is_alive()]


def _processes_left(before: frozenset[int]) -> list[str]:
    deadline = time.monotonic() + GRACE_SECONDS
    while True:
        left = {pid: _command(pid) for pid in _children(before) - before if _alive(pid)}
        left = {pid: command for pid, command in left.items() if not any(m in command for m in LONG_LIVED)}
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for pid in left:  # ended here, so that one test's leftovers do not become the next test's failure
        os.kill(pid, signal.SIGKILL)
    return [f"process {pid} ({command})" for pid, command in left.items()]


def _children(before: frozenset[int] = frozenset()) -> set[int]:
    """This process's descendants, from /proc: its children (whichever of its threads started them), theirs, and so
    on; below a process in `before` (a service a broader fixture runs) only those of a forkserver, whose children are
    the workers of this test's pools."""
    found: set[int] = set()
    todo = [os.getpid()]
    while todo:
        for task in _tasks(todo.pop()):
            try:
                children = {int(pid) for pid in (task / "children").read_text().split()}
            except OSError:
                continue
            found |= children
            todo.extend(pid for pid in children if pid not in before or "multiprocessing.forkserver" in _command(pid))
    return found


def _tasks(pid: int) -> list[Path]:
    try:
        return list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return []


def _alive(pid: int) -> bool:
    """Running (a zombie, exited and not yet reaped, holds nothing up)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


@pytest.fixture(scope="session")
def scanner() -> Scanner:
    return Scanner()


@pytest.fixture(scope="session")
def scan_text(scanner: Scanner):  # type: ignore[no-untyped-def]
    def scan(text: str, name: str = "note.txt", channel: str = "scan") -> FileReport:
        return scanner.scan_bytes(text.encode("utf-8"), name, channel)

    return scan
