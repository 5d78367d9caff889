"""Throughput and latency of uploads through a real Squid with `baomi icap`: 200 KB docx at concurrency 8, loopback.

    .venv/bin/python bench/icap.py [--requests 400] [--concurrency 8]

Starts `baomi icap`, an upstream web server and two throwaway Squids (tests/icap_rig.py): one configured with
hooks/squid/baomi.conf, one without ICAP for comparison. Sends the docx of bench/web.py (the API's benchmark) as
multipart POSTs from client threads, each on its own keep-alive connection to Squid, and prints requests per second
with the median and 95th percentile latency: Squid alone, a clean docx through baomi (echoed: over 64 KB, Squid does
not offer 204) and the same docx with 机密★5年 as its first line (403 page).
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path

import docx
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from web import notice_docx  # noqa: E402  (bench/web.py: the same document as the API's figures)

from tests.icap_rig import IcapService, Squid, Upstream  # noqa: E402


def upstream_process() -> tuple[BaseProcess, int]:
    """The upstream web server in a process of its own, so that it does not share a GIL with the client threads."""
    parent, child = multiprocessing.Pipe()

    def serve() -> None:
        upstream = Upstream(keep=False)
        child.send(upstream.port)
        upstream.thread.join()

    process = multiprocessing.get_context("fork").Process(target=serve, daemon=True)
    process.start()
    return process, parent.recv()


def with_mark(document: bytes) -> bytes:
    """The same document with 机密★5年 as its first line."""
    opened = docx.Document(io.BytesIO(document))
    opened.paragraphs[0].insert_paragraph_before("机密★5年")
    out = io.BytesIO()
    opened.save(out)
    return out.getvalue()


@dataclass
class Run:
    wall: float
    latencies: list[float]
    retries: int


def run(proxy: str, url: str, document: bytes, expect: int, requests: int, threads: int) -> Run:
    """`requests` uploads of `document` from `threads` threads; the wall time and each upload's latency.

    After a 403 made by ICAP, Squid 5.7 closes the browser's connection although it said keep-alive; a client that
    sends its next request on it in that moment sees it closed (or reset) without an answer and, as browsers do,
    sends again on a new connection. Those retries are counted, and their time is in the latency."""
    local = threading.local()
    retries = 0

    def upload(_: int) -> float:
        nonlocal retries
        if not hasattr(local, "client"):
            local.client = httpx.Client(proxy=proxy, timeout=120)
        start = time.perf_counter()
        try:
            response = local.client.post(url, files={"file": ("通知.docx", document)})
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
            retries += 1
            response = local.client.post(url, files={"file": ("通知.docx", document)})
        elapsed = time.perf_counter() - start
        if response.status_code != expect:
            raise SystemExit(f"expected {expect}, got {response.status_code}: {response.text[:300]}")
        return elapsed

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(upload, range(2 * threads)))  # warm-up: connections, worker processes
        retries = 0
        start = time.perf_counter()
        latencies = list(pool.map(upload, range(requests)))
        return Run(time.perf_counter() - start, latencies, retries)


def row(name: str, result: Run) -> str:
    p95 = statistics.quantiles(result.latencies, n=20)[-1]
    median = statistics.median(result.latencies)
    rate = len(result.latencies) / result.wall
    return f"| {name} | {rate:.0f} | {median * 1000:.0f} | {p95 * 1000:.0f} | {result.retries} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    clean = notice_docx()
    marked = with_mark(clean)
    upstream, upstream_port = upstream_process()
    url = f"http://127.0.0.1:{upstream_port}/upload"
    with tempfile.TemporaryDirectory() as tmp:
        icap = IcapService(Path(tmp))
        squids = [Squid(None), Squid(icap.port)]
        try:
            for squid in squids:
                squid.start()
            print(
                f"docx of {len(clean) / 1024:.0f} KB (clean) and {len(marked) / 1024:.0f} KB (marked), "
                f"{args.requests} requests, concurrency {args.concurrency}, {os.cpu_count()} cores, "
                "client, Squid, baomi and upstream on the same machine\n"
            )
            print("| upload through Squid | requests/s | median ms | p95 ms | retries |\n|---|---:|---:|---:|---:|")
            ways = [
                ("Squid alone, no ICAP (200)", squids[0], clean, 200),
                ("Squid + baomi icap, clean docx (passes, 200)", squids[1], clean, 200),
                ("Squid + baomi icap, marked docx (blocked, 403)", squids[1], marked, 403),
            ]
            for name, squid, document, expect in ways:
                result = run(squid.proxy, url, document, expect, args.requests, args.concurrency)
                print(row(name, result), flush=True)
        finally:
            for squid in squids:
                squid.stop()
            icap.stop()
            upstream.terminate()
            upstream.join()


if __name__ == "__main__":
    main()
