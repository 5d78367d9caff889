"""Benchmark `baomi watch`: files per second through a real watcher process, and the latency from a writer's
close-after-write to the file's release (median and p95), over small documents (text and docx, mostly clean).

    .venv/bin/python bench/watch.py [--files 1000] [--jobs N] [--rate FILES_PER_S]

Without --rate the files are dropped as fast as the writer can (a burst: the latency includes the queue); with
--rate they arrive at that pace (the latency of one file on a quiet gateway).
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import docx

# A paragraph of a regulation: it mentions 国家秘密 and 工作秘密 without being marked, as most office text does.
PARAGRAPH = (
    "为切实加强办公室内部保密工作，确保国家秘密的安全，根据《中华人民共和国保守国家秘密法》及相关规定，制定本制度。"
    "严格管理网际网路上传信息，实行谁主管谁负责、谁上传谁负责的原则，确保国家秘密、工作秘密与敏感信息不违规上传。"
    "定期开展机关保密工作检查活动，认真做好记录，发现问题和隐患及时落实整改措施，切实解决好保密工作中的相关问题。\n"
)
TEXTS = [
    "关于召开二〇二六年度工作会议的通知\n各部门：现将有关事项通知如下。会议时间另行通知。\n",
    "今天天气很好，下午三点在三楼会议室开会，请准时参加。\n",
    "内部资料 注意保存\n会议纪要\n",  # flag: one in ten
]


def documents(count: int, kind: str = "small") -> list[tuple[str, bytes]]:
    """`count` documents. small: four in five plain text of ~300 characters, one in five docx; every tenth is
    flagged. text: plain-text reports of ~9,000 characters (26 KB), whose scanning is CPU-bound Python."""
    if kind == "text":
        body = PARAGRAPH * 55
        return [(f"{n:05d}.txt", f"{body}第{n}号\n".encode()) for n in range(count)]
    out = []
    for n in range(count):
        text = TEXTS[2] if n % 10 == 9 else TEXTS[n % 2] + f"第{n}号\n" * 10
        if n % 5 == 4:
            document = docx.Document()
            for line in text.splitlines():
                document.add_paragraph(line)
            buffer = io.BytesIO()
            document.save(buffer)
            out.append((f"{n:05d}.docx", buffer.getvalue()))
        else:
            out.append((f"{n:05d}.txt", text.encode("utf-8")))
    return out


def start_watcher(root: Path, jobs: int | None, threads: bool) -> subprocess.Popen[bytes]:
    folders = {k: root / k for k in ("outbox", "released", "review", "quarantine")}
    for folder in folders.values():
        folder.mkdir()
    command = [sys.executable, "-m", "scanner.cli", "watch", str(folders["outbox"]), "--audit", str(root / "audit.db")]
    for k in ("released", "review", "quarantine"):
        command += [f"--{k}", str(folders[k])]
    if jobs:
        command += ["--jobs", str(jobs)]
    if threads:
        command.append("--threads")
    log = open(root / "watch.log", "wb")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 30
    while b"watching" not in (root / "watch.log").read_bytes():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit("the watcher did not start: " + (root / "watch.log").read_text())
        time.sleep(0.05)
    # Warm up: the first scan loads the dictionaries and starts the parser processes.
    (folders["outbox"] / "warm-up.txt").write_text(TEXTS[1], encoding="utf-8")
    (folders["outbox"] / "warm-up.docx").write_bytes(documents(5)[4][1])
    wait_for_decisions(root / "audit.db", 2, 60)
    return proc


def decision_times(db: Path) -> dict[str, float]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT name, time FROM decisions").fetchall()
    return {name: datetime.fromisoformat(time).timestamp() for name, time in rows}


def wait_for_decisions(db: Path, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not db.exists() or len(decision_times(db)) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out: {len(decision_times(db)) if db.exists() else 0} of {count} decisions")
        time.sleep(0.1)


def run(count: int, jobs: int | None, rate: float | None, kind: str, threads: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="baomi-bench-watch-") as tmp:
        root = Path(tmp)
        proc = start_watcher(root, jobs, threads)
        files = documents(count, kind)
        closed: dict[str, float] = {}
        start = time.time()
        for n, (name, data) in enumerate(files):
            if rate:
                delay = start + n / rate - time.time()
                if delay > 0:
                    time.sleep(delay)
            with open(root / "outbox" / name, "wb") as fh:
                fh.write(data)
            closed[name] = time.time()
        wait_for_decisions(root / "audit.db", count + 2, 300)
        released = decision_times(root / "audit.db")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        latencies = sorted(released[name] - closed[name] for name in closed)
        elapsed = max(released[name] for name in closed) - start
    return {
        "files": count,
        "seconds": elapsed,
        "files_per_s": count / elapsed,
        "median_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))],
        "max_ms": 1000 * latencies[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--jobs", type=int, help="the watcher's --jobs (default: its own, the number of cores)")
    parser.add_argument("--rate", type=float, help="files per second to drop (default: as fast as possible)")
    parser.add_argument("--kind", choices=("small", "text"), default="small", help="the documents (see documents())")
    parser.add_argument("--threads", action="store_true", help="the watcher's --threads")
    args = parser.parse_args()
    result = run(args.files, args.jobs, args.rate, args.kind, args.threads)
    mode = f"{args.rate:g} files/s arriving" if args.rate else "burst"
    print(
        f"{args.kind}, {mode}, jobs {args.jobs or os.cpu_count()} {'threads' if args.threads else 'processes'}: "
        f"{result['files']} files in {result['seconds']:.1f} s = "
        f"{result['files_per_s']:.0f} files/s; close-to-release latency median {result['median_ms']:.0f} ms, "
        f"p95 {result['p95_ms']:.0f} ms, max {result['max_ms']:.0f} ms"
    )


if __name__ == "__main__":
    main()
