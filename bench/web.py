"""Throughput and latency of `baomi serve` on loopback: 200 KB docx uploads at concurrency 8.

    .venv/bin/python bench/web.py [--requests 400] [--concurrency 8] [--workers N]

Starts a real `baomi serve` (its own temporary config and audit log), sends the same docx as multipart POSTs and as
raw PUTs from client threads with keep-alive connections, and prints requests per second and the median and 95th
percentile latency of each.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import struct
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import docx
import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.web_service import serve  # noqa: E402

# A pool of common characters for the body text: a long notice, not a repeated phrase the compressor folds away.
HANZI = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后"


def noise_png(width: int, height: int, rng: random.Random) -> bytes:
    """An incompressible RGB picture, standing in for the photographs that make real notices ~200 KB."""
    rows = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack("!I", len(data)) + kind + data + struct.pack("!I", zlib.crc32(kind + data))

    header = struct.pack("!IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def notice_docx(target: int = 200 * 1024) -> bytes:
    """A docx of about `target` bytes: some 12,000 characters of text in 60 paragraphs and one picture."""
    rng = random.Random(6)
    document = docx.Document()
    document.add_heading("关于做好年度信息公开工作的通知", level=1)
    for _ in range(60):
        document.add_paragraph("".join(rng.choice(HANZI) for _ in range(200)) + "。")
    base = io.BytesIO()
    document.save(base)
    side = int(((target - len(base.getvalue())) / 3) ** 0.5)
    document.add_picture(io.BytesIO(noise_png(side, side, rng)))
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def load(send: Callable[[httpx.Client], httpx.Response], requests: int, concurrency: int) -> tuple[float, list[float]]:
    """Send `requests` requests from `concurrency` threads; return the wall time and each request's latency."""
    latencies: list[float] = []
    failures: list[str] = []
    counter = iter(range(requests))
    lock = threading.Lock()

    def worker() -> None:
        with httpx.Client(timeout=120) as client:
            while True:
                with lock:
                    if next(counter, None) is None:
                        return
                start = time.perf_counter()
                response = send(client)
                elapsed = time.perf_counter() - start
                with lock:
                    latencies.append(elapsed)
                    if response.status_code != 200:
                        failures.append(f"{response.status_code} {response.text[:200]}")

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, e.g. {failures[0]}")
    return wall, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, help="baomi serve --workers (default: its own, the core count)")
    args = parser.parse_args()
    data = notice_docx()
    with tempfile.TemporaryDirectory() as tmp:
        extra = ["--workers", str(args.workers)] if args.workers else []
        with serve(Path(tmp), args=extra) as service:
            probe = httpx.post(service.url + "/v1/scan", files={"file": ("通知.docx", data)}, timeout=120).json()
            verdict = probe["files"][0]["verdict"]
            ways: dict[str, Callable[[httpx.Client], httpx.Response]] = {
                "POST /v1/scan (multipart)": lambda c: c.post(
                    service.url + "/v1/scan", files={"file": ("通知.docx", data)}
                ),
                "PUT /v1/scan/{name} (raw)": lambda c: c.put(
                    service.url + "/v1/scan/%E9%80%9A%E7%9F%A5.docx", content=data
                ),
            }
            print(
                f"docx of {len(data) / 1024:.0f} KB (verdict {verdict}), {args.requests} requests, "
                f"concurrency {args.concurrency}, {os.cpu_count()} cores, client on the same machine\n"
            )
            print("| request | requests/s | median ms | p95 ms |")
            print("|---|---:|---:|---:|")
            for title, send in ways.items():
                load(send, args.concurrency * 2, args.concurrency)  # warm up: workers started, caches filled
                wall, latencies = load(send, args.requests, args.concurrency)
                latencies.sort()
                p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
                print(
                    f"| {title} | {len(latencies) / wall:.1f} | {statistics.median(latencies) * 1000:.0f} | "
                    f"{p95 * 1000:.0f} |"
                )


if __name__ == "__main__":
    main()
