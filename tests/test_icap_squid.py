"""A real Squid with hooks/squid/baomi.conf in front of an upstream web server: clean uploads reach it, classified
ones get baomi's 403 page and never do, and with baomi down uploads are refused."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from scanner.audit import AuditLog
from tests.common import docx_of, free_port
from tests.conftest import require
from tests.icap_rig import SQUID, IcapService, Squid, Upstream, filler_docx

MAX_BODY = 1_000_000
MARKED_TXT = "机密★5年\n关于某项目的通知\n".encode()
CLEAN_TXT = "今天天气很好，下午三点开会。\n".encode()


@pytest.fixture(scope="module")
def icap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IcapService]:
    require(SQUID is not None, "Squid (/usr/sbin/squid)")
    service = IcapService(tmp_path_factory.mktemp("icap"), "--max-body", str(MAX_BODY))
    yield service
    service.stop()


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def squid(icap: IcapService) -> Iterator[Squid]:
    proxy = Squid(icap.port)
    parsed = proxy.parse()
    assert parsed.returncode == 0, parsed.stderr
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.fixture
def client(squid: Squid) -> Iterator[httpx.Client]:
    with httpx.Client(proxy=squid.proxy, timeout=60) as http:
        yield http


def reached(upstream: Upstream, path: str) -> list[bytes]:
    return [r.body for r in upstream.received if r.path == path]


def test_squid_accepts_the_documented_configuration(squid: Squid) -> None:
    assert squid.parse().returncode == 0


def test_clean_upload_reaches_the_upstream(client: httpx.Client, upstream: Upstream) -> None:
    response = client.post(upstream.url("/clean-txt"), files={"file": ("周报.txt", CLEAN_TXT, "text/plain")})
    assert response.status_code == 200
    assert response.text == "upstream got it"
    [body] = reached(upstream, "/clean-txt")
    assert CLEAN_TXT in body


def test_clean_docx_upload_reaches_the_upstream_unchanged(client: httpx.Client, upstream: Upstream) -> None:
    document = filler_docx(120_000)  # over 64 KB: Squid does not offer 204, so baomi echoes the request
    response = client.post(upstream.url("/clean-docx"), files={"file": ("纪要.docx", document)})
    assert response.status_code == 200
    [body] = reached(upstream, "/clean-docx")
    assert document in body


def test_marked_text_upload_gets_403_and_never_reaches_the_upstream(client: httpx.Client, upstream: Upstream) -> None:
    response = client.post(upstream.url("/marked-txt"), files={"file": ("通知.txt", MARKED_TXT, "text/plain")})
    assert response.status_code == 403
    assert reached(upstream, "/marked-txt") == []


def test_marked_docx_upload_gets_403_and_never_reaches_the_upstream(client: httpx.Client, upstream: Upstream) -> None:
    document = docx_of("机密★5年", "关于某项目的通知")
    response = client.post(upstream.url("/marked-docx"), files={"file": ("通知.docx", document)})
    assert response.status_code == 403
    assert reached(upstream, "/marked-docx") == []


def test_browser_sees_the_block_page_in_chinese(client: httpx.Client, upstream: Upstream) -> None:
    chinese = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}
    response = client.post(
        upstream.url("/page"), files={"file": ("通知.txt", MARKED_TXT, "text/plain")}, headers=chinese
    )
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "此次上传已被拦截" in response.text
    assert "通知.txt" in response.text
    assert "国家秘密标志" in response.text


def test_browser_in_english_sees_the_block_page_in_english(client: httpx.Client, upstream: Upstream) -> None:
    english = {"Accept-Language": "en-US,en;q=0.9"}
    response = client.post(
        upstream.url("/page-en"), files={"file": ("notice.txt", MARKED_TXT, "text/plain")}, headers=english
    )
    assert response.status_code == 403
    assert "This upload was blocked" in response.text and "State-secret mark" in response.text
    assert '<html lang="en">' in response.text and "此次上传" not in response.text


def test_marked_chunked_upload_gets_403(client: httpx.Client, upstream: Upstream) -> None:
    response = client.post(upstream.url("/chunked"), content=iter([MARKED_TXT[:9], MARKED_TXT[9:]]))
    assert response.status_code == 403
    assert reached(upstream, "/chunked") == []


def test_marked_raw_put_gets_403(client: httpx.Client, upstream: Upstream) -> None:
    response = client.put(upstream.url("/dav/%E9%80%9A%E7%9F%A5.txt"), content=MARKED_TXT)
    assert response.status_code == 403
    assert "通知.txt" in response.text
    assert not [r for r in upstream.received if r.path.startswith("/dav/")]


def test_upload_over_the_limit_is_refused(client: httpx.Client, upstream: Upstream) -> None:
    response = client.post(upstream.url("/too-big"), content=CLEAN_TXT * (MAX_BODY // len(CLEAN_TXT) + 10))
    assert response.status_code == 403
    assert reached(upstream, "/too-big") == []


def test_flagged_upload_reaches_the_upstream_marked_as_flagged(client: httpx.Client, upstream: Upstream) -> None:
    response = client.post(upstream.url("/flagged"), content="内部资料 注意保存\n正文\n".encode())
    assert response.status_code == 200
    [request] = [r for r in upstream.received if r.path == "/flagged"]
    assert request.headers["X-Baomi-Verdict"] == "flag"


def test_page_fetch_passes(client: httpx.Client, upstream: Upstream) -> None:
    assert client.get(upstream.url("/page.html")).status_code == 200


def test_blocked_upload_is_audited_with_the_browser_address(
    client: httpx.Client, upstream: Upstream, icap: IcapService
) -> None:
    client.post(upstream.url("/audited"), files={"file": ("通知.txt", MARKED_TXT, "text/plain")})
    log = AuditLog(icap.audit)
    [decision] = [d for d in log.query(channel="web-proxy") if d.extra["url"].endswith("/audited")]
    log.close()
    assert (decision.name, decision.verdict, decision.action, decision.source) == (
        "通知.txt",
        "block",
        "refused",
        "127.0.0.1",
    )


@pytest.fixture(scope="module")
def squid_without_baomi() -> Iterator[Squid]:
    """A Squid configured the same way, whose ICAP port has nothing listening: baomi is down."""
    require(SQUID is not None, "Squid (/usr/sbin/squid)")
    proxy = Squid(free_port())
    proxy.start()
    yield proxy
    proxy.stop()


def test_upload_is_refused_while_baomi_is_down(squid_without_baomi: Squid, upstream: Upstream) -> None:
    with httpx.Client(proxy=squid_without_baomi.proxy, timeout=60) as client:
        response = client.post(upstream.url("/while-down"), files={"file": ("周报.txt", CLEAN_TXT)})
    assert 500 <= response.status_code < 600
    assert reached(upstream, "/while-down") == []


def test_pages_are_still_fetched_while_baomi_is_down(squid_without_baomi: Squid, upstream: Upstream) -> None:
    with httpx.Client(proxy=squid_without_baomi.proxy, timeout=60) as client:
        assert client.get(upstream.url("/page-while-down")).status_code == 200
