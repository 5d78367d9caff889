"""Mail gateway benchmark: messages per second through a private Postfix and `baomi milter`, and the milter's latency.

    .venv/bin/python bench/milter.py                      # 100 KB messages with a docx attachment, concurrency 4
    .venv/bin/python bench/milter.py --compare-protocols  # a do-nothing milter: this protocol code vs pymilter

Runs as root (a private Postfix, as in tests/test_milter.py); everything binds 127.0.0.1 and is stopped at the end.
"""

from __future__ import annotations

import argparse
import collections
import io
import os
import random
import re
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scanner.audit import AuditLog  # noqa: E402
from tests.common import free_port, wait_for_port  # noqa: E402
from tests.postfix_fixture import Milter, PrivatePostfix, Sink  # noqa: E402

# Common characters, so the attachment's text compresses about as well as real prose.
HANZI = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定"
)


def docx_of_size(size: int, seed: int) -> bytes:
    """A docx of about `size` bytes of ordinary (unmarked) prose."""
    import docx

    rng = random.Random(seed)
    document = docx.Document()
    document.add_paragraph("关于第三季度工作安排的通知")
    while True:
        for _ in range(20):
            document.add_paragraph("".join(rng.choice(HANZI) for _ in range(120)) + "。")
        out = io.BytesIO()
        document.save(out)
        if out.tell() >= size:
            return out.getvalue()


def message(number: int, attachment: bytes) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "author@baomi.example"
    msg["To"] = "reader@example.org"
    msg["Subject"] = f"bench {number}"
    msg.set_content("您好，附件是第三季度工作安排，请查收。\n")
    msg.add_attachment(
        attachment,
        maintype="application",
        subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
        filename=f"工作安排{number}.docx",
    )
    return msg


def send_all(port: int, messages: list[EmailMessage], concurrency: int) -> list[float]:
    """Send every message on its own SMTP session, `concurrency` at a time; each session's seconds."""

    def send(msg: EmailMessage) -> float:
        started = time.perf_counter()
        with smtplib.SMTP("127.0.0.1", port, timeout=120) as smtp:
            smtp.send_message(msg)
        return time.perf_counter() - started

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(send, messages))


def wait_delivered(sink: Sink, count: int, seconds: float = 60) -> float:
    deadline = time.monotonic() + seconds
    while len(sink.received) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(sink.received)} of {count} messages delivered")
        time.sleep(0.01)
    return time.perf_counter()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_through(milter_port: int, messages: list[EmailMessage], concurrency: int) -> tuple[float, list[float]]:
    """(messages per second from the first SMTP connection to the last delivery, SMTP session seconds)."""
    sink = Sink().start()
    postfix = PrivatePostfix(sink.port, milter_port).start()
    try:
        send_all(postfix.smtp_port, messages[:concurrency], concurrency)  # warm up smtpd and the milter's workers
        wait_delivered(sink, concurrency)
        sink.received.clear()
        started = time.perf_counter()
        sessions = send_all(postfix.smtp_port, messages, concurrency)
        try:
            finished = wait_delivered(sink, len(messages))
        except TimeoutError:
            print(postfix.queue_entries(), postfix.log()[-5000:], file=sys.stderr)
            raise
        return len(messages) / (finished - started), sessions
    finally:
        postfix.stop()
        sink.stop()


def bench_gateway(count: int, concurrency: int, size: int, workers: int) -> None:
    attachment = docx_of_size(int(size * 0.72), seed=1)  # base64 makes it ~4/3 larger in the message
    messages = [message(n, attachment) for n in range(count)]
    wire = len(messages[0].as_bytes())
    with tempfile.TemporaryDirectory() as folder:
        milter = Milter(Path(folder) / "audit.db", extra=["--workers", str(workers)]).start()
        try:
            rate, sessions = run_through(milter.port, messages, concurrency)
        finally:
            log = milter.stop()
            verdicts = collections.Counter(re.findall(r"verdict=(\w+) action=\w+ rules=(\S+)", log))
            print("verdicts:", ", ".join(f"{v} {r}: {n}" for (v, r), n in verdicts.most_common()))
            if any(v != "pass" for v, _ in verdicts):
                audit = AuditLog(Path(folder) / "audit.db")
                for d in audit.query(verdict="flag") + audit.query(verdict="block"):
                    print(" ", d.source, d.verdict, d.rules, d.context, d.extra)
    scans = [float(ms) / 1000 for ms in re.findall(r"(\d+) ms$", log, re.M)][concurrency:]  # past the warm-up
    print(
        f"messages: {count} x {wire / 1024:.0f} KB (docx attachment {len(attachment) / 1024:.0f} KB), "
        f"concurrency {concurrency}, milter --workers {workers}, cores {os.cpu_count()}"
    )
    print(f"throughput through Postfix and the milter: {rate:.1f} messages/s")
    print(
        f"milter scan latency per message: median {statistics.median(scans) * 1000:.0f} ms, "
        f"p95 {percentile(scans, 0.95) * 1000:.0f} ms"
    )
    print(
        f"SMTP session as the client sees it: median {statistics.median(sessions) * 1000:.0f} ms, "
        f"p95 {percentile(sessions, 0.95) * 1000:.0f} ms"
    )


def serve_noop(kind: str, port: int) -> None:
    """A milter that keeps the body and adds one header, in this project's protocol code or in pymilter."""
    if kind == "pymilter":
        sys.path.remove(str(Path(__file__).parent))  # this file, milter.py, would shadow pymilter's C module `milter`
        import Milter as pymilter  # type: ignore[import-not-found]

        class Noop(pymilter.Base):  # type: ignore[misc]
            def __init__(self) -> None:
                self.chunks: list[bytes] = []

            def body(self, chunk: bytes) -> int:
                self.chunks.append(chunk)
                return pymilter.CONTINUE

            def eom(self) -> int:
                self.addheader("X-Baomi-Verdict", "pass")
                return pymilter.ACCEPT

        pymilter.factory = Noop
        pymilter.set_flags(pymilter.ADDHDRS)
        pymilter.runmilter("noop", f"inet:{port}@127.0.0.1", 60)
        return
    from scanner.doors import milter_protocol as mp

    class Keep(mp.Handler):
        def body(self, chunk: bytes) -> None:
            self.__dict__.setdefault("chunks", []).append(chunk)

        def end_of_message(self, progress: object) -> mp.Outcome:
            return mp.Outcome(mp.ACCEPT, [mp.AddHeader("X-Baomi-Verdict", "pass")])

    mp.MilterServer(f"inet:{port}@127.0.0.1", Keep).serve_forever()


def compare_protocols(count: int, concurrency: int, size: int) -> None:
    attachment = docx_of_size(int(size * 0.72), seed=1)
    messages = [message(n, attachment) for n in range(count)]
    for kind in ("baomi", "pymilter"):
        port = free_port()
        server = subprocess.Popen([sys.executable, __file__, "--serve-noop", kind, "--port", str(port)], cwd=REPO)
        try:
            wait_for_port(port, server, seconds=30)
            rate, sessions = run_through(port, messages, concurrency)
        finally:
            server.terminate()
            server.wait(timeout=10)
        print(
            f"{kind:9} do-nothing milter: {rate:.1f} messages/s, SMTP session median "
            f"{statistics.median(sessions) * 1000:.0f} ms, p95 {percentile(sessions, 0.95) * 1000:.0f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--size", type=int, default=100 * 1024, help="bytes per message on the wire (about)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="the milter's --workers")
    parser.add_argument("--compare-protocols", action="store_true")
    parser.add_argument("--serve-noop", choices=("baomi", "pymilter"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_noop:
        serve_noop(args.serve_noop, args.port)
    elif args.compare_protocols:
        compare_protocols(args.messages, args.concurrency, args.size)
    else:
        bench_gateway(args.messages, args.concurrency, args.size, args.workers)


if __name__ == "__main__":
    main()
