"""`baomi icap` on the wire: raw ICAP requests over sockets to the running service, as Squid would send them."""

from __future__ import annotations

import base64
import gzip
import io
import json
import re
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

from scanner.audit import AuditLog
from tests.common import closed_by_peer, docx_of, slowloris
from tests.icap_rig import IcapService
from tests.language import english_words, has_han

MAX_BODY = 200_000
MARKED = "机密★5年\n关于某项目的通知\n内容第二行\n".encode()
CLEAN = "今天天气很好，下午开会。\n".encode()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IcapService]:
    running = IcapService(tmp_path_factory.mktemp("icap"), "--max-body", str(MAX_BODY), "--timeout", "2")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def strict_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IcapService]:
    """A service whose policy blocks flagged uploads at the proxy and that takes one connection at a time."""
    workdir = tmp_path_factory.mktemp("icap-strict")
    (workdir / "baomi.toml").write_text('[channels.web-proxy]\nflag = "block"\n[icap]\nmax_connections = 1\n')
    running = IcapService(workdir, "--config", str(workdir / "baomi.toml"))
    yield running
    running.stop()


# -- a minimal ICAP client


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    http_head: bytes  # the encapsulated HTTP head, request or response
    body: bytes | None  # the encapsulated body, unchunked; None for null-body

    @property
    def http_status(self) -> int:
        return int(self.http_head.split(b" ", 2)[1])

    @property
    def page(self) -> str:
        assert self.body is not None
        return self.body.decode("utf-8")


def http_post(path: str, content_type: str, body: bytes, *extra: str) -> bytes:
    """An upload as a browser in Chinese sends it (its Accept-Language chooses the language of baomi's pages)."""
    lines = [f"POST http://upload.example{path} HTTP/1.1", "Host: upload.example", f"Content-Type: {content_type}"]
    lines += ["Accept-Language: zh-CN,zh;q=0.9"]
    lines += [f"Content-Length: {len(body)}", *extra]
    return "\r\n".join(lines).encode() + b"\r\n\r\n"


def reqmod(
    http_head: bytes,
    body: bytes | None,
    *,
    allow_204: bool = True,
    headers: tuple[str, ...] = (),
    path: str = "/reqmod",
) -> bytes:
    """A REQMOD request carrying the whole body (no preview)."""
    entity = f"req-body={len(http_head)}" if body is not None else f"null-body={len(http_head)}"
    fields = ["Host: 127.0.0.1", f"Encapsulated: req-hdr=0, {entity}", *headers]
    if allow_204:
        fields.append("Allow: 204")
    head = "REQMOD icap://127.0.0.1/reqmod ICAP/1.0\r\n" + "".join(f"{f}\r\n" for f in fields) + "\r\n"
    return head.encode() + http_head + (chunk(body) + b"0\r\n\r\n" if body is not None else b"")


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n" if data else b""


def connect(service: IcapService) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", service.port), timeout=30)
    return sock


def exchange(service: IcapService, request: bytes) -> Response:
    with connect(service) as sock:
        sock.sendall(request)
        return read_response(sock.makefile("rb"))


def read_response(stream: io.BufferedReader) -> Response:
    status_line = stream.readline()
    assert status_line.startswith(b"ICAP/1.0 "), status_line
    headers: dict[str, str] = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        key, _, value = line.decode().partition(":")
        headers[key.strip().lower()] = value.strip()
    sections = [item.strip().split("=") for item in headers.get("encapsulated", "null-body=0").split(",")]
    http_head = stream.read(int(sections[-1][1])) if len(sections) > 1 else b""
    body = None
    if sections[-1][0] != "null-body":
        body = b""
        while (size := int(stream.readline().split(b";")[0], 16)) > 0:
            body += stream.read(size)
            assert stream.read(2) == b"\r\n"
        assert stream.readline() == b"\r\n"
    return Response(int(status_line.split()[1]), headers, http_head, body)


def multipart(*parts: tuple[str, str | None, bytes]) -> tuple[str, bytes]:
    """(field name, file name or None, content) → (Content-Type, body)."""
    boundary = "----baomitestboundary"
    body = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content + b"\r\n"
    return f"multipart/form-data; boundary={boundary}", body + f"--{boundary}--\r\n".encode()


def audit_rows(service: IcapService) -> list:
    log = AuditLog(service.audit)
    try:
        return log.query(channel="web-proxy", limit=None)
    finally:
        log.close()


# -- OPTIONS and requests without a body


def test_options_advertise_reqmod_preview_and_204(service: IcapService) -> None:
    response = exchange(service, b"OPTIONS icap://127.0.0.1/reqmod ICAP/1.0\r\nEncapsulated: null-body=0\r\n\r\n")
    assert response.status == 200
    assert response.headers["methods"] == "REQMOD"
    assert response.headers["allow"] == "204"
    assert int(response.headers["preview"]) > 0
    assert response.headers["transfer-preview"] == "*"
    assert response.headers["istag"].startswith('"baomi-')
    assert int(response.headers["max-connections"]) > 0
    assert int(response.headers["options-ttl"]) > 0


def test_request_without_body_gets_204(service: IcapService) -> None:
    head = b"GET http://example.org/ HTTP/1.1\r\nHost: example.org\r\n\r\n"
    assert exchange(service, reqmod(head, None)).status == 204


def test_request_without_body_is_echoed_when_204_is_not_allowed(service: IcapService) -> None:
    head = b"GET http://example.org/ HTTP/1.1\r\nHost: example.org\r\n\r\n"
    response = exchange(service, reqmod(head, None, allow_204=False))
    assert (response.status, response.http_head, response.body) == (200, head, None)


# -- verdicts


def test_clean_upload_gets_204_when_the_client_allows_it(service: IcapService) -> None:
    response = exchange(service, reqmod(http_post("/notes.txt", "text/plain", CLEAN), CLEAN))
    assert response.status == 204


def test_clean_upload_is_echoed_unchanged_without_allow_204(service: IcapService) -> None:
    head = http_post("/notes.txt", "text/plain", CLEAN)
    response = exchange(service, reqmod(head, CLEAN, allow_204=False))
    assert (response.status, response.http_head, response.body) == (200, head, CLEAN)


def test_marked_upload_gets_a_403_page_in_chinese(service: IcapService) -> None:
    response = exchange(service, reqmod(http_post("/report.txt", "text/plain", MARKED), MARKED))
    assert response.status == 200
    assert response.http_status == 403
    assert b"text/html; charset=utf-8" in response.http_head
    assert "此次上传已被拦截" in response.page
    assert "mark.state-secret" in response.page
    assert "国家秘密标志" in response.page
    assert "report.txt" in response.page


def english_browser(http_head: bytes) -> bytes:
    """The same request as a browser in English sends it."""
    return http_head.replace(b"Accept-Language: zh-CN,zh;q=0.9", b"Accept-Language: en-US,en;q=0.9")


def block_page_text(page: str) -> str:
    """What the block page says, its markup, styles and the uploaded file's name set aside."""
    words = re.sub(r"<style>.*?</style>|<[^>]+>", " ", page, flags=re.S)
    return words.replace("report.txt", " ")


def test_the_block_page_speaks_the_language_of_the_browser(service: IcapService) -> None:
    chinese = exchange(service, reqmod(http_post("/report.txt", "text/plain", MARKED), MARKED))
    english = exchange(service, reqmod(english_browser(http_post("/report.txt", "text/plain", MARKED)), MARKED))
    assert (chinese.http_status, english.http_status) == (403, 403)
    assert '<html lang="zh-CN">' in chinese.page and '<html lang="en">' in english.page
    assert "This upload was blocked" in english.page and "State-secret mark" in english.page
    assert english_words(block_page_text(chinese.page)) == []
    assert not has_han(block_page_text(english.page))
    assert re.search(r"（\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC）", chinese.page)  # the time, its zone named


def test_block_page_shows_no_text_of_the_file(service: IcapService) -> None:
    response = exchange(service, reqmod(http_post("/report.txt", "text/plain", MARKED), MARKED))
    assert "关于某项目" not in response.page
    assert "内容第二行" not in response.page


def test_marked_file_in_a_multipart_form_is_blocked_by_its_name(service: IcapService) -> None:
    content_type, body = multipart(("title", None, "周报".encode()), ("file", "通知.txt", MARKED))
    response = exchange(service, reqmod(http_post("/upload", content_type, body), body))
    assert response.http_status == 403
    assert "通知.txt" in response.page


def test_marked_docx_in_a_multipart_form_is_blocked(service: IcapService) -> None:
    content_type, body = multipart(("file", "通知.docx", docx_of("机密★5年", "关于某项目的通知")))
    response = exchange(service, reqmod(http_post("/upload", content_type, body), body))
    assert response.http_status == 403
    assert "通知.docx" in response.page


def test_marked_form_field_is_blocked(service: IcapService) -> None:
    content_type, body = multipart(("comment", None, MARKED), ("file", "", b""))
    response = exchange(service, reqmod(http_post("/post", content_type, body), body))
    assert response.http_status == 403
    assert "表单内容" in response.page


def test_marked_urlencoded_form_is_blocked(service: IcapService) -> None:
    body = urlencode({"title": "x", "text": "机密★5年\n关于某项目的通知"}).encode()
    response = exchange(service, reqmod(http_post("/post", "application/x-www-form-urlencoded", body), body))
    assert response.http_status == 403


def test_urlencoded_form_with_unescaped_bytes_is_still_read(service: IcapService) -> None:
    body = "title=x&text=机密★5年%0A通知".encode()
    response = exchange(service, reqmod(http_post("/post", "application/x-www-form-urlencoded", body), body))
    assert response.http_status == 403


def test_json_body_is_read_through_its_unicode_escapes(service: IcapService) -> None:
    body = json.dumps({"content": "机密★5年\n关于某项目的通知"}, ensure_ascii=True).encode()
    response = exchange(service, reqmod(http_post("/api/save", "application/json", body), body))
    assert response.http_status == 403


def test_gzip_body_is_decompressed_before_scanning(service: IcapService) -> None:
    body = gzip.compress(MARKED)
    head = http_post("/report.txt", "text/plain", body, "Content-Encoding: gzip")
    assert exchange(service, reqmod(head, body)).http_status == 403


def test_body_in_an_unknown_content_coding_is_blocked_as_unscannable(service: IcapService) -> None:
    head = http_post("/report.txt", "text/plain", CLEAN, "Content-Encoding: br")
    response = exchange(service, reqmod(head, CLEAN))
    assert response.http_status == 403
    assert "无法检查" in response.page


def test_multipart_cut_off_before_its_closing_boundary_is_blocked(service: IcapService) -> None:
    content_type, body = multipart(("file", "notes.txt", CLEAN))
    cut = body[: body.index(CLEAN) + len(CLEAN)]
    assert exchange(service, reqmod(http_post("/upload", content_type, cut), cut)).http_status == 403


# -- bodies a web server could take apart differently from this parser (parser differentials)

MARKED_DOCX = docx_of("机密★5年", "关于某项目的通知")
BOUNDARY = "----baomitestboundary"
FORM_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def part(disposition: str, content: bytes, *headers: str, boundary: str = BOUNDARY) -> bytes:
    lines = "".join(f"{h}\r\n" for h in (f"Content-Disposition: {disposition}", *headers))
    return f"--{boundary}\r\n{lines}\r\n".encode() + content + b"\r\n"


def closed(*parts: bytes, boundary: str = BOUNDARY) -> bytes:
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


CLEAN_FILE = part('form-data; name="file"; filename="notes.txt"', CLEAN)
MARKED_FILE = part('form-data; name="file"; filename="report.docx"', MARKED_DOCX)
DIFFERENTIALS = {
    # PHP-style parsers that go on after the closing boundary find report.docx; python-multipart stops.
    "part-after-closing-boundary": (FORM_TYPE, closed(CLEAN_FILE) + closed(MARKED_FILE)),
    # A server matching the boundary without regard to case sees a second part inside notes.txt.
    "delimiter-in-another-case": (
        FORM_TYPE,
        closed(CLEAN_FILE[:-2] + b"\r\n" + MARKED_FILE.replace(b"baomi", b"BAOMI", 1)),
    ),
    # Servers differ on which boundary parameter counts.
    "two-boundary-parameters": (
        f"multipart/form-data; boundary=decoy; boundary={BOUNDARY}",
        closed(MARKED_FILE),
    ),
    # A field that is a file to a server splitting the header at every `;`, holding a document.
    "semicolon-in-a-field-name": (FORM_TYPE, closed(part('form-data; name="a;filename=x.docx"', MARKED_DOCX))),
    # The first of two transfer encodings is base64 to a server that takes the first one.
    "two-transfer-encodings": (
        FORM_TYPE,
        closed(
            part(
                'form-data; name="file"; filename="r.txt"',
                base64.b64encode(MARKED),
                "Content-Transfer-Encoding: base64",
                "Content-Transfer-Encoding: 7bit",
            )
        ),
    ),
    # A folded Content-Disposition that a server unfolds into a file name.
    "folded-part-header": (FORM_TYPE, closed(part('form-data; name="a";\r\n filename="r.docx"', MARKED_DOCX))),
    # Form fields separated by `;`, as some servers read them: the mark stands alone on its line there.
    "semicolon-separated-fields": (
        "application/x-www-form-urlencoded",
        b"a=1;text=" + quote(MARKED.decode()).encode(),
    ),
    # A JSON key written twice: servers that keep the first value get the marked one.
    "json-key-written-twice": (
        "application/json",
        json.dumps({"text": MARKED.decode()}).encode()[:-1] + b', "text": "ok"}',
    ),
    # A field in GB 18030 (a form of an old page): not UTF-8, read in its own encoding.
    "field-in-another-charset": (FORM_TYPE, closed(part('form-data; name="text"', MARKED.decode().encode("gb18030")))),
    "no-closing-boundary": (FORM_TYPE, MARKED_FILE),
}


@pytest.mark.parametrize("shape", DIFFERENTIALS)
def test_a_body_a_server_could_read_differently_is_never_answered_204(service: IcapService, shape: str) -> None:
    content_type, body = DIFFERENTIALS[shape]
    response = exchange(service, reqmod(http_post("/upload", content_type, body), body))
    assert (response.status, response.http_status) == (200, 403)


def test_two_content_types_are_refused(service: IcapService) -> None:
    body = closed(MARKED_FILE)  # scanned as one text/plain body, the document inside would go unread
    head = http_post("/upload", "text/plain", body, f"Content-Type: {FORM_TYPE}")
    response = exchange(service, reqmod(head, body))
    assert response.http_status == 403
    assert "无法按网站服务器的方式拆解" in response.page


def test_flagged_upload_goes_on_with_a_verdict_header(service: IcapService) -> None:
    body = "内部资料 注意保存\n正文\n".encode()
    head = http_post("/notes.txt", "text/plain", body)
    response = exchange(service, reqmod(head, body))
    assert response.status == 200
    assert response.http_head.startswith(b"POST http://upload.example/notes.txt HTTP/1.1\r\n")
    assert b"\r\nX-Baomi-Verdict: flag\r\n" in response.http_head
    assert response.body == body


def test_flagged_upload_is_blocked_when_the_configuration_says_so(strict_service: IcapService) -> None:
    body = "内部资料 注意保存\n正文\n".encode()
    response = exchange(strict_service, reqmod(http_post("/notes.txt", "text/plain", body), body))
    assert response.http_status == 403
    assert "内部资料" in response.page


def test_body_over_the_limit_is_blocked_as_unscannable(service: IcapService) -> None:
    body = CLEAN * (MAX_BODY // len(CLEAN) + 1)
    response = exchange(service, reqmod(http_post("/big.txt", "text/plain", body), body))
    assert response.http_status == 403
    assert "超出该通道的大小限制" in response.page


# -- preview


def preview_request(http_head: bytes, preview: bytes, ieof: bool, client: str | None = None) -> bytes:
    fields = f"Encapsulated: req-hdr=0, req-body={len(http_head)}\r\nPreview: {len(preview)}\r\nAllow: 204\r\n"
    fields += f"X-Client-IP: {client}\r\n" if client else ""
    last = b"0; ieof\r\n\r\n" if ieof else b"0\r\n\r\n"
    return f"REQMOD icap://127.0.0.1/reqmod ICAP/1.0\r\n{fields}\r\n".encode() + http_head + chunk(preview) + last


def test_preview_holding_the_whole_body_is_answered_without_100_continue(service: IcapService) -> None:
    head = http_post("/notes.txt", "text/plain", CLEAN)
    assert exchange(service, preview_request(head, CLEAN, ieof=True)).status == 204


def test_preview_gets_100_continue_and_the_rest_is_scanned_too(service: IcapService) -> None:
    body = CLEAN * 10 + MARKED  # the mark comes after the preview
    head = http_post("/notes.txt", "text/plain", body)
    with connect(service) as sock:
        stream = sock.makefile("rb")
        sock.sendall(preview_request(head, body[:64], ieof=False))
        assert stream.readline() == b"ICAP/1.0 100 Continue\r\n"
        assert stream.readline() == b"\r\n"
        sock.sendall(chunk(body[64:]) + b"0\r\n\r\n")
        response = read_response(stream)
    assert response.http_status == 403


# -- connections and malformed requests


def test_one_connection_carries_several_requests(service: IcapService) -> None:
    clean = reqmod(http_post("/a.txt", "text/plain", CLEAN), CLEAN)
    marked = reqmod(http_post("/b.txt", "text/plain", MARKED), MARKED)
    with connect(service) as sock:
        stream = sock.makefile("rb")
        statuses = []
        for request in (clean, marked, clean):
            sock.sendall(request)
            response = read_response(stream)
            statuses.append(response.http_status if response.status == 200 else response.status)
    assert statuses == [204, 403, 204]


def test_concurrent_uploads_each_get_their_own_verdict(service: IcapService) -> None:
    def send(i: int) -> tuple[int, int]:
        body = MARKED if i % 2 else CLEAN
        response = exchange(service, reqmod(http_post(f"/c{i}.txt", "text/plain", body), body))
        return i, response.http_status if response.status == 200 else response.status

    with ThreadPoolExecutor(8) as pool:
        answers = dict(pool.map(send, range(32)))
    assert answers == {i: 403 if i % 2 else 204 for i in range(32)}


OPTIONS = b"OPTIONS icap://127.0.0.1/reqmod ICAP/1.0\r\n\r\n"


def test_an_idle_connection_gives_way_to_a_new_one_when_the_service_is_full(strict_service: IcapService) -> None:
    with connect(strict_service) as first:
        first.sendall(OPTIONS)
        assert read_response(first.makefile("rb")).status == 200  # the first connection now holds the one slot
        assert exchange(strict_service, OPTIONS).status == 200  # and gives it up, having no request under way
        assert closed_by_peer(first) == b""


def test_when_every_connection_has_a_request_under_way_a_new_one_gets_503(strict_service: IcapService) -> None:
    head = http_post("/notes.txt", "text/plain", CLEAN * 2)
    with connect(strict_service) as first:
        stream = first.makefile("rb")
        first.sendall(preview_request(head, CLEAN, ieof=False))
        assert stream.readline() == b"ICAP/1.0 100 Continue\r\n"  # under way, waiting for the rest
        assert exchange(strict_service, OPTIONS).status == 503
        stream.readline()
        first.sendall(chunk(CLEAN) + b"0\r\n\r\n")
        assert read_response(stream).status == 204  # the request under way was not disturbed


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"HELLO\r\n\r\n", 400),
        (b"REQMOD icap://127.0.0.1/reqmod HTTP/1.1\r\nEncapsulated: null-body=0\r\n\r\n", 400),
        (b"REQMOD icap://127.0.0.1/reqmod ICAP/2.0\r\nEncapsulated: null-body=0\r\n\r\n", 505),
        (b"REQMOD icap://127.0.0.1/reqmod ICAP/1.0\r\nAllow: 204\r\n\r\n", 400),
        (b"REQMOD icap://127.0.0.1/reqmod ICAP/1.0\r\nEncapsulated: req-hdr=banana\r\n\r\n", 400),
        (b"REQMOD icap://127.0.0.1/other ICAP/1.0\r\nEncapsulated: null-body=0\r\n\r\n", 404),
        (b"RESPMOD icap://127.0.0.1/reqmod ICAP/1.0\r\nEncapsulated: null-body=0\r\n\r\n", 405),
        (b"DELETE icap://127.0.0.1/reqmod ICAP/1.0\r\nEncapsulated: null-body=0\r\n\r\n", 501),
        (b"REQMOD icap://127.0.0.1/reqmod ICAP/1.0\r\nEncapsulated: req-hdr=0, null-body=9\r\n\r\nnot http!", 400),
    ],
    ids=["garbage", "http-version", "icap-2", "no-encapsulated", "bad-offset", "unknown-service", "respmod",
         "unknown-method", "bad-http-head"],
)  # fmt: skip
def test_malformed_request_gets_an_icap_error(service: IcapService, request_bytes: bytes, status: int) -> None:
    assert exchange(service, request_bytes).status == status


@pytest.mark.parametrize("size", [b"zz", b"0x5", b"+5", b"-5", b"5_0"])
def test_bad_chunk_size_gets_400(service: IcapService, size: bytes) -> None:
    head = http_post("/a.txt", "text/plain", CLEAN)
    request = reqmod(head, None).replace(b"null-body", b"req-body") + size + b"\r\nhello\r\n0\r\n\r\n"
    assert exchange(service, request).status == 400


@pytest.fixture(scope="module")
def guarded_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IcapService]:
    """A service with short head and idle timeouts and two uploads under way per browser."""
    workdir = tmp_path_factory.mktemp("icap-guarded")
    settings = "[icap]\nheader_timeout = 2\nidle_timeout = 2\ntimeout = 3\nmax_requests_per_client = 2\n"
    (workdir / "baomi.toml").write_text(settings)
    running = IcapService(workdir, "--config", str(workdir / "baomi.toml"))
    yield running
    running.stop()


@pytest.mark.parametrize(
    "first_bytes",
    [b"", b"REQMOD icap://127.0.0.1/reqmod ICAP/1.0\r\nHost: 127.0.0.1\r\n"],
    ids=["silent", "half-a-head"],
)
def test_64_connections_that_never_finish_their_heads_neither_shut_out_others_nor_stay_open(
    guarded_service: IcapService, first_bytes: bytes
) -> None:
    with slowloris(guarded_service.port, first_bytes) as connections:
        assert exchange(guarded_service, reqmod(http_post("/a.txt", "text/plain", CLEAN), CLEAN)).status == 204
        answers = [closed_by_peer(sock) for sock in connections]
    assert None not in answers  # every one was closed by the service
    assert exchange(guarded_service, reqmod(http_post("/b.txt", "text/plain", MARKED), MARKED)).http_status == 403


def test_a_browser_with_too_many_uploads_under_way_gets_429_while_others_go_on(guarded_service: IcapService) -> None:
    head = http_post("/notes.txt", "text/plain", CLEAN * 2)
    under_way = []
    try:
        for _ in range(2):
            sock = connect(guarded_service)
            under_way.append(sock)
            sock.sendall(preview_request(head, CLEAN, ieof=False, client="10.0.0.9"))
            assert sock.makefile("rb").readline() == b"ICAP/1.0 100 Continue\r\n"
        response = exchange(guarded_service, preview_request(head, CLEAN, ieof=False, client="10.0.0.9"))
        assert (response.status, response.http_status) == (200, 429)
        assert "同时上传的文件过多" in response.page and english_words(block_page_text(response.page)) == []
        english = preview_request(english_browser(head), CLEAN, ieof=False, client="10.0.0.9")
        response = exchange(guarded_service, english)
        assert response.http_status == 429 and "Too many uploads at once" in response.page
        assert not has_han(response.page)
        other = exchange(guarded_service, preview_request(head, CLEAN, ieof=True, client="10.0.0.10"))
        assert other.status == 204
    finally:
        for sock in under_way:
            sock.close()


def test_client_gone_quiet_mid_request_is_disconnected(service: IcapService) -> None:
    head = http_post("/a.txt", "text/plain", CLEAN)
    with connect(service) as sock:
        sock.sendall(reqmod(head, CLEAN)[:-20])  # the end of the body never comes
        started = time.monotonic()
        assert sock.recv(100) == b""  # the service closes (its --timeout is 2 s)
        assert time.monotonic() - started < 10


def test_service_still_answers_after_bad_clients(service: IcapService) -> None:
    for garbage in (b"\x00\xff" * 100, b"REQMOD icap://x/reqmod ICAP/1.0\r\n" + b"X: y\r\n" * 10):
        with connect(service) as sock:
            sock.sendall(garbage)
            sock.shutdown(socket.SHUT_WR)
            sock.recv(1000)
    assert exchange(service, reqmod(http_post("/a.txt", "text/plain", CLEAN), CLEAN)).status == 204


# -- audit


def test_each_scanned_upload_is_audited_with_the_client_address(service: IcapService) -> None:
    content_type, body = multipart(("file", "通知.txt", MARKED), ("other", "ok.txt", CLEAN))
    head = http_post("/audit-me?token=s3cret", content_type, body)
    exchange(service, reqmod(head, body, headers=("X-Client-IP: 10.1.2.3", "X-Client-Username: zhang")))
    rows = [d for d in audit_rows(service) if d.extra.get("url") == "http://upload.example/audit-me"]
    assert sorted((d.name, d.verdict, d.action) for d in rows) == [
        ("ok.txt", "pass", "refused"),  # it went nowhere either: the request as a whole was refused
        ("通知.txt", "block", "refused"),
    ]
    assert {(d.channel, d.source, d.extra["user"]) for d in rows} == {("web-proxy", "10.1.2.3", "zhang")}


def test_clean_form_fields_are_not_audited(service: IcapService) -> None:
    body = b"q=weather&lang=zh"
    exchange(service, reqmod(http_post("/search-form", "application/x-www-form-urlencoded", body), body))
    assert not [d for d in audit_rows(service) if d.extra.get("url") == "http://upload.example/search-form"]


def test_block_page_gives_the_audit_record_as_reference(service: IcapService) -> None:
    response = exchange(service, reqmod(http_post("/ref.txt", "text/plain", MARKED), MARKED))
    [row] = [d for d in audit_rows(service) if d.extra.get("url") == "http://upload.example/ref.txt"]
    assert f"<strong>{row.id}</strong>" in response.page


def test_service_tells_systemd_it_is_ready(tmp_path: Path) -> None:
    address = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        systemd.bind(str(address))
        systemd.settimeout(30)
        running = IcapService(tmp_path, notify_socket=address)
        try:
            assert systemd.recv(100) == b"READY=1"
        finally:
            running.stop()


def test_service_exits_cleanly_on_sigterm(tmp_path: Path) -> None:
    running = IcapService(tmp_path)
    running.stop()  # SIGTERM
    assert running.process.returncode == 0
