"""The web proxy's door: an ICAP (RFC 3507) REQMOD service for Squid that scans what each request uploads and
answers a block with a 403 page in the browser's language, a pass with 204 or the request echoed back.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import logging
import os
import socket
import socketserver
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template
from urllib.parse import urlsplit

from scanner import times
from scanner.audit import Action, AuditLog, Decision, audit_location
from scanner.command import (
    UsageError,
    build_scanner,
    count,
    logging_to,
    overridden,
    reloadable,
    seconds,
    whole_number,
)
from scanner.config import AuditTable, IcapTable
from scanner.dictionaries import dictionary_titles
from scanner.doors import icap_protocol as wire
from scanner.doors.admission import Admission
from scanner.doors.icap_uploads import FIELDS_NAME, UnreadableBody, Upload, name_from_url, uploads_of
from scanner.doors.stopping import StopSignal
from scanner.engine import Scanner
from scanner.extract.base import Problem
from scanner.i18n import _, current, msg, msg_n, negotiate, render, speaking
from scanner.model import FileReport, Finding, Verdict
from scanner.reloading import Rules
from scanner.ruleset import baomi_version
from scanner.titles import category_title, os_error, problem_reason, problem_title, where

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

    def __init__(self, rules: Rules, audit: AuditLog, settings: IcapTable) -> None:
        self.rules = rules
        self.audit = audit
        self.settings = settings
        self._connections: Admission[wire.Connection] = Admission(settings.max_connections, ADMIT_SECONDS)
        self._counting = threading.Lock()  # guards the count below
        self._in_progress: Counter[str] = Counter()  # requests under way, by browser
        # More scans at once than cores only makes the engine start extra worker processes and throw them away.
        self._scanning = threading.BoundedSemaphore(settings.workers or os.cpu_count() or 2)

    @property
    def istag(self) -> str:
        """Changes when the rules do, so Squid knows earlier answers no longer hold (at most 32 characters)."""
        return f"baomi-{self.rules.fingerprint}"

    # -- connections

    def serve_connection(self, sock: socket.socket, peer: str) -> None:
        settings = self.settings
        conn = wire.Connection(
            sock, settings.idle_timeout, settings.timeout, settings.deadline, settings.header_timeout
        )
        if not self._connections.admit(conn):
            log.warning(msg("{client}: refused, every connection is in the middle of a request", client=peer))
            with contextlib.suppress(OSError):
                sock.sendall(wire.error_response(self.istag, 503))
            return
        try:
            while self._serve_one(conn, peer):
                self._connections.went_idle()
        finally:
            self._connections.leave(conn)

    @contextlib.contextmanager
    def _under_way(self, client: str | None) -> Iterator[bool]:
        """Count a request of `client` (the browser Squid names) as under way; whether it is within the limit."""
        if client is None:
            yield True
            return
        with self._counting:
            if self._in_progress[client] >= self.settings.max_requests_per_client:
                allowed = False
            else:
                allowed = True
                self._in_progress[client] += 1
        try:
            yield allowed
        finally:
            if allowed:
                with self._counting:
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
            log.exception(msg("{client}: internal error", client=peer))
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
                busy = msg(
                    "{client}: refused, {browser} has too many uploads under way",
                    client=peer,
                    browser=_client(request, peer),
                )
                log.warning(busy)
                with speaking(self.language(request)):
                    return Answer(too_many_page(self.istag), keep_open=False)  # its body is not read
            return self._read_and_decide(conn, request, peer)

    def language(self, request: wire.IcapRequest) -> str:
        """The language of the browser the upload came from (the Accept-Language of the HTTP request Squid passes
        on), else [i18n] language."""
        asked = request.http.headers.get("Accept-Language") if request.http is not None else None
        return negotiate(asked, self.rules.scanner.config.language)

    def _read_and_decide(self, conn: wire.Connection, request: wire.IcapRequest, peer: str) -> Answer:
        assert request.http is not None
        scanner = self.rules.scanner  # the rules in force when the request came judge all of it
        try:
            body = conn.read_body(request, self.settings.max_body)
        except wire.BodyTooLarge as exc:
            # The rest of the body is still on its way; answering now and closing is all that is left to do.
            name = name_from_url(request.http.target)
            problem = Problem("too-large", msg("The request body is over the limit of {limit} bytes.", limit=exc.limit))
            report = scanner.unscanned(name, problem, CHANNEL)
            answer = self._decide(request, peer, [(Upload(name, b"", "body"), report)], b"")
            answer.keep_open = False
            return answer
        return self._decide(request, peer, self._scan(scanner, request, body), body)

    def options(self) -> bytes:
        return wire.options_response(
            self.istag,
            [
                ("Methods", "REQMOD"),
                ("Service", f"baomi/{baomi_version()} upload scanner"),
                ("Allow", "204"),
                ("Preview", str(self.settings.preview)),
                ("Transfer-Preview", "*"),
                ("Max-Connections", str(self.settings.max_connections)),
                ("Options-TTL", str(self.settings.options_ttl)),
            ],
        )

    # -- scanning and deciding

    def _scan(self, scanner: Scanner, request: wire.IcapRequest, body: bytes) -> list[tuple[Upload, FileReport]]:
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
            report = scanner.unscanned(name, exc.problem(), CHANNEL, data=body)
            return [(Upload(name, body, "body"), report)]
        with self._scanning:
            return [(upload, scanner.scan_bytes(upload.data, upload.name, CHANNEL)) for upload in uploads]

    def _decide(
        self, request: wire.IcapRequest, peer: str, scanned: list[tuple[Upload, FileReport]], body: bytes
    ) -> Answer:
        assert request.http is not None
        verdict = max((report.verdict for _, report in scanned), default=Verdict.PASS)
        ids = self._record(request, peer, scanned, verdict)
        if verdict == Verdict.BLOCK:
            blocked = msg(
                "blocked {browser} {url}: {rules}",
                browser=_client(request, peer),
                url=_url(request.http.target),
                rules=_rules(scanned),
            )
            log.info(blocked)
            with speaking(self.language(request)):
                page = block_page(
                    [report for _, report in scanned if report.verdict > Verdict.PASS],
                    ids,
                    dictionary_titles(self.rules.scanner.config),
                )
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
# Each in the language of the browser the upload came from (its Accept-Language, as Squid passes the request on),
# else [i18n] language. The HTTP status and X-Baomi-Verdict are the same in every language.

TOO_MANY = """<!DOCTYPE html>
<html lang="$lang"><head><meta charset="utf-8"><title>$title</title></head>
<body><h1>$heading</h1><p>$text</p></body>
</html>
"""


def too_many_page(istag: str) -> bytes:
    """The 429 page, in the current language (scanner.i18n.speaking)."""
    words = {
        "title": _("Please try again later"),
        "heading": _("Too many uploads at once"),
        "text": _(
            "You have too many uploads under way: this one was not checked and was not sent. Try again once the "
            "others have finished."
        ),
    }
    page = Template(TOO_MANY).substitute(lang=_tag(), **{k: html.escape(v) for k, v in words.items()})
    headers = [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store"), ("Retry-After", "10")]
    return wire.http_response(istag, 429, "Too Many Requests", headers, page.encode("utf-8"))


MAX_ROWS = 20


def block_page(reports: list[FileReport], reference: list[int], titles: dict[str, dict[str, str]]) -> bytes:
    """The 403 page, in the current language: for each finding that stopped the upload, the file, why and where;
    never the matched text. `titles` are the dictionaries' display names."""
    rows = [(report.path, finding) for report in reports for finding in report.findings if finding.action > 0]
    rows.sort(key=lambda row: -row[1].action)
    cells = "\n".join(_row(path, finding, titles) for path, finding in rows[:MAX_ROWS])
    if len(rows) > MAX_ROWS:
        more = msg_n(
            "{count} more problem is not listed.", "{count} more problems are not listed.", len(rows) - MAX_ROWS
        )
        cells += f'\n<tr><td colspan="4">{html.escape(render(more))}</td></tr>'
    words = {
        "title": _("Upload blocked: confidentiality check"),
        "heading": _("This upload was blocked"),
        "intro": _("The confidentiality check found information in your upload that may not leave: it was not sent."),
        "file": _("File"),
        "reason": _("Reason"),
        "rule": _("Rule"),
        "where": _("Where"),
        "advice": _(
            "Remove or deal with what is listed above before uploading again; classified files must never be sent "
            "over the internet."
        ),
        "contact": _(
            "If you think this is wrong, ask your organisation's confidentiality officer, giving the reference"
        ),
        "reference": ", ".join(str(i) for i in reference) or _("none"),
        "time": render(msg("({time})", time=times.shown(times.now()))),
        "warning": _(
            "Do not try to get around the check by renaming, compressing or encrypting files: such uploads are "
            "blocked and recorded too."
        ),
    }
    template = Template(resources.files("scanner.doors").joinpath("static/icap-blocked.html").read_text("utf-8"))
    escaped = {key: html.escape(value) for key, value in words.items()}
    return template.substitute(lang=_tag(), rows=cells, **escaped).encode("utf-8")


def _row(path: str, finding: Finding, titles: dict[str, dict[str, str]]) -> str:
    shown = _("(form fields)") if path == FIELDS_NAME else path
    category = html.escape(category_title(finding.category, titles))
    if finding.category in ("unscannable", "image", "damaged"):
        title = category_title(finding.category, titles)
        why = msg("{category}: {problem}", category=title, problem=problem_title(problem_reason(finding.rule)))
        category = html.escape(render(why))
        if finding.message:  # what went wrong, never text of the file
            category += f"<br><small>{html.escape(finding.message[:200])}</small>"
    cells = [
        html.escape(shown),
        category,
        f"<code>{html.escape(finding.rule)}</code>",
        html.escape(where(finding.location)),
    ]
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def _tag() -> str:
    """The current language as an HTML lang attribute says it."""
    return current().replace("_", "-")


# -- helpers


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
        with speaking(self.server.service.rules.scanner.config.language):  # its log lines; pages follow their browser
            self.server.service.serve_connection(self.request, f"{self.client_address[0]}:{self.client_address[1]}")


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "icap",
        parents=[common],
        help=_("web proxy: an ICAP service that lets Squid refuse classified uploads"),
        description=_(
            "An ICAP REQMOD service at icap://HOST:PORT%s: block → an HTTP 403 page in the browser's language, "
            "pass → 204."
        )
        % SERVICE_PATH,
    )
    parser.add_argument(
        "--host", metavar=_("HOST"), help=_("address to listen on (default: [icap] host, else 127.0.0.1)")
    )
    parser.add_argument(
        "--port", type=whole_number, metavar=_("PORT"), help=_("port to listen on (default: [icap] port, else 1344)")
    )
    parser.add_argument(
        "--max-body", type=count, metavar=_("BYTES"), help=_("largest request body scanned; larger ones block")
    )
    parser.add_argument(
        "--timeout", type=seconds, metavar=_("SECONDS"), help=_("how long a client may go quiet mid-request")
    )
    parser.add_argument("--workers", type=count, metavar="N", help=_("uploads scanned at once (default: cores)"))
    parser.add_argument("--audit", type=Path, metavar=_("PATH"), help=_("the decision log (default: [audit] path)"))
    parser.add_argument("--verbose", "-v", action="store_true", help=_("log every block"))
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with logging_to("%(asctime)s baomi icap: %(level)s %(message)s", logging.INFO if args.verbose else logging.WARNING):
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
    audit = AuditLog(audit_location(scanner.config.table(AuditTable), args.audit))
    rules = reloadable(args, scanner, audit, CHANNEL)
    service = IcapService(rules, audit, settings)
    with StopSignal() as stop:  # before the port opens, so that a SIGTERM as soon as it is open stops the service
        try:
            server = _Server((settings.host, settings.port), service)
        except OSError as exc:
            audit.close()
            address = f"{settings.host}:{settings.port}"
            raise UsageError(
                msg("Cannot listen on {address}: {error}.", address=address, error=os_error(exc))
            ) from None
        with rules.watching():
            threading.Thread(target=server.serve_forever, name="icap", daemon=True).start()
            host, port = server.server_address[:2]
            where = f"icap://{host!s}:{port}{SERVICE_PATH}"
            log.warning(msg("listening on {address} (rules {rules})", address=where, rules=rules.fingerprint))
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
