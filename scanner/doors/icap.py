"""The web proxy's door: an ICAP (RFC 3507) REQMOD service for Squid that scans what each request uploads and
answers a block with a 403 page in Chinese, a pass with 204 or the request echoed back.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import html
import logging
import os
import socket
import socketserver
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from string import Template
from urllib.parse import urlsplit

from scanner.audit import Action, AuditLog, Decision, default_audit_path
from scanner.command import UsageError, build_scanner, logging_to, overridden, version
from scanner.config import AuditTable, IcapTable
from scanner.doors import icap_protocol as wire
from scanner.doors.icap_uploads import UnreadableBody, Upload, name_from_url, uploads_of
from scanner.doors.stopping import StopSignal
from scanner.engine import Scanner
from scanner.extract.base import Problem
from scanner.model import FileReport, Finding, Verdict

log = logging.getLogger("baomi.icap")

# Judged as the web desk's uploads, except that [channels.web-proxy] flag = "block" refuses what would be flagged:
# nobody can hold an upload at the proxy for a person to look at. A flagged upload goes on, marked.
CHANNEL = "web-proxy"
SERVICE_PATH = "/reqmod"
VERDICT_HEADER = "X-Baomi-Verdict"
# How long a new connection waits for one with no request under way when every connection is taken.
ADMIT_SECONDS = 1.0
ACTIONS = {Verdict.PASS: Action.ALLOWED, Verdict.FLAG: Action.ALLOWED, Verdict.BLOCK: Action.REFUSED}


@dataclass
class Answer:
    """What to send back, and whether the connection can carry another request afterwards."""

    data: bytes
    keep_open: bool = True


class IcapService:
    """Turns REQMOD requests into engine calls and verdicts into ICAP answers; one instance serves every thread."""

    def __init__(self, scanner: Scanner, audit: AuditLog, settings: IcapTable) -> None:
        self.scanner = scanner
        self.audit = audit
        self.settings = settings
        self.istag = _istag(scanner)
        self._changed = threading.Condition()  # guards the two below; notified when a connection ends or goes idle
        self._open: dict[wire.Connection, None] = {}  # oldest first
        self._in_progress: Counter[str] = Counter()  # requests under way, by browser
        # More scans at once than cores only makes the engine start extra worker processes and throw them away.
        self._scanning = threading.BoundedSemaphore(settings.workers or os.cpu_count() or 2)

    # -- connections

    def serve_connection(self, sock: socket.socket, peer: str) -> None:
        settings = self.settings
        conn = wire.Connection(
            sock, settings.idle_timeout, settings.timeout, settings.deadline, settings.header_timeout
        )
        if not self._admit(conn):
            log.warning("%s: refused, every connection is in the middle of a request", peer)
            with contextlib.suppress(OSError):
                sock.sendall(wire.error_response(self.istag, 503))
            return
        try:
            while self._serve_one(conn, peer):
                with self._changed:
                    self._changed.notify_all()  # it waits for its next request now: a new connection may have it
        finally:
            with self._changed:
                self._open.pop(conn, None)
                self._changed.notify_all()

    def _admit(self, conn: wire.Connection) -> bool:
        """Room for one more connection, made by closing the oldest one with no request under way if need be (Squid
        opens another when it needs one); False when every connection is still in the middle of a request after
        ADMIT_SECONDS."""
        until = time.monotonic() + ADMIT_SECONDS
        with self._changed:
            while len(self._open) >= self.settings.max_connections:
                idle = next((c for c in self._open if c.waiting_for_head), None)
                if idle is not None:
                    del self._open[idle]
                    idle.close_now()
                    break
                if not self._changed.wait(until - time.monotonic()):
                    return False
            self._open[conn] = None
            return True

    @contextlib.contextmanager
    def _under_way(self, client: str | None) -> Iterator[bool]:
        """Count a request of `client` (the browser Squid names) as under way; whether it is within the limit."""
        if client is None:
            yield True
            return
        with self._changed:
            if self._in_progress[client] >= self.settings.max_requests_per_client:
                allowed = False
            else:
                allowed = True
                self._in_progress[client] += 1
        try:
            yield allowed
        finally:
            if allowed:
                with self._changed:
                    self._in_progress[client] -= 1
                    if not self._in_progress[client]:
                        del self._in_progress[client]

    def _serve_one(self, conn: wire.Connection, peer: str) -> bool:
        """Answer one request; False when the connection is to be closed."""
        try:
            request = conn.read_request()
            if request is None:
                return False
            answer = self.answer(conn, request, peer)
        except wire.Disconnected as exc:
            log.debug("%s: %s", peer, exc)
            return False
        except wire.IcapError as exc:
            log.warning("%s: %s", peer, exc)
            answer = Answer(wire.error_response(self.istag, exc.status), keep_open=False)
        except Exception:  # a fault here must refuse the request (Squid then fails closed), never pass it
            log.exception("%s: internal error", peer)
            answer = Answer(wire.error_response(self.istag, 500), keep_open=False)
        try:
            conn.finish(answer.data)
        except wire.Disconnected:
            return False
        return answer.keep_open

    def answer(self, conn: wire.Connection, request: wire.IcapRequest, peer: str) -> Answer:
        if request.path != SERVICE_PATH:
            raise wire.IcapError(404, request.path)
        if request.method == "OPTIONS":
            return Answer(self.options())
        if request.method == "RESPMOD":
            raise wire.IcapError(405, "this service modifies requests only")
        if request.method != "REQMOD":
            raise wire.IcapError(501, request.method)
        if request.http is None:
            raise wire.IcapError(400, "REQMOD without an encapsulated HTTP request")
        with self._under_way(request.headers.get("X-Client-IP")) as allowed:
            if not allowed:
                log.warning("%s: refused, %s has too many uploads under way", peer, _client(request, peer))
                return Answer(too_many_page(self.istag), keep_open=False)  # its body is not read
            return self._read_and_decide(conn, request, peer)

    def _read_and_decide(self, conn: wire.Connection, request: wire.IcapRequest, peer: str) -> Answer:
        assert request.http is not None
        try:
            body = conn.read_body(request, self.settings.max_body)
        except wire.BodyTooLarge as exc:
            # The rest of the body is still on its way; answering now and closing is all that is left to do.
            name = name_from_url(request.http.target)
            problem = Problem("too-large", f"request body over the limit of {exc.limit} bytes")
            report = self.scanner.unscanned(name, problem, CHANNEL)
            answer = self._decide(request, peer, [(Upload(name, b"", "body"), report)], b"")
            answer.keep_open = False
            return answer
        return self._decide(request, peer, self._scan(request, body), body)

    def options(self) -> bytes:
        return wire.options_response(
            self.istag,
            [
                ("Methods", "REQMOD"),
                ("Service", f"baomi/{version()} upload scanner"),
                ("Allow", "204"),
                ("Preview", str(self.settings.preview)),
                ("Transfer-Preview", "*"),
                ("Max-Connections", str(self.settings.max_connections)),
                ("Options-TTL", str(self.settings.options_ttl)),
            ],
        )

    # -- scanning and deciding

    def _scan(self, request: wire.IcapRequest, body: bytes) -> list[tuple[Upload, FileReport]]:
        assert request.http is not None
        if not body:
            return []
        head = request.http
        try:
            content_types = set(head.headers.all("Content-Type"))
            if len(content_types) > 1:  # servers differ on which one counts
                raise UnreadableBody(f"{len(content_types)} different Content-Type header fields")
            uploads = uploads_of(
                head.target,
                next(iter(content_types), None),
                ", ".join(head.headers.all("Content-Encoding")) or None,
                body,
                self.settings.max_body,
            )
        except UnreadableBody as exc:
            name = name_from_url(head.target)
            report = self.scanner.unscanned(name, Problem("unreadable-body", str(exc)), CHANNEL, data=body)
            return [(Upload(name, body, "body"), report)]
        with self._scanning:
            return [(upload, self.scanner.scan_bytes(upload.data, upload.name, CHANNEL)) for upload in uploads]

    def _decide(
        self, request: wire.IcapRequest, peer: str, scanned: list[tuple[Upload, FileReport]], body: bytes
    ) -> Answer:
        assert request.http is not None
        verdict = max((report.verdict for _, report in scanned), default=Verdict.PASS)
        ids = self._record(request, peer, scanned, verdict)
        if verdict == Verdict.BLOCK:
            log.info("block %s %s: %s", _client(request, peer), _url(request.http.target), _rules(scanned))
            page = block_page([report for _, report in scanned if report.verdict > Verdict.PASS], ids)
            headers = [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Cache-Control", "no-store"),
                (VERDICT_HEADER, "block"),
            ]
            return Answer(wire.http_response(self.istag, 403, "Forbidden", headers, page))
        original_body = body if request.has_body else None
        if verdict == Verdict.FLAG:
            flagged = request.http.with_header(VERDICT_HEADER, "flag")
            return Answer(wire.request_response(self.istag, flagged, original_body))
        if request.allows_204:
            return Answer(wire.no_content(self.istag))
        return Answer(wire.request_response(self.istag, request.http.raw, original_body))

    def _record(
        self, request: wire.IcapRequest, peer: str, scanned: list[tuple[Upload, FileReport]], verdict: Verdict
    ) -> list[int]:
        """An audit record for each file and body scanned, and for form fields that did not pass; their ids. Each
        carries its own verdict and the action taken on the request as a whole."""
        assert request.http is not None
        extra = {"method": request.http.method, "url": _url(request.http.target), "icap": "reqmod"}
        user = request.headers.get("X-Client-Username")
        if user:
            extra["user"] = user
        ids = []
        for upload, report in scanned:
            if upload.kind == "fields" and report.verdict == Verdict.PASS:
                continue  # every login form and search box would fill the log otherwise
            # What the door did with the request as a whole: a clean file in a refused upload did not go out.
            decision = Decision.of(report, CHANNEL, _client(request, peer), ACTIONS[verdict], **extra)
            ids.append(self.audit.record(decision))
        return ids


# -- the pages

TOO_MANY = """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>请稍后再试</title></head>
<body><h1>同时上传的文件过多</h1><p>您正在进行的上传过多，此次上传未经检查，没有发出。请等其他上传完成后再试。</p></body>
</html>
"""


def too_many_page(istag: str) -> bytes:
    headers = [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store"), ("Retry-After", "10")]
    return wire.http_response(istag, 429, "Too Many Requests", headers, TOO_MANY.encode("utf-8"))


CATEGORIES = {
    "state-secret": "国家秘密标志（密级）",
    "work-secret": "工作秘密标志",
    "commercial-secret": "商业秘密标志",
    "internal": "内部资料标志",
    "personal-data": "个人信息（身份证号、银行卡号等）",
    "roster": "大量个人信息（疑似名单）",
    "unscannable": "无法检查的内容",
    "image": "未经检查的图片",
}
UNSCANNABLE = {
    "encrypted": "文件已加密，无法检查",
    "corrupt": "文件已损坏",
    "garbled": "文字无法识别（乱码）",
    "no-text": "没有可检查的文字",
    "unsupported": "不支持的文件格式",
    "too-large": "上传内容超过大小限制",
    "max_bytes": "文件超过大小限制",
    "max_depth": "压缩包嵌套层数过多",
    "max_total_bytes": "解压后内容过大",
    "max_ratio": "压缩比异常（疑似压缩炸弹）",
    "max_members": "压缩包内文件过多",
    "seconds": "检查超时",
    "memory_mb": "检查所需内存超出限制",
    "unreadable-body": "上传内容的格式无法解析",
}
MAX_ROWS = 20


def block_page(reports: list[FileReport], reference: list[int]) -> bytes:
    """The 403 page: for each finding that stopped the upload, the file, why and where; never the matched text."""
    rows = [(report.path, finding) for report in reports for finding in report.findings if finding.action > 0]
    rows.sort(key=lambda row: -row[1].action)
    cells = "\n".join(_row(path, finding) for path, finding in rows[:MAX_ROWS])
    if len(rows) > MAX_ROWS:
        cells += f'\n<tr><td colspan="4">另有 {len(rows) - MAX_ROWS} 处问题未列出</td></tr>'
    template = Template(resources.files("scanner.doors").joinpath("static/icap-blocked.html").read_text("utf-8"))
    page = template.substitute(
        rows=cells,
        reference=html.escape("、".join(str(i) for i in reference) or "无"),
        time=datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S"),
    )
    return page.encode("utf-8")


def _row(path: str, finding: Finding) -> str:
    category = CATEGORIES.get(finding.category, f"敏感词（{finding.category}）")
    if finding.category == "unscannable":
        reason = finding.rule.removeprefix("unscannable.")
        category += f"：{UNSCANNABLE.get(reason, '无法完整读取')}"
        if finding.explanation:
            category += f"<br><small>{html.escape(finding.explanation[:200])}</small>"
    cells = [html.escape(path), category, f"<code>{html.escape(finding.rule)}</code>", _where(finding)]
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def _where(finding: Finding) -> str:
    where = finding.location
    text = [] if where.part in ("body", "file") else [html.escape(where.part)]
    if where.page:
        text.append(f"第 {where.page} 页")
    if where.line:
        text.append(f"第 {where.line} 行")
    return "，".join(text) or "整个文件"


# -- helpers


def _istag(scanner: Scanner) -> str:
    """Changes when the policy does, so Squid knows earlier answers no longer hold (at most 32 characters)."""
    return "baomi-" + hashlib.sha256(f"{version()} {scanner.config!r}".encode()).hexdigest()[:20]


def _client(request: wire.IcapRequest, peer: str) -> str:
    """The browser's address when Squid sends it (icap_send_client_ip on), else the proxy's."""
    return request.headers.get("X-Client-IP") or f"proxy {peer}"


def _url(target: str) -> str:
    """The URL without its query, which may carry tokens or the text of a search."""
    parts = urlsplit(target)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.scheme else parts.path


def _rules(scanned: list[tuple[Upload, FileReport]]) -> str:
    return ", ".join(f"{report.path}: {' '.join(report.rules)}" for _, report in scanned if report.rules)


# -- the server


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], service: IcapService) -> None:
        self.service = service
        super().__init__(address, _Handler)


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.service.serve_connection(self.request, f"{self.client_address[0]}:{self.client_address[1]}")


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "icap",
        parents=[common],
        help="web proxy: an ICAP service that lets Squid refuse classified uploads",
        description=f"ICAP REQMOD service at icap://HOST:PORT{SERVICE_PATH}: block → HTTP 403 page, pass → 204.",
    )
    parser.add_argument("--host", help="address to listen on (default: [icap] host, else 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default: [icap] port, else 1344)")
    parser.add_argument("--max-body", type=int, metavar="BYTES", help="largest request body scanned; larger ones block")
    parser.add_argument("--timeout", type=float, metavar="SECONDS", help="how long a client may go quiet mid-request")
    parser.add_argument("--workers", type=int, metavar="N", help="uploads scanned at once (default: cores)")
    parser.add_argument("--audit", type=Path, metavar="PATH", help="the decision log (default: [audit] path)")
    parser.add_argument("--verbose", "-v", action="store_true", help="log every block")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with logging_to("baomi icap: %(message)s", logging.INFO if args.verbose else logging.WARNING):
        return _serve(args)


def _serve(args: argparse.Namespace) -> int:
    scanner = build_scanner(args)
    settings = overridden(
        scanner.config.table(IcapTable),
        host=args.host,
        port=args.port,
        max_body=args.max_body,
        timeout=args.timeout,
        workers=args.workers,
    )
    audit = AuditLog(args.audit or default_audit_path(scanner.config.table(AuditTable)))
    service = IcapService(scanner, audit, settings)
    with StopSignal() as stop:  # before the port opens, so that a SIGTERM as soon as it is open stops the service
        try:
            server = _Server((settings.host, settings.port), service)
        except OSError as exc:
            audit.close()
            raise UsageError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}") from None
        threading.Thread(target=server.serve_forever, name="icap", daemon=True).start()
        host, port = server.server_address[:2]
        log.warning("listening on icap://%s:%s%s", host, port, SERVICE_PATH)
        _notify_systemd()
        stop.wait()
        server.shutdown()
        server.server_close()
    audit.close()
    return 0


def _notify_systemd() -> None:
    """Tell systemd (Type=notify) that the port is open, so Squid is started only once baomi answers."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect("\0" + address[1:] if address.startswith("@") else address)
        sock.sendall(b"READY=1")
