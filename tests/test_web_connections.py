"""`baomi serve` under clients that hold connections open: slowloris (heads that never end), uploads that go silent,
one client taking every connection. Real sockets against a real service; the attackers come from 127.0.0.2, the
ordinary client from 127.0.0.1.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.common import SLOWLORIS, closed_by_peer, slowloris
from tests.web_service import Service, serve

CLEAN = "关于举办春季运动会的通知\n".encode()
ATTACKER = SLOWLORIS[0]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    config = "[web]\nheader_seconds = 2\nread_seconds = 3\nmax_requests_per_client = 4\n"
    with serve(tmp_path_factory.mktemp("connections"), config) as running:
        yield running


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A service of two connections, speaking Chinese where no request says what its reader wants."""
    config = '[web]\nmax_connections = 2\nread_seconds = 3\n[i18n]\nlanguage = "zh_CN"\n'
    with serve(tmp_path_factory.mktemp("small"), config) as running:
        yield running


def connect(service: Service, source: str = ATTACKER) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", service.port), timeout=30, source_address=(source, 0))
    return sock


def whole_answer(received: bytes) -> bool:
    """Whether `received` holds an HTTP answer's head and all of the body its Content-Length announces."""
    head, blank, body = received.partition(b"\r\n\r\n")
    lengths = [line.split(b":", 1)[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
    return bool(blank) and bool(lengths) and len(body) >= int(lengths[0])


def scan(service: Service) -> httpx.Response:
    return httpx.post(service.url + "/v1/scan", files={"file": ("通知.txt", CLEAN)}, timeout=60)


def in_progress(service: Service, path: str, source: str = ATTACKER) -> socket.socket:
    """A PUT whose head is in and whose body goes silent after 10 bytes, once the service has begun reading it (its
    100 Continue says so)."""
    sock = connect(service, source)
    sock.sendall(f"PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n".encode())
    assert sock.recv(100).startswith(b"HTTP/1.1 100 ")
    sock.sendall(b"a" * 10)
    return sock


@pytest.mark.parametrize(
    "first_bytes",
    [b"", b"POST /v1/scan HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=z\r\n"],
    ids=["silent", "half-a-head"],
)
def test_64_connections_that_never_finish_their_heads_neither_shut_out_others_nor_stay_open(
    service: Service, first_bytes: bytes
) -> None:
    with slowloris(service.port, first_bytes) as connections:
        response = scan(service)
        assert (response.status_code, response.json()["files"][0]["verdict"]) == (200, "pass")
        answers = [closed_by_peer(sock) for sock in connections]
    assert None not in answers  # every one was closed by the service
    assert scan(service).status_code == 200


def test_a_keep_alive_connection_that_starts_a_second_head_and_stops_is_closed(service: Service) -> None:
    with connect(service) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while not whole_answer(answer):
            answer += sock.recv(1000)
        assert answer.startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")
        assert closed_by_peer(sock) == b""


def test_an_upload_that_goes_silent_mid_body_gets_408_and_is_closed(service: Service) -> None:
    with in_progress(service, "/v1/scan/silent.txt") as sock:
        answer = closed_by_peer(sock)
    assert answer is not None and answer.startswith(b"HTTP/1.1 408 ")
    assert b'"too-slow"' in answer and b"nothing arrived for 3 s" in answer


def test_a_client_with_too_many_requests_in_progress_gets_429_while_others_are_served(service: Service) -> None:
    slow = [in_progress(service, f"/v1/scan/slow{i}.txt") for i in range(4)]
    try:
        with connect(service) as extra:
            extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = closed_by_peer(extra)
        assert answer is not None and answer.startswith(b"HTTP/1.1 429 ")
        assert b'"too-many-requests"' in answer
        assert scan(service).status_code == 200  # another client
    finally:
        for sock in slow:
            sock.close()


def test_when_every_connection_is_in_the_middle_of_a_request_a_new_one_gets_503(small: Service) -> None:
    slow = [in_progress(small, f"/v1/scan/busy{i}.txt") for i in range(2)]
    try:
        with connect(small, "127.0.0.1") as extra:
            extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = closed_by_peer(extra)
        assert answer is not None and answer.startswith(b"HTTP/1.1 503 ")
        assert '"服务繁忙，文件未检查，请稍后再试。"'.encode() in answer
    finally:
        for sock in slow:
            sock.close()
    deadline = time.monotonic() + 30
    while httpx.get(small.url + "/healthz", timeout=30).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.1)  # the two connections close as the service notices
    assert scan(small).status_code == 200


def test_an_idle_connection_gives_way_to_a_new_one_when_the_service_is_full(small: Service) -> None:
    with connect(small) as first, connect(small) as second:
        response = scan(small)
        assert response.status_code == 200
        assert closed_by_peer(first) == b""  # the oldest one waiting for a head was closed
        second.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert second.recv(1000).startswith(b"HTTP/1.1 200 ")
