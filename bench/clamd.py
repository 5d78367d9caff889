"""`baomi clamd` against ClamAV's own clamd, answering the same clients on loopback; and how soon a dictionary term
written is in force.

    .venv/bin/python bench/clamd.py [--requests 400] [--concurrency 4] [--files 200] [--reloads 5]

Starts `baomi clamd` with its defaults and ClamAV's clamd (Debian's clamav-daemon) with MaxThreads = cores and a
database of one custom .ndb signature (there is no internet here for ClamAV's own databases, so its figures are
those of clamd parsing and unpacking the files, not of matching a real database). Then, against each:

- INSTREAM as Nextcloud's files_antivirus sends it (`nINSTREAM`, chunks of 8 KiB, one connection per file), from
  `--concurrency` client threads: a text-only docx of 100 KB, clean and with 机密★5年 as its first line;
- the real `clamdscan --stream --multiscan` over a folder of `--files` such documents (one IDSESSION), wall time.

Last, on baomi alone: a codename written into a dictionary, the time until VERSION names the new rule set and until
the first stream carrying the codename is FOUND, while another client streams without pause. And for scale, the
engine alone on the same document in this process.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from web import HANZI  # noqa: E402  (bench/web.py: the characters of its documents)

from tests.clamd_rig import BaomiClamd, RealClamd, ask, chunks, clamdscan, client_config, instream  # noqa: E402


def text_docx(first_line: str = "", paragraphs: int = 160, seed: int = 6) -> bytes:
    """A docx of text alone (a picture is a flag, so a FOUND, in the clamd channel): about 100 KB."""
    rng = random.Random(seed)
    document = docx.Document()
    if first_line:
        document.add_paragraph(first_line)
    document.add_heading("关于做好年度信息公开工作的通知", level=1)
    for _ in range(paragraphs):
        document.add_paragraph("".join(rng.choice(HANZI) for _ in range(200)) + "。")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def nextcloud_stream(port: int, data: bytes) -> bytes:
    """One file as files_antivirus sends it in daemon mode: `nINSTREAM\\n`, 8 KiB chunks, the reply read to its
    newline."""
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        sock.sendall(b"nINSTREAM\n" + chunks(data))
        reply = b""
        while not reply.endswith(b"\n"):
            piece = sock.recv(4096)
            if not piece:
                break
            reply += piece
        return reply


def load(port: int, data: bytes, expect: bytes, requests: int, concurrency: int) -> tuple[float, list[float]]:
    def one(_n: int) -> float:
        started = time.perf_counter()
        reply = nextcloud_stream(port, data)
        if not reply.endswith(expect):
            raise SystemExit(f"expected …{expect!r}, got {reply!r}")
        return time.perf_counter() - started

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(2 * concurrency)))  # warm-up: the engine's worker processes, clamd's threads
        started = time.perf_counter()
        latencies = list(pool.map(one, range(requests)))
        return time.perf_counter() - started, latencies


def row(name: str, wall: float, latencies: list[float]) -> str:
    p95 = statistics.quantiles(latencies, n=20)[-1]
    return f"| {name} | {len(latencies) / wall:.0f} | {statistics.median(latencies) * 1000:.0f} | {p95 * 1000:.0f} |"


def engine_alone(document: bytes, scans: int) -> float:
    """Scans per second of the same document by the engine in this process, one at a time: what the door adds to."""
    from scanner.engine import Scanner

    scanner = Scanner()
    scanner.scan_bytes(document, "stream", "clamd")
    started = time.perf_counter()
    for _n in range(scans):
        scanner.scan_bytes(document, "stream", "clamd")
    return scans / (time.perf_counter() - started)


def multiscan(port: int, folder: Path, files: int, workdir: Path) -> float:
    config = client_config(workdir, port)
    started = time.perf_counter()
    result = clamdscan(config, "--stream", "--multiscan", str(folder))
    wall = time.perf_counter() - started
    if result.returncode not in (0, 1):
        raise SystemExit(f"clamdscan: {result.stderr or result.stdout}")
    return files / wall


def reload_latency(workdir: Path, rounds: int) -> list[tuple[float, float]]:
    """(seconds to the new rule set in force, seconds to the first FOUND) after each write of the dictionary, with a
    client streaming a clean document without pause meanwhile."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "baomi.toml").write_text('[dictionaries]\nfiles = ["codenames.txt"]\n', encoding="utf-8")
    (workdir / "codenames.txt").write_text("北斗计划\tblock\n", encoding="utf-8")
    service = BaomiClamd(workdir)
    busy = threading.Event()
    clean = text_docx(paragraphs=20)

    def background() -> None:
        while not busy.is_set():
            ask(service.port, instream(clean))

    client = threading.Thread(target=background, daemon=True)
    client.start()
    found: list[tuple[float, float]] = []
    try:
        for n in range(rounds):
            codename = f"天河{n}号工程"
            before = service.ask(b"zVERSION\0")
            document = instream(f"关于{codename}的安排".encode())
            temporary = workdir / ".codenames.txt.swp"
            temporary.write_text(f"北斗计划\tblock\n{codename}\tblock\n", encoding="utf-8")
            written = time.perf_counter()
            os.replace(temporary, workdir / "codenames.txt")
            in_force = until(lambda old=before: service.ask(b"zVERSION\0") != old) - written
            first_found = until(lambda sent=document: b"FOUND" in service.ask(sent)) - written
            found.append((in_force, first_found))
            time.sleep(1)
    finally:
        busy.set()
        client.join(timeout=60)
        service.stop()
    return found


def until(condition: Callable[[], bool], seconds: float = 120.0) -> float:
    """When `condition()` first held, by perf_counter, asked again and again."""
    deadline = time.perf_counter() + seconds
    while not condition():
        if time.perf_counter() > deadline:
            raise SystemExit("the reload did not come")
    return time.perf_counter()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--reloads", type=int, default=5)
    args = parser.parse_args()
    clean, marked = text_docx(), text_docx("机密★5年")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        folder = workdir / "files"
        folder.mkdir()
        for n in range(args.files):
            (folder / f"{n:04}.docx").write_bytes(marked if n % 10 == 0 else clean)
        baomi = BaomiClamd(workdir / "baomi")
        clamd = RealClamd(workdir / "clamd", threads=os.cpu_count() or 2)
        try:
            print(
                f"docx of {len(clean) / 1024:.0f} KB, {args.requests} streams at concurrency {args.concurrency}, "
                f"{os.cpu_count()} cores shared by the client and the service\n"
            )
            print("| INSTREAM, one connection a file | streams/s | median ms | p95 ms |\n|---|---:|---:|---:|")
            for name, port, document, expect in [
                ("ClamAV clamd, clean docx", clamd.port, clean, b"stream: OK\n"),
                ("baomi clamd, clean docx", baomi.port, clean, b"stream: OK\n"),
                ("ClamAV clamd, marked docx (no signature for it: OK)", clamd.port, marked, b"stream: OK\n"),
                ("baomi clamd, marked docx (FOUND)", baomi.port, marked, b"FOUND\n"),
            ]:
                wall, latencies = load(port, document, expect, args.requests, args.concurrency)
                print(row(name, wall, latencies), flush=True)
            rate = engine_alone(clean, args.requests // 4)
            print(f"| the engine alone, one scan at a time in one process, clean docx | {rate:.0f} | | |")
            print(f"\n| clamdscan --stream --multiscan, {args.files} docx | files/s |\n|---|---:|")
            for name, port in [("ClamAV clamd", clamd.port), ("baomi clamd", baomi.port)]:
                print(f"| {name} | {multiscan(port, folder, args.files, workdir):.0f} |", flush=True)
        finally:
            baomi.stop()
            clamd.stop()
        rounds = reload_latency(workdir / "reload", args.reloads)
        print("\n| a codename written into a dictionary | median s | slowest s |\n|---|---:|---:|")
        for name, values in [("until VERSION names the new rules", [r[0] for r in rounds])]:
            print(f"| {name} | {statistics.median(values):.2f} | {max(values):.2f} |")
        values = [r[1] for r in rounds]
        print(f"| until a stream carrying it is FOUND | {statistics.median(values):.2f} | {max(values):.2f} |")


if __name__ == "__main__":
    main()
