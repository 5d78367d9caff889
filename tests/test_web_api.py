"""`baomi serve`'s scan API, spoken to over loopback HTTP as a content management system would.

Every test talks to a real `baomi serve` process; uploads are built here, byte by byte where the HTTP client would
not send what a broken or hostile client sends.
"""

from __future__ import annotations

import base64
import io
import json
import os
import quopri
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from scanner.audit import AuditLog
from tests.common import docx_of
from tests.web_service import REPO, Service, serve

MARKED = "机密★5年\n关于调整工作安排的通知\n".encode()
CLEAN = "关于举办春季运动会的通知\n请各部门于三月十日前报名。\n".encode()
LIMIT = 256 * 1024
TOKEN = "cms-token-0123456789abcdef"
FILED_TOKEN = "editor-token-fedcba9876543210"
HOOK = REPO / "hooks" / "cms" / "baomi-check"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    config = f"[web]\nmax_bytes = {LIMIT}\nmax_files = 3\nupload_seconds = 2\n"
    with serve(tmp_path_factory.mktemp("open"), config) as running:
        yield running


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    folder = tmp_path_factory.mktemp("guarded")
    (folder / "tokens").write_text(f"# name token\neditors {FILED_TOKEN}\n")
    config = f'[web]\ntoken_file = "tokens"\n[[web.token]]\nname = "cms"\ntoken = "{TOKEN}"\n'
    with serve(folder, config) as running:
        yield running


def post(service: Service, *files: tuple[str, bytes], **kwargs: object) -> httpx.Response:
    return httpx.post(service.url + "/v1/scan", files=[("file", f) for f in files], timeout=60, **kwargs)  # type: ignore[arg-type]


def raw_request(service: Service, head: bytes, body: bytes, close: bool = False) -> bytes:
    """Send bytes no well-behaved HTTP client would; return what the service answered (b"" if nothing)."""
    with socket.create_connection(("127.0.0.1", service.port), timeout=30) as conn:
        conn.sendall(head + b"\r\n" + body)
        if close:
            conn.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
            if b"\r\n\r\n" in answer and b'"}' in answer:
                break
        return answer


def audited(service: Service, name: str) -> list[str]:
    log = AuditLog(service.audit)
    try:
        return [d.verdict for d in log.query(channel="web", limit=None) if d.name == name]
    finally:
        log.close()


def test_clean_file_gets_the_json_of_baomi_scan_with_a_pass(service: Service) -> None:
    response = post(service, ("通知.txt", CLEAN))
    assert response.status_code == 200
    body = response.json()
    assert body["summary"] == {"files": 1, "pass": 1, "flag": 0, "block": 0}
    assert body["files"][0]["path"] == "通知.txt"
    assert body["files"][0]["verdict"] == "pass"
    assert response.headers["x-baomi-verdict"] == "pass"


def test_marked_file_is_blocked_with_the_mark_and_its_place(service: Service) -> None:
    response = post(service, ("通知.txt", MARKED))
    assert response.status_code == 200
    report = response.json()["files"][0]
    assert report["verdict"] == "block"
    finding = report["findings"][0]
    assert (finding["category"], finding["text"]) == ("state-secret", "机密★5年")
    assert finding["location"]["line"] == 1
    assert response.headers["x-baomi-verdict"] == "block"


def test_marked_docx_is_blocked(service: Service) -> None:
    report = post(service, ("通知.docx", docx_of("机密★5年", "关于调整工作安排的通知"))).json()["files"][0]
    assert report["format"] == "docx"
    assert [f["category"] for f in report["findings"]] == ["state-secret"]


def test_password_protected_docx_is_blocked_as_unscannable(service: Service) -> None:
    from msoffcrypto.format.ooxml import OOXMLFile

    encrypted = io.BytesIO()
    OOXMLFile(io.BytesIO(docx_of("关于调整工作安排的通知"))).encrypt("mima123", encrypted)
    report = post(service, ("加密.docx", encrypted.getvalue())).json()["files"][0]
    assert report["verdict"] == "block"
    assert [f["rule"] for f in report["findings"]] == ["unscannable.encrypted"]
    assert report["errors"]


def test_several_files_in_one_form_are_reported_in_order(service: Service) -> None:
    body = post(service, ("a.txt", CLEAN), ("b.txt", MARKED), ("c.txt", CLEAN)).json()
    assert [(f["path"], f["verdict"]) for f in body["files"]] == [
        ("a.txt", "pass"),
        ("b.txt", "block"),
        ("c.txt", "pass"),
    ]
    assert body["summary"]["block"] == 1


def test_put_scans_the_raw_body_under_the_name_in_the_path(service: Service) -> None:
    response = httpx.put(service.url + "/v1/scan/%E5%86%85%E9%83%A8%20%E9%80%9A%E7%9F%A5.txt", content=MARKED)
    report = response.json()["files"][0]
    assert (response.status_code, report["path"], report["verdict"]) == (200, "内部 通知.txt", "block")


def test_put_takes_a_chunked_body_streamed_in_pieces(service: Service) -> None:
    pieces = [CLEAN[:10], CLEAN[10:30], CLEAN[30:]]
    response = httpx.put(service.url + "/v1/scan/streamed.txt", content=iter(pieces))
    assert response.json()["files"][0] == {**response.json()["files"][0], "size": len(CLEAN), "verdict": "pass"}


def test_gb18030_file_name_in_a_form_is_decoded(service: Service) -> None:
    name = "机密文件.txt".encode("gb18030")
    boundary = b"b0undary"
    body = (
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="' + name + b'"\r\n\r\n'
        + CLEAN + b"\r\n--" + boundary + b"--\r\n"
    )  # fmt: skip
    head = (
        b"POST /v1/scan HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Type: multipart/form-data; boundary=" + boundary + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n"
    )
    answer = raw_request(service, head, body)
    assert answer.startswith(b"HTTP/1.1 200")
    assert "机密文件.txt".encode() in answer


def test_rfc5987_file_name_is_decoded(service: Service) -> None:
    body = (
        b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''%E9%80%9A%E7%9F%A5.txt\r\n\r\n"
        + CLEAN + b"\r\n--xyz--\r\n"
    )  # fmt: skip
    response = httpx.post(
        service.url + "/v1/scan", content=body, headers={"Content-Type": "multipart/form-data; boundary=xyz"}
    )
    assert response.json()["files"][0]["path"] == "通知.txt"


def test_path_components_of_a_name_are_dropped(service: Service) -> None:
    assert post(service, ("../../etc/passwd", CLEAN)).json()["files"][0]["path"] == "passwd"


def test_empty_upload_is_refused_not_passed(service: Service) -> None:
    response = post(service, ("空.txt", b""))
    assert (response.status_code, response.json()["error"]) == (400, "empty-file")
    assert "空.txt" in response.json()["message"]


def form_of(*parts: tuple[bytes, bytes]) -> bytes:
    """(the part's header lines, its content) → a multipart/form-data body with the boundary `z`."""
    return b"".join(b"--z\r\n" + head + b"\r\n\r\n" + content + b"\r\n" for head, content in parts) + b"--z--\r\n"


def post_form(service: Service, *parts: tuple[bytes, bytes]) -> httpx.Response:
    headers = {"Content-Type": "multipart/form-data; boundary=z"}
    return httpx.post(service.url + "/v1/scan", content=form_of(*parts), headers=headers, timeout=60)


def test_form_without_a_file_is_refused(service: Service) -> None:
    response = post_form(service, (b'Content-Disposition: form-data; name="title"', "周报".encode()))
    assert (response.status_code, response.json()["error"]) == (400, "no-file")


def test_a_file_in_a_field_not_named_file_is_scanned(service: Service) -> None:
    response = httpx.post(service.url + "/v1/scan", files={"document": ("附件.txt", MARKED)})
    assert response.status_code == 200
    assert [(f["path"], f["verdict"]) for f in response.json()["files"]] == [("附件.txt", "block")]


def test_an_empty_file_input_of_another_name_is_left_out(service: Service) -> None:
    response = post_form(
        service,
        (b'Content-Disposition: form-data; name="attachment"; filename=""', b""),
        (b'Content-Disposition: form-data; name="file"; filename="a.txt"', CLEAN),
    )
    assert [f["path"] for f in response.json()["files"]] == ["a.txt"]


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [(b"base64", base64.b64encode), (b"Quoted-Printable", lambda data: quopri.encodestring(data, quotetabs=True))],
)
def test_a_file_part_in_a_transfer_encoding_is_decoded_before_it_is_scanned(
    service: Service, encoding: bytes, encode: Callable[[bytes], bytes]
) -> None:
    head = b'Content-Disposition: form-data; name="file"; filename="r.docx"\r\nContent-Transfer-Encoding: ' + encoding
    response = post_form(service, (head, encode(docx_of("机密★5年", "关于调整工作安排的通知"))))
    report = response.json()["files"][0]
    assert (report["format"], report["verdict"], report["findings"][0]["category"]) == ("docx", "block", "state-secret")


@pytest.mark.parametrize(("encoding", "content"), [(b"base64", b"YWJ"), (b"x-uuencode", CLEAN)])
def test_a_file_part_whose_transfer_encoding_cannot_be_undone_is_blocked(
    service: Service, encoding: bytes, content: bytes
) -> None:
    head = b'Content-Disposition: form-data; name="file"; filename="r.txt"\r\nContent-Transfer-Encoding: ' + encoding
    report = post_form(service, (head, content)).json()["files"][0]
    assert (report["verdict"], report["findings"][0]["rule"]) == ("block", "unscannable.unreadable-body")


def test_post_that_is_not_a_form_is_refused_as_the_wrong_content_type(service: Service) -> None:
    response = httpx.post(service.url + "/v1/scan", content=CLEAN, headers={"Content-Type": "text/plain"})
    assert (response.status_code, response.json()["error"]) == (415, "not-multipart")


def test_form_sent_with_put_is_refused_as_the_wrong_content_type(service: Service) -> None:
    response = httpx.put(service.url + "/v1/scan/a.txt", content=CLEAN, headers={"Content-Type": "multipart/form-data"})
    assert response.status_code == 415


def test_form_without_a_boundary_is_refused(service: Service) -> None:
    response = httpx.post(service.url + "/v1/scan", content=CLEAN, headers={"Content-Type": "multipart/form-data"})
    assert (response.status_code, response.json()["error"]) == (400, "bad-form")


def test_garbage_in_a_form_is_refused(service: Service) -> None:
    response = httpx.post(
        service.url + "/v1/scan", content=b"\x00\xff" * 100, headers={"Content-Type": "multipart/form-data; boundary=z"}
    )
    assert response.status_code == 400


def test_too_many_files_in_one_form_are_refused(service: Service) -> None:
    response = post(service, *[(f"{i}.txt", CLEAN) for i in range(4)])
    assert (response.status_code, response.json()["error"]) == (413, "too-many-files")


def test_body_declared_over_the_limit_is_refused_before_it_is_read(service: Service) -> None:
    response = httpx.put(service.url + "/v1/scan/big.txt", content=b"a" * (LIMIT + 1))
    assert (response.status_code, response.json()["error"]) == (413, "too-large")


def refused_while_streaming(service: Service, method: str, path: str, body: Iterator[bytes], **headers: str) -> None:
    """Send `body` without a Content-Length; the service must answer 413 (or close) before reading all of it."""
    try:
        response = httpx.request(method, service.url + path, content=body, headers=headers, timeout=30)
        assert (response.status_code, response.json()["error"]) == (413, "too-large")
    except httpx.HTTPError:
        pass  # the service may close the connection while the client is still sending: refused all the same


def test_chunked_body_over_the_limit_is_refused_while_it_streams(service: Service) -> None:
    sent = 0

    def endless() -> Iterator[bytes]:
        nonlocal sent
        while sent < 50 * LIMIT:
            sent += 16384
            yield b"a" * 16384

    refused_while_streaming(service, "PUT", "/v1/scan/endless.txt", endless())
    assert sent < 50 * LIMIT
    assert audited(service, "endless.txt") == []


def test_multipart_over_the_limit_is_refused_while_it_streams(service: Service) -> None:
    def form() -> Iterator[bytes]:
        yield b'--z\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n\r\n'
        yield from (b"a" * 16384 for _ in range(2 * LIMIT // 16384))
        yield b"\r\n--z--\r\n"

    refused_while_streaming(service, "POST", "/v1/scan", form(), **{"Content-Type": "multipart/form-data; boundary=z"})
    assert audited(service, "big.txt") == []


def test_form_cut_off_before_its_closing_boundary_is_not_scanned(service: Service) -> None:
    body = b'--z\r\nContent-Disposition: form-data; name="file"; filename="cut.txt"\r\n\r\n' + CLEAN[:20]
    response = httpx.post(
        service.url + "/v1/scan", content=body, headers={"Content-Type": "multipart/form-data; boundary=z"}
    )
    assert (response.status_code, response.json()["error"]) == (400, "cut-off")
    assert audited(service, "cut.txt") == []


def test_upload_cut_off_mid_stream_is_not_reported_and_the_service_lives_on(service: Service) -> None:
    head = b"PUT /v1/scan/half.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
    answer = raw_request(service, head, b"a" * 1000, close=True)
    assert b'"pass"' not in answer
    time.sleep(0.3)
    assert audited(service, "half.txt") == []
    assert httpx.get(service.url + "/healthz").status_code == 200


def test_upload_that_trickles_past_the_time_limit_is_refused(service: Service) -> None:
    head = b"PUT /v1/scan/slow.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
    started = time.monotonic()
    answer = raw_request(service, head, b"a" * 10)
    assert answer.startswith(b"HTTP/1.1 408")
    assert time.monotonic() - started < 10
    assert audited(service, "slow.txt") == []


def test_concurrent_uploads_each_get_their_own_verdict(service: Service) -> None:
    jobs = [(f"f{i}.txt", MARKED if i % 3 == 0 else CLEAN) for i in range(24)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda job: post(service, job).json()["files"][0], jobs))
    assert [(a["path"], a["verdict"]) for a in answers] == [
        (name, "block" if data is MARKED else "pass") for name, data in jobs
    ]


def test_each_scanned_file_is_audited_with_channel_and_client(service: Service) -> None:
    post(service, ("审计一.txt", MARKED), ("审计二.txt", CLEAN))
    log = AuditLog(service.audit)
    decisions = {d.name: d for d in log.query(channel="web", limit=10)}
    log.close()
    assert (decisions["审计一.txt"].verdict, decisions["审计一.txt"].action) == ("block", "refused")
    assert (decisions["审计二.txt"].verdict, decisions["审计二.txt"].source) == ("pass", "127.0.0.1")


def test_a_forged_forwarded_for_does_not_change_the_audited_client(service: Service) -> None:
    post(service, ("转发.txt", CLEAN), headers={"X-Forwarded-For": "10.9.8.7"})
    log = AuditLog(service.audit)
    [decision] = [d for d in log.query(channel="web") if d.name == "转发.txt"]
    log.close()
    assert decision.source == "127.0.0.1"


def test_without_a_token_a_guarded_service_answers_401(guarded: Service) -> None:
    response = post(guarded, ("a.txt", CLEAN))
    assert (response.status_code, response.json()["error"]) == (401, "unauthorised")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_wrong_token_is_refused(guarded: Service) -> None:
    response = post(guarded, ("a.txt", CLEAN), headers={"Authorization": f"Bearer {TOKEN[:-1]}x"})
    assert response.status_code == 401


def test_a_configured_token_is_accepted_and_its_name_audited(guarded: Service) -> None:
    response = post(guarded, ("令牌.txt", CLEAN), headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    log = AuditLog(guarded.audit)
    [decision] = [d for d in log.query(channel="web") if d.name == "令牌.txt"]
    log.close()
    assert decision.extra["token"] == "cms"


def test_a_token_from_the_token_file_is_accepted(guarded: Service) -> None:
    response = httpx.put(
        guarded.url + "/v1/scan/a.txt", content=CLEAN, headers={"Authorization": f"Bearer {FILED_TOKEN}"}
    )
    assert response.status_code == 200


def test_health_and_page_need_no_token(guarded: Service) -> None:
    health = httpx.get(guarded.url + "/healthz").json()
    assert health["status"] == "ok" and len(health["rule_set"]) == 16 and health["last_reload"] is None
    assert httpx.get(guarded.url + "/").status_code == 200


def test_openapi_document_describes_both_ways_to_scan(service: Service) -> None:
    document = httpx.get(service.url + "/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]["/v1/scan"]) == {"post"}
    assert set(document["paths"]["/v1/scan/{filename}"]) == {"put"}


def test_page_is_served_with_a_policy_that_runs_only_its_own_script(service: Service) -> None:
    response = httpx.get(service.url + "/", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert "发布前保密检查" in response.text and response.headers["content-language"] == "zh-CN"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert httpx.get(service.url + "/static/app.js").status_code == 200


def test_unknown_paths_and_methods_answer_json_errors(service: Service) -> None:
    assert httpx.get(service.url + "/v1/nothing").status_code == 404
    response = httpx.get(service.url + "/v1/scan")
    assert (response.status_code, response.json()["error"]) == (405, "http")


def test_bad_web_table_stops_the_service_with_status_2(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("[web]\nmax_bytes = -1\n")
    result = subprocess.run(
        [sys.executable, "-m", "scanner.cli", "serve", "--config", str(tmp_path / "bad.toml"), "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "max_bytes" in result.stderr


def run_hook(service: Service, data: bytes, name: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "upload.bin"
    path.write_bytes(data)
    environment = {**os.environ, "BAOMI_URL": service.url, **env}
    return subprocess.run([HOOK, path, name], capture_output=True, text=True, env=environment, timeout=60)


def test_cms_hook_exits_0_for_a_clean_file(service: Service, tmp_path: Path) -> None:
    result = run_hook(service, CLEAN, "通知.txt", tmp_path)
    assert result.returncode == 0
    assert '"pass"' in result.stdout


def test_cms_hook_exits_2_for_a_marked_file(service: Service, tmp_path: Path) -> None:
    result = run_hook(service, MARKED, "机密 通知.txt", tmp_path)
    assert result.returncode == 2
    assert "机密 通知.txt" in result.stdout


def test_cms_hook_sends_its_token(guarded: Service, tmp_path: Path) -> None:
    assert run_hook(guarded, CLEAN, "a.txt", tmp_path).returncode == 3
    assert run_hook(guarded, CLEAN, "a.txt", tmp_path, BAOMI_TOKEN=TOKEN).returncode == 0


def test_cms_hook_speaks_the_users_language(service: Service, tmp_path: Path) -> None:
    """Its own line and the service's report: Chinese under a Chinese locale, English under LANG=C."""
    chinese = run_hook(service, MARKED, "notice.txt", tmp_path, LANG="zh_CN.UTF-8")
    assert (chinese.returncode, chinese.stderr) == (2, "baomi-check：notice.txt：禁止发布\n")
    [finding] = json.loads(chinese.stdout)["files"][0]["findings"]
    assert finding["message"].startswith("国家秘密标志“机密★5年”")
    english = run_hook(service, MARKED, "notice.txt", tmp_path, LANG="C")
    assert (english.returncode, english.stderr) == (2, "baomi-check: notice.txt: block, must not be published\n")
    [finding] = json.loads(english.stdout)["files"][0]["findings"]
    assert finding["message"].startswith("State-secret mark “机密★5年”")
    assert run_hook(service, b"", "empty.txt", tmp_path, LANG="zh_CN.UTF-8").stderr.startswith(
        "baomi-check：empty.txt 未经检查：HTTP 400 "
    )


def test_cms_hook_exits_3_when_the_service_is_down(tmp_path: Path) -> None:
    down = Service("http://127.0.0.1:1", 1, tmp_path / "a.db", tmp_path / "log", None)  # type: ignore[arg-type]
    result = run_hook(down, CLEAN, "a.txt", tmp_path)
    assert result.returncode == 3
    assert "no answer" in result.stderr


# -- languages: every message for a person in the language the request asks for


def test_a_refusal_says_why_in_the_language_the_request_asks_for(service: Service) -> None:
    chinese = post(service, ("空.txt", b""), headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    english = post(service, ("空.txt", b""), headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert chinese.json()["message"] == "文件是空的：空.txt。" and chinese.headers["content-language"] == "zh-CN"
    assert english.json()["message"] == "The file is empty: 空.txt." and english.headers["content-language"] == "en"
    assert chinese.json()["detail"] == english.json()["detail"] == "an upload of 0 bytes"  # for administrators


def test_each_finding_says_why_in_the_language_the_request_asks_for(service: Service) -> None:
    marked = ("a.txt", "机密★5年\n正文\n".encode())
    [chinese] = post(service, marked, headers={"Accept-Language": "zh-CN"}).json()["files"][0]["findings"]
    [english] = post(service, marked, headers={"Accept-Language": "en"}).json()["files"][0]["findings"]
    assert chinese["message"] == "国家秘密标志“机密★5年”位于行首。"
    assert english["message"] == english["explanation"] == "State-secret mark “机密★5年” opens its line."
    assert (chinese["rule"], chinese["category"]) == (english["rule"], english["category"])  # machine fields stay


def test_without_accept_language_the_service_speaks_its_configured_language(tmp_path: Path) -> None:
    with serve(tmp_path, '[i18n]\nlanguage = "zh_CN"\n') as chinese:
        response = post(chinese, ("空.txt", b""))
        assert response.json()["message"] == "文件是空的：空.txt。"
        assert 'lang="zh-CN"' in httpx.get(chinese.url + "/").text


def test_the_pages_words_come_in_the_language_asked_for(service: Service) -> None:
    chinese = httpx.get(service.url + "/v1/messages", headers={"Accept-Language": "zh-CN"}).json()
    english = httpx.get(service.url + "/v1/messages", headers={"Accept-Language": "en"}).json()
    assert chinese["messages"]["May be published"] == "可以发布"
    assert chinese["messages"]["{count} file checked"] == ["已检查 {count} 个文件", "已检查 {count} 个文件"]
    assert english["messages"]["{count} file checked"] == ["{count} file checked", "{count} files checked"]
    assert (
        chinese["categories"]["tender"] == "招投标信息"
        and english["categories"]["tender"] == "Tendering and procurement"
    )
    assert chinese["problems"]["encrypted"].startswith("文件已加密")
    assert chinese["parts"]["body"] == "正文" and english["part_prefixes"]["header"] == "header"


def test_the_page_is_given_every_message_its_script_marks() -> None:
    """The service serves the script the messages Babel extracts from it (babel.cfg: t and tn)."""
    from babel.messages.extract import extract_javascript

    from scanner.doors.web import STATIC, script_messages

    with (STATIC / "app.js").open("rb") as source:
        marked = extract_javascript(source, {"t": None, "tn": (1, 2)}, [], {})
        # t("...", {values}) comes back as (message, None): only tn has a plural
        extracted = {(m, "") if isinstance(m, str) else (m[0], m[1] or "") for _line, _f, m, _c in marked}
    assert set(script_messages()) == extracted
