"""The suite's own rules: every skip goes through conftest.require, so that CI=true turns a missing component into a
failure; and a test that leaves a signal handler, wakeup fd, thread or process behind fails (each once hung the
suite for good)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import require

TESTS = Path(__file__).resolve().parent
DIRECT_SKIP = re.compile(r"pytest\.(skip|importorskip)\(|mark\.(skip|skipif|xfail)\b")


def test_every_skip_goes_through_require() -> None:
    direct = [
        f"{path.name}:{number}"
        for path in sorted(TESTS.glob("*.py"))
        if path.name != "conftest.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if DIRECT_SKIP.search(line)
    ]
    assert direct == []


LEAKY = """
import os, signal, subprocess, threading, time

def test_a_handler():
    signal.signal(signal.SIGTERM, lambda *_: None)

def test_a_wakeup_fd():
    read, write = os.pipe()
    os.set_blocking(write, False)
    signal.set_wakeup_fd(write)

def test_a_thread():
    threading.Thread(target=time.sleep, args=(30,), daemon=True).start()

def test_a_process():
    subprocess.Popen(["sleep", "30"])

def test_nothing_left_after_the_others():
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    assert signal.set_wakeup_fd(-1) == -1
"""


def test_what_a_test_leaves_behind_fails_it_and_is_put_right(pytester: pytest.Pytester) -> None:
    """Each leaky test passes and then errors at teardown; the test after them finds everything as it was."""
    conftest = (TESTS / "conftest.py").read_text(encoding="utf-8")
    pytester.makeconftest(conftest.replace("GRACE_SECONDS = 5.0", "GRACE_SECONDS = 0.5"))
    pytester.makepyfile(test_leaky=LEAKY)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert {k: v for k, v in result.parseoutcomes().items() if k != "seconds"} == {"errors": 4, "passed": 5}
    for leftover in ("a handler for SIGTERM", "signal.set_wakeup_fd(", "thread 'Thread-", "process "):
        result.stdout.fnmatch_lines([f"*the test left behind: {leftover}*"])


@pytest.mark.parametrize(("ci", "outcome"), [("", pytest.skip.Exception), ("true", pytest.fail.Exception)])
def test_a_missing_component_skips_except_in_ci(
    monkeypatch: pytest.MonkeyPatch, ci: str, outcome: type[BaseException]
) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="a component no machine has"):
        require(False, "a component no machine has")
    with pytest.raises(pytest.skip.Exception):
        require(False, "a file system no CI machine can be given", needed_in_ci=False)
