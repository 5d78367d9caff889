"""The publishing desk's door: `baomi serve`, an HTTP scan API for content management systems and the page editors
check files on before they publish.

Uploads are streamed into spooled temporary files under a size limit, scanned off the event loop under the `web`
channel's policy, answered with the JSON of `baomi scan --format json` and recorded in the audit log. Every answer is
in the language the request's Accept-Language asks for (else [i18n] language): the page, its words
(GET /v1/messages), each finding's `message` and each refusal's.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hmac
import html
import logging
import os
import re
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import IO, Any, TypeVar, cast
from urllib.parse import unquote_to_bytes

import anyio
import anyio.to_thread
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scanner import i18n
from scanner.audit import Action, AuditLog, Decision, audit_location
from scanner.command import UsageError, build_scanner, count, logging_to, overridden, reloadable, whole_number
from scanner.config import AuditTable, ConfigError, TokenTable, WebTable, refusal
from scanner.database import shown
from scanner.dictionaries import dictionary_titles
from scanner.doors.icap_uploads import UnreadableBody, transfer_decoded
from scanner.doors.web_guard import ClientLimit, Connections
from scanner.i18n import N_, _, msg, msg_n, negotiate, render, speaking, translation
from scanner.model import FileReport, Verdict
from scanner.reloading import Rules
from scanner.report import to_json
from scanner.titles import (
    CATEGORIES,
    FORMATS,
    PART_PREFIXES,
    PARTS,
    PROBLEMS,
    category_title,
    format_title,
    os_error,
    problem_title,
)

STATIC = Path(__file__).parent / "static"
CHANNEL = "web"
DEFAULT_PORT = 8470
# An upload stays in memory up to this size and goes to a temporary file past it.
SPOOL_IN_MEMORY = 1024 * 1024
MAX_NAME_CHARS = 255
# What the CMS is told to do with the upload, recorded in the audit log.
ACTIONS = {Verdict.PASS: Action.ALLOWED, Verdict.FLAG: Action.HELD, Verdict.BLOCK: Action.REFUSED}
R = TypeVar("R", bound=Response)

log = logging.getLogger("baomi.web")


class Refusal(Exception):
    """A request the service will not scan: an HTTP status, a code for programs, a message for people (in the
    reader's language) and a detail for administrators (English)."""

    def __init__(self, status: int, code: str, message: i18n.Message, detail: str = "") -> None:
        super().__init__(f"{code}: {detail or render(message, 'en')}")
        self.status, self.code, self.message, self.detail = status, code, message, detail

    def response(self) -> JSONResponse:
        """The refusal as JSON, its message in the current language (scanner.i18n.speaking)."""
        headers = {"WWW-Authenticate": 'Bearer realm="baomi"'} if self.status == 401 else {}
        if self.status in (400, 408, 413):
            headers["Connection"] = "close"  # the rest of the body is not read: this connection is done
        body = {"error": self.code, "message": render(self.message), "detail": self.detail}
        return JSONResponse(body, self.status, headers=headers)


@dataclass(frozen=True)
class Token:
    name: str
    secret: str = field(repr=False)  # never in a log line


@dataclass(frozen=True)
class WebSettings:
    """The `[web]` table: limits, scanning threads and the bearer tokens clients must show (none: open)."""

    max_bytes: int = WebTable.max_bytes  # per request body, counted as it arrives
    max_files: int = WebTable.max_files  # per multipart request
    upload_seconds: int = WebTable.upload_seconds  # for a whole body to arrive: a trickle cannot hold a request
    read_seconds: int = WebTable.read_seconds  # the longest silence while a body arrives
    header_seconds: int = WebTable.header_seconds  # for a request's head, from the connection's opening or last answer
    max_connections: int = WebTable.max_connections  # open at once; connections waiting for a head give way
    max_requests_per_client: int = WebTable.max_requests_per_client  # in progress at once from one address; 429
    workers: int = field(default_factory=lambda: os.cpu_count() or 2)  # files scanned at once
    tokens: tuple[Token, ...] = ()
    # Reverse proxies whose X-Forwarded-For names the client in the audit log; anyone else could forge it.
    trusted_proxies: tuple[str, ...] = ()

    @classmethod
    def of(cls, table: WebTable) -> WebSettings:
        """[web] as the service uses it, with the tokens of [[web.token]] and of token_file (lines `name token`)."""
        tokens = [Token(t.name, t.token) for t in table.token]
        if table.token_file is not None:
            tokens += _read_token_file(table.token_file)
        return cls(
            max_bytes=table.max_bytes,
            max_files=table.max_files,
            upload_seconds=table.upload_seconds,
            read_seconds=table.read_seconds,
            header_seconds=table.header_seconds,
            max_connections=table.max_connections,
            max_requests_per_client=table.max_requests_per_client,
            workers=table.workers or os.cpu_count() or 2,
            tokens=tuple(tokens),
            trusted_proxies=table.trusted_proxies,
        )

    def token_name(self, authorization: str | None) -> str | None:
        """The name of the token in an `Authorization: Bearer …` header, or None; every token is compared in
        constant time, so timing tells nothing about which one nearly matched."""
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return None
        offered = given.strip().encode()
        found = None
        for token in self.tokens:
            if hmac.compare_digest(offered, token.secret.encode()):
                found = token.name
        return found


def _read_token_file(path: Path) -> list[Token]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        unread = msg("[web] token_file {path}: {error}.", path=str(path), error=os_error(exc))
        raise ConfigError(unread) from None
    tokens = []
    for number, line in enumerate(lines, 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) != 2:
            raise ConfigError(msg("{where}: expected `name token`.", where=f"{path}:{number}"))
        try:
            checked = TokenTable(words[0], words[1])
        except ValueError as exc:
            raise ConfigError(msg("{where}: {why}", where=f"{path}:{number}", why=refusal(exc)[1])) from None
        tokens.append(Token(checked.name, checked.token))
    return tokens


@dataclass
class Upload:
    """One uploaded file as it arrives: its name and its bytes, in memory while small and on disk past that, and
    the Content-Transfer-Encoding its form part declared (undone when it is read)."""

    name: str
    spool: IO[bytes] = field(default_factory=lambda: tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY))  # noqa: SIM115
    size: int = 0
    complete: bool = False
    transfer_encoding: bytes = b""

    def write(self, data: bytes) -> None:
        self.spool.write(data)
        self.size += len(data)

    def read(self) -> bytes:
        """The file's bytes; UnreadableBody when its transfer encoding cannot be undone."""
        self.spool.seek(0)
        return transfer_decoded(self.transfer_encoding, self.spool.read())

    def close(self) -> None:
        self.spool.close()


def decode_name(raw: bytes) -> str:
    """A file name sent as bytes in whatever encoding the client used: UTF-8, else GB18030 (older Windows clients
    in China), never an error. Path components and control characters are dropped; the name is only reported."""
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError:
        name = raw.decode("gb18030", errors="replace")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch >= " " and ch != "\x7f").strip()
    return name[:MAX_NAME_CHARS] or "upload"


class FormReader:
    """python-multipart callbacks that spool each file of a form (every part named `file`, and any other part with
    a file name); plain fields are read and dropped.

    Header values are kept as raw bytes so that file names in any encoding survive, and the form counts as read
    only when its closing boundary has arrived: a cut-off form is never scanned as if it were whole.
    """

    def __init__(self, boundary: bytes, max_files: int) -> None:
        self.max_files = max_files
        self.uploads: list[Upload] = []
        self.ended = False
        self._headers: dict[bytes, bytes] = {}
        self._field = bytearray()
        self._value = bytearray()
        self._current: Upload | None = None
        self._unnamed = False  # the current part is a file input of another name with no file name
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": lambda d, s, e: self._field.extend(d[s:e]),
                "on_header_value": lambda d, s, e: self._value.extend(d[s:e]),
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
                "on_end": self._end,
            },
        )

    def write(self, data: bytes) -> None:
        self.parser.write(data)

    def _part_begin(self) -> None:
        self._headers, self._current = {}, None

    def _header_end(self) -> None:
        self._headers[bytes(self._field).lower().strip()] = bytes(self._value).strip()
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        disposition = self._headers.get(b"content-disposition", b"")
        _, options = parse_options_header(disposition.decode("latin-1"))
        filename = options.get(b"filename")
        if filename is None:
            filename = _extended_filename(disposition)
        if options.get(b"name") != b"file" and filename is None:
            return  # a plain field: the form's title, a token, …
        self._unnamed = options.get(b"name") != b"file" and not filename
        if len(self.uploads) >= self.max_files:
            many = msg_n(
                "At most {count} file can be uploaded at once.",
                "At most {count} files can be uploaded at once.",
                self.max_files,
            )
            raise Refusal(413, "too-many-files", many, f"more than {self.max_files}")
        # Browsers write a quote inside a name as %22 (WHATWG multipart/form-data encoding).
        name = decode_name((filename or b"upload").replace(b"%22", b'"'))
        self._current = Upload(name, transfer_encoding=self._headers.get(b"content-transfer-encoding", b""))
        self.uploads.append(self._current)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._current is not None:
            self._current.write(data[start:end])

    def _part_end(self) -> None:
        current = self._current
        if current is not None:
            current.complete = True
            if self._unnamed and current.size == 0:  # a file input left empty: no file name and no content
                self.uploads.remove(current)
                current.close()
        self._current = None

    def _end(self) -> None:
        self.ended = True


def _extended_filename(disposition: bytes) -> bytes | None:
    """`filename*=UTF-8''%E6%9C%BA…` (RFC 5987), which RFC 7578 forbids but some HTTP libraries still send."""
    for param in disposition.split(b";"):
        key, _, value = param.strip().partition(b"=")
        if key.strip().lower() == b"filename*":
            _charset, _, quoted = value.strip().strip(b'"').partition(b"''")
            return unquote_to_bytes(quoted)
    return None


class Desk:
    """The service's state: the rules, the settings, the audit log, and a limit on files scanned at once."""

    def __init__(self, rules: Rules, settings: WebSettings, audit: AuditLog | None) -> None:
        self.rules, self.settings, self.audit = rules, settings, audit
        self._limiter: anyio.CapacityLimiter | None = None  # made on first use, inside the event loop

    def authorise(self, request: Request) -> str | None:
        """The token's name (None when the service is open); Refusal 401 when tokens are set and none matches."""
        if not self.settings.tokens:
            return None
        name = self.settings.token_name(request.headers.get("authorization"))
        if name is None:
            needed = msg("A valid access token is needed.")
            raise Refusal(401, "unauthorised", needed, "send Authorization: Bearer <token>")
        return name

    async def scan(self, request: Request, uploads: list[Upload], token: str | None) -> JSONResponse:
        empty = [u.name for u in uploads if u.size == 0]
        if empty:
            nothing = msg("The file is empty: {names}.", names=", ".join(empty))
            raise Refusal(400, "empty-file", nothing, "an upload of 0 bytes")
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.settings.workers)
        source = request.client.host if request.client else "unknown"
        jobs = [anyio.to_thread.run_sync(self._scan_one, u, source, token, limiter=self._limiter) for u in uploads]
        reports = list(await asyncio.gather(*jobs))
        worst = max((r.verdict for r in reports), default=Verdict.PASS)
        with speaking(language(request)):  # each finding's message in the reader's language
            body = to_json(reports)
        return _spoken(request, JSONResponse(body, headers={"X-Baomi-Verdict": str(worst)}))

    def _scan_one(self, upload: Upload, source: str, token: str | None) -> FileReport:
        scanner = self.rules.scanner
        try:
            data = upload.read()
        except UnreadableBody as exc:
            report = scanner.unscanned(upload.name, exc.problem(), CHANNEL)
        else:
            report = scanner.scan_bytes(data, upload.name, CHANNEL)
        upload.close()
        if self.audit is not None:
            self.audit.record(Decision.of(report, CHANNEL, source, ACTIONS[report.verdict], token=token))
        return report


async def counted(request: Request, limit: int, read_seconds: float) -> AsyncIterator[bytes]:
    """The request body as it arrives, refused (413) the moment it passes `limit` bytes, refused (408) when the
    client sends nothing for `read_seconds` and refused (400) when it goes away before all of it came: neither
    uvicorn nor Starlette limits a body on its own."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            bad = msg("The request's Content-Length is not valid.")
            raise Refusal(400, "bad-length", bad, f"Content-Length: {declared!r}")
        if int(declared) > limit:
            raise _too_large(limit)
    received = 0
    stream = request.stream()
    try:
        while True:
            with anyio.move_on_after(read_seconds) as silence:
                chunk = await anext(stream, None)
            if silence.cancelled_caught:
                raise _too_slow(f"nothing arrived for {read_seconds:g} s after {received} bytes")
            if chunk is None:
                break
            received += len(chunk)
            if received > limit:
                raise _too_large(limit)
            yield chunk
    except ClientDisconnect:
        raise _cut_off(f"the client went away after {received} bytes") from None
    if declared is not None and received != int(declared):
        raise _cut_off(f"{received} of {declared} bytes arrived")


async def receive(request: Request, settings: WebSettings, sink: Callable[[bytes], object]) -> None:
    """Hand the body to `sink` under the size limit and within `upload_seconds`, so that a client trickling bytes
    (or sending none) cannot hold a request, and its spooled upload, for ever."""
    try:
        with anyio.fail_after(settings.upload_seconds):
            async for chunk in counted(request, settings.max_bytes, settings.read_seconds):
                sink(chunk)
    except TimeoutError:
        raise _too_slow(f"not complete after {settings.upload_seconds} s") from None


BAD_FORM = msg("The form is not valid.")


def _too_large(limit: int) -> Refusal:
    over = msg("The upload is over the limit of {size}: the file was not checked.", size=_size(limit))
    return Refusal(413, "too-large", over, f"request body over {limit} bytes")


def _too_slow(detail: str) -> Refusal:
    return Refusal(408, "too-slow", msg("The upload took too long: the file was not checked."), detail)


def _cut_off(detail: str) -> Refusal:
    return Refusal(400, "cut-off", msg("The upload did not finish: the file was not checked."), detail)


def _size(n: int) -> i18n.Message | str:
    if n >= 1024 * 1024:
        return f"{n / 1024 / 1024:.3g} MB"
    if n >= 1024:
        return f"{n / 1024:.3g} KB"
    return msg_n("{count} byte", "{count} bytes", n)


async def scan_form(request: Request) -> Response:
    desk: Desk = request.app.state.desk
    token = desk.authorise(request)
    ctype, options = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data":
        multipart = msg("Upload the file as multipart/form-data (the field is called file).")
        raise Refusal(415, "not-multipart", multipart, "POST takes multipart/form-data")
    boundary = options.get(b"boundary")
    if not boundary:
        raise Refusal(400, "bad-form", msg("The form has no boundary."), "multipart/form-data without a boundary")
    try:
        form = FormReader(boundary, desk.settings.max_files)
    except ValueError as exc:
        raise Refusal(400, "bad-form", BAD_FORM, str(exc)) from None
    try:
        try:
            await receive(request, desk.settings, form.write)
        except ValueError as exc:  # python-multipart's parse errors derive from ValueError
            raise Refusal(400, "bad-form", BAD_FORM, str(exc)) from None
        if not form.ended or not all(u.complete for u in form.uploads):
            raise _cut_off("the form ends before its closing boundary")
        if not form.uploads:
            no_file = msg("The form holds no file (the field is called file).")
            raise Refusal(400, "no-file", no_file, "no part named `file` and no part with a file name")
        return await desk.scan(request, form.uploads, token)
    finally:
        for upload in form.uploads:
            upload.close()


async def scan_body(request: Request) -> Response:
    desk: Desk = request.app.state.desk
    token = desk.authorise(request)
    ctype, _ = parse_options_header(request.headers.get("content-type", ""))
    if ctype.startswith(b"multipart/"):
        use_post = msg("Send a form with POST /v1/scan.")
        raise Refusal(415, "multipart-on-put", use_post, "PUT takes the file itself as the body")
    raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
    upload = Upload(decode_name(unquote_to_bytes(raw_path.split(b"/v1/scan/", 1)[-1].split(b"?", 1)[0])))
    try:
        await receive(request, desk.settings, upload.write)
        upload.complete = True
        return await desk.scan(request, [upload], token)
    finally:
        upload.close()


async def healthz(request: Request) -> Response:
    """Up, and judging by which rules: a reload that failed says why here (the rules in force stay), in English for
    scripts (`error`) and in the reader's language (`message`)."""
    desk: Desk = request.app.state.desk
    with speaking(language(request)):
        return _spoken(request, JSONResponse({"status": "ok", **desk.rules.status()}))


def language(request: Request) -> str:
    """The language of the answer: the most wanted of Accept-Language that baomi speaks, else [i18n] language."""
    desk: Desk = request.app.state.desk
    return negotiate(request.headers.get("accept-language"), desk.rules.scanner.config.language)


def _spoken(request: Request, response: R) -> R:
    """`response` marked with the language it is in, and as varying with the one asked for (for caches)."""
    response.headers["Content-Language"] = _tag(language(request))
    response.headers["Vary"] = "Accept-Language"
    return response


def _tag(lang: str) -> str:
    """A language as an HTML lang attribute or Content-Language value says it: zh_CN → zh-CN."""
    return lang.replace("_", "-")


async def page(request: Request) -> Response:
    return _spoken(request, Response(page_html(language(request)), media_type="text/html; charset=utf-8"))


@functools.cache
def page_html(lang: str) -> str:
    """The editors' page in `lang`: index.html with its words filled in (the script's words come from
    /v1/messages)."""
    with speaking(lang):
        words = {
            "title": _("Check before publishing · baomi"),
            "heading": _("Check before publishing"),
            "intro": _(
                "Drag the files you are about to publish onto the box below, or choose them. Each file gets a "
                "verdict, and each thing found is shown where it is:"
            ),
            "pass": _("May be published"),
            "flag": _("Needs review"),
            "block": _("Must not be published"),
            "drop": _("Drag files here"),
            "choose": _("Choose files"),
            "several": _("(several at once if you like)"),
            "token": _("Access token"),
            "token_hint": _("Ask the system administrator for one"),
            "token_button": _("Save and try again"),
            "footer": _(
                "Files are read only by the checking service on this machine and are not kept; every check is "
                "recorded in the audit log. The API is described in"
            ),
        }
    template = Template((STATIC / "index.html").read_text(encoding="utf-8"))
    return template.substitute(lang=_tag(lang), **{key: html.escape(text) for key, text in words.items()})


async def messages(request: Request) -> Response:
    desk: Desk = request.app.state.desk
    return _spoken(request, JSONResponse(page_catalog(language(request), dictionary_titles(desk.rules.scanner.config))))


def page_catalog(lang: str, titles: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The page's words in `lang`: its script's own messages (each t("...") of app.js; a plural's forms for one and
    for more), and the names of categories (dictionaries' own titles too), problems, parts and formats."""
    catalog = translation(lang)
    own: dict[str, str | list[str]] = {}
    for singular, plural in script_messages():
        own[singular] = (
            [catalog.ngettext(singular, plural, 1), catalog.ngettext(singular, plural, 2)]
            if plural
            else catalog.gettext(singular)
        )
    with speaking(lang):
        return {
            "language": lang,
            "messages": own,
            "categories": {category: category_title(category, titles) for category in [*CATEGORIES, *titles]},
            "problems": {reason: problem_title(reason) for reason in PROBLEMS},
            "parts": {part: _(name) for part, name in PARTS.items()},
            "part_prefixes": {prefix: _(name) for prefix, name in PART_PREFIXES.items()},
            "formats": {fmt: format_title(fmt) for fmt in FORMATS},
        }


# The messages of the page's script, as Babel finds them (babel.cfg: keywords t and tn:1,2).
_STRING = r'"((?:[^"\\]|\\.)*)"'  # a JavaScript string in double quotes, as its text between them
_SCRIPT_CALL = re.compile(rf"\bt\(\s*{_STRING}|\btn\(\s*{_STRING}\s*,\s*{_STRING}")


@functools.cache
def script_messages() -> list[tuple[str, str]]:
    """(message id, plural id or "") of each t("...") and tn("...", "...") call in app.js."""
    source = (STATIC / "app.js").read_text(encoding="utf-8")
    found = []
    for match in _SCRIPT_CALL.finditer(source):
        single, singular, plural = match.groups()
        found.append((single, "") if single is not None else (singular, plural))
    return sorted(set(found))


async def openapi(request: Request) -> Response:
    return FileResponse(STATIC / "openapi.json", media_type="application/json")


def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refusal)
    log.info(msg("{method} {path} refused: {why}", method=request.method, path=request.url.path, why=str(exc)))
    with speaking(language(request)):
        return _spoken(request, exc.response())


# What an HTTP error of the framework (no such page, a method not allowed) says to a person.
_HTTP_ERRORS = {404: N_("There is no such page."), 405: N_("This address does not take that method.")}


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    with speaking(language(request)):
        said = _(_HTTP_ERRORS[exc.status_code]) if exc.status_code in _HTTP_ERRORS else exc.detail
    body = {"error": "http", "message": said, "detail": f"{request.method} {request.url.path}"}
    return _spoken(request, JSONResponse(body, exc.status_code, headers=headers))


def _failed(request: Request, exc: Exception) -> Response:
    log.exception(msg("{method} {path} failed", method=request.method, path=request.url.path))
    with speaking(language(request)):
        said = _("The service failed inside: the file was not checked.")
    return _spoken(request, JSONResponse({"error": "internal", "message": said, "detail": type(exc).__name__}, 500))


class SecurityHeaders:
    """Headers for every answer: the page runs only its own script and nothing is sniffed or framed."""

    HEADERS = (
        (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)


def create_app(rules: Rules, settings: WebSettings | None = None, audit: AuditLog | None = None) -> Starlette:
    handlers: dict[Any, Callable[[Request, Exception], Response | Awaitable[Response]]] = {
        Refusal: _refused,
        HTTPException: _http_error,
        Exception: _failed,
    }
    app = Starlette(
        routes=[
            Route("/", page),
            Route("/v1/messages", messages),
            Route("/healthz", healthz),
            Route("/openapi.json", openapi),
            Route("/v1/scan", scan_form, methods=["POST"]),
            Route("/v1/scan/{filename:path}", scan_body, methods=["PUT"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        exception_handlers=handlers,
    )
    settings = settings or WebSettings()
    app.state.desk = Desk(rules, settings, audit)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(ClientLimit, limit=settings.max_requests_per_client, language=rules.scanner.config.language)
    return app


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    serve = subparsers.add_parser(
        "serve",
        parents=[common],
        help=_("the scan API for content systems and the editors' page (HTTP)"),
        description=_(
            "An HTTP service: POST /v1/scan (a form) or PUT /v1/scan/NAME (the file itself) answers with the JSON of "
            "baomi scan --format json, and / is the page editors check files on before they publish. Answers are in "
            "the language the browser asks for (Accept-Language), else [i18n] language."
        ),
    )
    serve.add_argument(
        "--host", default="127.0.0.1", metavar=_("HOST"), help=_("address to listen on (default 127.0.0.1)")
    )
    serve.add_argument(
        "--port", type=whole_number, default=DEFAULT_PORT, metavar=_("PORT"), help=_("port (default %s)") % DEFAULT_PORT
    )
    serve.add_argument("--audit", type=Path, metavar=_("PATH"), help=_("the decision log (default: [audit] path)"))
    serve.add_argument("--max-bytes", type=count, metavar="N", help=_("largest request body ([web] max_bytes)"))
    serve.add_argument("--workers", type=count, metavar="N", help=_("files scanned at once ([web] workers)"))
    serve.add_argument("--ocr", action="store_true", help=_("read images and scanned pages with Tesseract"))
    serve.set_defaults(run=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    scanner = build_scanner(args)
    settings = WebSettings.of(
        overridden(scanner.config.table(WebTable), max_bytes=args.max_bytes, workers=args.workers)
    )
    if args.host not in ("127.0.0.1", "::1", "localhost") and not settings.tokens:
        open_to_all = msg("listening on {host} with no [[web.token]]: anyone can scan", host=args.host)
        warning = msg("warning: {what}", what=open_to_all)
        print(f"baomi serve: {render(warning)}", file=sys.stderr)
    if not 0 < args.port < 65536:
        wrong = msg("expected 1 to 65535, not {value}.", value=args.port)
        raise UsageError(msg("{option}: {why}", option="--port", why=wrong))
    audit_path = audit_location(scanner.config.table(AuditTable), args.audit)
    audit = AuditLog(audit_path)
    started = msg_n(
        "{url} (audit log {audit}, {count} token, limit {limit} bytes, rules {rules})",
        "{url} (audit log {audit}, {count} tokens, limit {limit} bytes, rules {rules})",
        len(settings.tokens),
        url=f"http://{args.host}:{args.port}/",
        audit=shown(audit_path),
        limit=settings.max_bytes,
        rules=scanner.fingerprint,
    )
    print(f"baomi serve: {render(started)}", file=sys.stderr, flush=True)
    rules = reloadable(args, scanner, audit, CHANNEL)
    app = create_app(rules, settings, audit)
    connections = Connections(settings.header_seconds, settings.max_connections)
    with (
        speaking(scanner.config.language),
        logging_to("%(asctime)s %(name)s: %(level)s %(message)s", logging.INFO),
        rules.watching(),
    ):
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            log_level="warning",
            http=cast(Any, connections.protocol),  # uvicorn takes any callable that builds its protocol
            limit_concurrency=None,  # Connections bounds them, letting idle ones give way rather than answering 503
            proxy_headers=bool(settings.trusted_proxies),
            forwarded_allow_ips=list(settings.trusted_proxies) or None,
        )
    return 0
