"""`baomi serve` as a real process on a free loopback port, for the API tests, the browser tests and the benchmark.

Each service gets its own configuration file and audit log under a temporary folder and is stopped by its PID.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.common import free_port, stop

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Service:
    url: str
    port: int
    audit: Path
    log: Path
    process: subprocess.Popen[bytes]


@contextlib.contextmanager
def serve(folder: Path, config: str = "", args: Sequence[str] = ()) -> Iterator[Service]:
    """Start `baomi serve` with `config` as its TOML file; yield once /healthz answers; stop it afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "baomi.toml").write_text(config, encoding="utf-8")
    port = free_port()
    audit, log = folder / "audit.db", folder / "serve.log"
    command = [sys.executable, "-m", "scanner.cli", "serve", "--port", str(port), "--audit", str(audit)]
    command += ["--config", str(folder / "baomi.toml"), *args]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=folder)
    service = Service(f"http://127.0.0.1:{port}", port, audit, log, process)
    try:
        _wait_healthy(service)
        yield service
    finally:
        stop(process)


def _wait_healthy(service: Service, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"baomi serve exited ({service.process.returncode}): {service.log.read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(service.url + "/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise TimeoutError(f"baomi serve did not answer on {service.url} in {seconds:g} s")


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def launch_chromium(playwright: Any) -> Any:
    """Debian's chromium, headless, driven by Playwright (never a downloaded browser)."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A launched chromium for a test module, closed afterwards; without Playwright or chromium, a skip (in CI a
    failure)."""
    from tests.conftest import require

    try:
        from playwright import sync_api
    except ImportError:
        require(False, "playwright (pip install playwright)")
    require(CHROMIUM.exists(), f"chromium at {CHROMIUM}")
    with sync_api.sync_playwright() as playwright:
        launched = launch_chromium(playwright)
        yield launched
        launched.close()
