"""`baomi clamd` as file clouds see it: the real `clamdscan` from Debian and a raw protocol client against a real
`baomi clamd` process; its answers to the protocol's corner cases compared byte for byte with ClamAV's own clamd;
verdicts on marked, clean and encrypted documents; limits, malformed commands, slow and vanishing clients; SCAN
confined to its roots.
"""

from __future__ import annotations

import io
import os
import select
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from scanner.audit import AuditLog
from scanner.doors.clamd_protocol import MAX_COMMAND
from tests.clamd_rig import (
    BAOMI,
    CLAMD,
    CLAMDSCAN,
    BaomiClamd,
    RealClamd,
    ask,
    chunks,
    clamdscan,
    client_config,
    instream,
)
from tests.common import docx_of, stop
from tests.conftest import require
from tests.language import data_words, english_words, has_han

MARKED = docx_of("关于某项目的通知", header="机密★5年")
CLEAN = docx_of("关于举办春季运动会的通知")
PERSONAL = "联系人身份证号 11010519491231002X".encode()  # personal data: a flag under the default policy
FOUND_MARK = b"stream: Baomi.state-secret.mark.state-secret FOUND\0"
LIMITS = "[clamd]\nstream_max_length = 1000\ncommand_seconds = 2\nread_seconds = 2\n"


def encrypted_docx() -> bytes:
    from msoffcrypto.format.ooxml import OOXMLFile

    out = io.BytesIO()
    OOXMLFile(io.BytesIO(CLEAN)).encrypt("mima123", out)
    return out.getvalue()


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one folder SCAN may read, with a marked, a clean and an empty file, a folder of them, and links."""
    top = tmp_path_factory.mktemp("share")
    (top / "share").mkdir()
    share = top / "share"
    (share / "marked.docx").write_bytes(MARKED)
    (share / "clean.docx").write_bytes(CLEAN)
    (share / "empty.txt").write_bytes(b"")
    (share / "folder").mkdir()
    (share / "folder" / "a.docx").write_bytes(MARKED)
    (share / "folder" / "b.docx").write_bytes(CLEAN)
    (share / "folder" / "c.txt").write_bytes("内部资料 注意保存".encode())
    (share / "clean-folder").mkdir()
    (share / "clean-folder" / "one.docx").write_bytes(CLEAN)
    (share / "link-inside.docx").symlink_to(share / "marked.docx")
    (share / "linked-out").mkdir()
    (share / "linked-out" / "passwd").symlink_to("/etc/passwd")
    (share / "escape").symlink_to("/etc")
    (share / "loop").mkdir()
    (share / "loop" / "back").symlink_to(share / "loop")
    (top / "outside.docx").write_bytes(MARKED)
    return share


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, roots: Path) -> Iterator[BaomiClamd]:
    running = BaomiClamd(tmp_path_factory.mktemp("clamd"), f'{LIMITS}roots = ["{roots}"]\n')
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(service: BaomiClamd, tmp_path_factory: pytest.TempPathFactory) -> Path:
    require(CLAMDSCAN is not None, "clamdscan (Debian package clamdscan)")
    return client_config(tmp_path_factory.mktemp("client"), service.port, stream_max_length="1000")


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaomiClamd]:
    """A service with clamd's default limits and no roots."""
    running = BaomiClamd(tmp_path_factory.mktemp("clamd-default"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def plain_client(plain: BaomiClamd, tmp_path_factory: pytest.TempPathFactory) -> Path:
    require(CLAMDSCAN is not None, "clamdscan (Debian package clamdscan)")
    return client_config(tmp_path_factory.mktemp("client"), plain.port)


def records(service: BaomiClamd) -> list[tuple[str, str, str]]:
    log = AuditLog(service.audit)
    try:
        return [(d.verdict, d.action, ",".join(d.rules)) for d in reversed(log.query(limit=None))]
    finally:
        log.close()


# -- the real clamdscan


def test_clamdscan_stream_finds_a_marked_document_and_passes_a_clean_one(plain_client: Path, tmp_path: Path) -> None:
    config = plain_client
    (tmp_path / "通知.docx").write_bytes(MARKED)
    (tmp_path / "运动会.docx").write_bytes(CLEAN)
    found = clamdscan(config, "--stream", str(tmp_path / "通知.docx"))
    assert found.returncode == 1
    assert found.stdout == f"{tmp_path / '通知.docx'}: Baomi.state-secret.mark.state-secret FOUND\n"
    clean = clamdscan(config, "--stream", str(tmp_path / "运动会.docx"))
    assert (clean.returncode, clean.stdout) == (0, f"{tmp_path / '运动会.docx'}: OK\n")


def test_clamdscan_stream_finds_an_encrypted_document_it_cannot_read(plain_client: Path, tmp_path: Path) -> None:
    config = plain_client
    (tmp_path / "加密.docx").write_bytes(encrypted_docx())
    result = clamdscan(config, "--stream", str(tmp_path / "加密.docx"))
    assert result.returncode == 1
    assert result.stdout.endswith(": Baomi.unscannable.unscannable.encrypted FOUND\n")


def test_clamdscan_multiscan_sends_a_folder_in_one_session(plain_client: Path, tmp_path: Path) -> None:
    config = plain_client
    for n in range(6):
        (tmp_path / f"{n}.docx").write_bytes(MARKED if n % 3 == 0 else CLEAN)
    result = clamdscan(config, "--stream", "--multiscan", "--infected", str(tmp_path))
    assert result.returncode == 1
    assert sorted(result.stdout.splitlines()) == [
        f"{tmp_path / '0.docx'}: Baomi.state-secret.mark.state-secret FOUND",
        f"{tmp_path / '3.docx'}: Baomi.state-secret.mark.state-secret FOUND",
    ]


def test_clamdscan_pings_and_reads_the_version(plain_client: Path) -> None:
    config = plain_client
    assert clamdscan(config, "--ping", "1").stdout == "PONG\n"
    version = clamdscan(config, "--version").stdout
    assert version.startswith("baomi ") and version.count("/") == 2


def test_seafiles_scan_command_exits_as_clamdscan_does(plain_client: Path, tmp_path: Path) -> None:
    """hooks/clamd/baomi-clamdscan, as seafile.conf's scan_command runs it on one file: 1 found, 0 clean."""
    command = Path(__file__).resolve().parents[1] / "hooks" / "clamd" / "baomi-clamdscan"
    (tmp_path / "a.docx").write_bytes(MARKED)
    (tmp_path / "b.docx").write_bytes(CLEAN)
    env = {**os.environ, "BAOMI_CLAMDSCAN_CONF": str(plain_client)}
    for name, status in (("a.docx", 1), ("b.docx", 0)):
        done = subprocess.run([str(command), str(tmp_path / name)], env=env, capture_output=True, timeout=120)
        assert done.returncode == status, done


def test_clamdscan_reaches_baomi_on_a_unix_socket(tmp_path: Path) -> None:
    """Nextcloud's socket mode, and clamdscan with LocalSocket."""
    require(CLAMDSCAN is not None, "clamdscan (Debian package clamdscan)")
    path = tmp_path / "clamd.sock"
    command = [str(BAOMI), "clamd", "--listen", f"unix:{path}", "--audit", str(tmp_path / "audit.db")]
    with (tmp_path / "clamd.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not path.is_socket():
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "clamd.log").read_text()
            time.sleep(0.05)
        assert path.stat().st_mode & 0o777 == 0o660
        config = tmp_path / "local.conf"
        config.write_text(f"LocalSocket {path}\n", encoding="utf-8")
        (tmp_path / "通知.docx").write_bytes(MARKED)
        result = clamdscan(config, "--stream", str(tmp_path / "通知.docx"))
        assert (result.returncode, result.stdout.split(": ")[-1]) == (1, "Baomi.state-secret.mark.state-secret FOUND\n")
    finally:
        stop(process)
    assert not path.exists()  # removed when the door stops


def test_clamdscan_contscan_reads_below_the_roots(client: Path, roots: Path) -> None:
    result = clamdscan(client, str(roots / "folder"))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{roots / 'folder' / 'a.docx'}: Baomi.state-secret.mark.state-secret FOUND",
        f"{roots / 'folder' / 'c.txt'}: Baomi.internal.mark.internal FOUND",  # a flag: FOUND, no review desk
    ]


def test_clamdscan_of_a_file_larger_than_its_stream_max_length_never_gets_ok(client: Path, tmp_path: Path) -> None:
    # clamdscan cuts the file at its own StreamMaxLength and sends the piece as if it were the whole.
    (tmp_path / "long.txt").write_bytes("通知".encode() * 400)
    result = clamdscan(client, "--stream", str(tmp_path / "long.txt"))
    assert result.returncode == 1
    assert result.stdout.endswith(": Baomi.unscannable.unscannable.too-large FOUND\n")


# -- verdicts over the raw protocol


@pytest.mark.parametrize(
    ("content", "reply"),
    [
        (MARKED, FOUND_MARK),
        (CLEAN, b"stream: OK\0"),
        (b"", b"stream: OK\0"),
        (PERSONAL, b"stream: Baomi.personal-data.id.resident-id FOUND\0"),  # a flag is FOUND: no review desk
    ],
    ids=["marked", "clean", "empty", "flagged"],
)
def test_instream_answers(plain: BaomiClamd, content: bytes, reply: bytes) -> None:
    service = plain
    assert service.ask(instream(content)) == reply


def test_a_stream_in_chunks_of_one_byte_is_read_whole(plain: BaomiClamd) -> None:
    service = plain
    assert service.ask(instream(MARKED, size=1)) == FOUND_MARK


def test_the_prefix_sets_what_replies_end_with(service: BaomiClamd) -> None:
    assert service.ask(b"nINSTREAM\n" + chunks("通知".encode())) == b"stream: OK\n"
    assert service.ask(b"zPING\0") == b"PONG\0"
    assert service.ask(b"PING\n") == b"PONG\n"


def test_a_session_numbers_its_replies_and_ends_with_end(plain: BaomiClamd) -> None:
    service = plain
    session = b"zIDSESSION\0zPING\0" + instream(MARKED) + instream(CLEAN) + b"nVERSION\nzEND\0"
    replies = service.ask(session)
    assert replies.startswith(b"1: PONG\0" + b"2: " + FOUND_MARK + b"3: stream: OK\0" + b"4: baomi ")
    assert replies.endswith(b"\n") and replies.count(b"\n") == 1


def test_every_stream_is_in_the_audit_log_with_its_rule_set(tmp_path: Path) -> None:
    service = BaomiClamd(tmp_path)
    try:
        service.ask(instream(MARKED))
        service.ask(instream(CLEAN))
    finally:
        service.stop()
    assert records(service) == [("block", "refused", "mark.state-secret"), ("pass", "allowed", "")]
    log = AuditLog(service.audit)
    decisions = log.query()
    log.close()
    assert {(d.channel, d.name, d.extra["command"]) for d in decisions} == {("clamd", "stream", "INSTREAM")}
    assert len({d.rule_set for d in decisions}) == 1 and len(decisions[0].rule_set) == 16


def test_flag_can_be_let_through_and_what_could_not_be_read_still_cannot(tmp_path: Path) -> None:
    lenient = '[channels.clamd]\nflag = "flag"\n[channels.clamd.actions]\nunscannable = "flag"\n'
    service = BaomiClamd(tmp_path, lenient)
    try:
        assert service.ask(instream(PERSONAL)) == b"stream: OK\0"
        assert service.ask(instream(encrypted_docx())).endswith(b"Baomi.unscannable.unscannable.encrypted FOUND\0")
    finally:
        service.stop()
    assert records(service)[0] == ("flag", "allowed", "id.resident-id")


# -- limits and clients that misbehave


def test_a_stream_over_stream_max_length_is_refused_as_clamd_refuses_it(service: BaomiClamd) -> None:
    assert service.ask(b"zINSTREAM\0" + (1001).to_bytes(4, "big") + b"x" * 1001) == (
        b"INSTREAM size limit exceeded. ERROR\0"
    )
    assert service.ask(b"zINSTREAM\0" + (0xFFFFFFFF).to_bytes(4, "big")) == b"INSTREAM size limit exceeded. ERROR\0"


def test_a_stream_that_fills_stream_max_length_exactly_is_not_taken_for_a_whole_file(service: BaomiClamd) -> None:
    assert service.ask(instream(b"a" * 1000)) == b"stream: Baomi.unscannable.unscannable.too-large FOUND\0"
    assert service.ask(instream(b"a" * 999)) == b"stream: OK\0"


@pytest.mark.parametrize(
    ("sent", "reply"),
    [
        (b"zFOO\0", b"UNKNOWN COMMAND\0"),
        (b"zPINGPONG\0", b"UNKNOWN COMMAND\0"),
        (b"zSCAN\0", b"UNKNOWN COMMAND\0"),
        (b"INSTREAM\n", b"UNKNOWN COMMAND\n"),  # INSTREAM needs its prefix
        (b"zEND\0", b"UNKNOWN COMMAND\0"),
        (b"zIDSESSION\0zCONTSCAN /tmp\0", b"1: Command invalid inside IDSESSION. ERROR\0"),
        (b"zSHUTDOWN\0", b"COMMAND UNAVAILABLE\0"),  # no network client stops the door
        (b"\xff\xfe\0\0garbage", b"UNKNOWN COMMAND\n"),
    ],
    ids=["unknown", "trailing", "no-argument", "old-style-instream", "end", "session", "shutdown", "binary"],
)
def test_malformed_commands_get_clamds_answer_and_the_connection_ends(
    service: BaomiClamd, sent: bytes, reply: bytes
) -> None:
    assert service.ask(sent) == reply


def test_a_command_longer_than_clamds_buffer_ends_the_connection_without_a_word(service: BaomiClamd) -> None:
    assert service.ask(b"zSCAN /" + b"a" * MAX_COMMAND) == b""
    assert service.ask(b"zPING\0") == b"PONG\0"


def test_a_silent_client_and_a_stream_that_stops_time_out(service: BaomiClamd) -> None:
    assert service.ask(b"") == b"COMMAND READ TIMED OUT\n"
    assert service.ask(b"zINSTREAM\0" + (100).to_bytes(4, "big") + b"half") == b"COMMAND READ TIMED OUT\n"


def test_a_stream_trickled_byte_by_byte_is_cut_off_at_its_deadline(tmp_path: Path) -> None:
    service = BaomiClamd(tmp_path, "[clamd]\nstream_seconds = 2\nread_seconds = 1\n")
    try:
        with socket.create_connection(("127.0.0.1", service.port), timeout=30) as sock:
            sock.sendall(b"zINSTREAM\0" + (1000).to_bytes(4, "big"))
            answer = b""
            for _tick in range(200):  # a byte every 0.3 s, for a minute at most
                if select.select([sock], [], [], 0.3)[0]:
                    piece = sock.recv(100)
                    if not piece:
                        break
                    answer += piece
                else:
                    sock.sendall(b"x")
            assert answer == b"COMMAND READ TIMED OUT\n"
    finally:
        service.stop()


def test_a_client_that_drops_the_connection_mid_stream_is_forgotten(service: BaomiClamd) -> None:
    before = len(records(service))
    with socket.create_connection(("127.0.0.1", service.port), timeout=30) as sock:
        sock.sendall(b"zINSTREAM\0" + (900).to_bytes(4, "big") + b"x" * 100)
    assert service.ask(instream(b"clean text")) == b"stream: OK\0"
    assert records(service)[before:] == [("pass", "allowed", "")]  # nothing was decided about the dropped one


def session(service: BaomiClamd, then: bytes = b"") -> socket.socket:
    """A connection in an IDSESSION that has had its first answer (so the door has admitted it), then sends `then`."""
    sock = socket.create_connection(("127.0.0.1", service.port), timeout=30)
    sock.sendall(b"zIDSESSION\0zPING\0" + then)
    answer = b""
    while answer != b"1: PONG\0":
        answer += sock.recv(100)
    return sock


def test_idle_connections_give_way_and_busy_ones_do_not(tmp_path: Path) -> None:
    service = BaomiClamd(tmp_path, "[clamd]\nmax_connections = 2\n")
    try:
        idle = [session(service) for _ in range(2)]  # waiting for their next command
        assert service.ask(b"zPING\0") == b"PONG\0"  # the oldest of them was closed to make room
        assert idle[0].recv(100) == b""
        # In the middle of a stream: the same packet's INSTREAM is read as soon as the PING is answered.
        busy = [session(service, b"zINSTREAM\0" + (100).to_bytes(4, "big") + b"x") for _ in range(2)]
        time.sleep(0.2)
        assert service.ask(b"zPING\0") == b""  # refused after a second: nobody gave way
        for sock in [*idle, *busy]:
            sock.close()
    finally:
        service.stop()


# -- SCAN and CONTSCAN


@pytest.mark.parametrize(
    ("command", "path", "replies"),
    [
        ("SCAN", "marked.docx", [": Baomi.state-secret.mark.state-secret FOUND"]),
        ("SCAN", "clean.docx", [": OK"]),
        ("SCAN", "empty.txt", [": Empty file", ": OK"]),
        ("SCAN", "link-inside.docx", [": Baomi.state-secret.mark.state-secret FOUND"]),
        ("SCAN", "clean-folder", [": OK"]),
        ("SCAN", "missing.docx", [": File path check failure: No such file or directory. ERROR"]),
    ],
)
def test_scan_of_a_path_below_the_roots(
    service: BaomiClamd, roots: Path, command: str, path: str, replies: list[str]
) -> None:
    answer = service.ask(f"z{command} {roots / path}\0".encode())
    assert answer.decode().split("\0")[:-1] == [f"{roots / path}{reply}" for reply in replies]


def test_contscan_goes_on_after_a_find_and_scan_stops_there(service: BaomiClamd, roots: Path) -> None:
    folder = roots / "folder"
    contscan = service.ask(f"zCONTSCAN {folder}\0".encode()).decode().split("\0")[:-1]
    assert contscan == [
        f"{folder / 'a.docx'}: Baomi.state-secret.mark.state-secret FOUND",
        f"{folder / 'c.txt'}: Baomi.internal.mark.internal FOUND",
    ]
    scan = service.ask(f"zSCAN {folder}\0".encode()).decode().split("\0")[:-1]
    assert scan == contscan[:1]


@pytest.mark.parametrize(
    "path",
    ["{top}/outside.docx", "{share}/../outside.docx", "{share}/escape/passwd", "/etc/passwd", "relative.docx"],
    ids=["beside", "dot-dot", "link-to-folder", "elsewhere", "relative"],
)
def test_a_path_outside_the_roots_is_refused_whether_or_not_it_exists(
    service: BaomiClamd, roots: Path, path: str
) -> None:
    asked = path.format(top=roots.parent, share=roots)
    assert service.ask(f"zSCAN {asked}\0".encode()) == f"{asked}: Access denied. ERROR\0".encode()


def test_a_link_out_of_the_roots_inside_a_folder_is_not_followed_and_never_ok(service: BaomiClamd, roots: Path) -> None:
    answer = service.ask(f"zCONTSCAN {roots / 'linked-out'}\0".encode())
    assert answer == f"{roots / 'linked-out' / 'passwd'}: Baomi.unscannable.unscannable.unreadable FOUND\0".encode()
    loop = service.ask(f"zCONTSCAN {roots / 'loop'}\0".encode())
    assert loop == f"{roots / 'loop' / 'back'}: Baomi.unscannable.unscannable.unreadable FOUND\0".encode()


def test_without_roots_no_path_is_read(plain: BaomiClamd, roots: Path) -> None:
    service = plain
    path = roots / "marked.docx"
    assert service.ask(f"zSCAN {path}\0".encode()) == f"{path}: Access denied. ERROR\0".encode()


# -- as ClamAV's clamd


def test_corner_cases_of_the_protocol_are_answered_byte_for_byte_as_clamd_answers_them(
    service: BaomiClamd, tmp_path: Path
) -> None:
    """The same exchanges against ClamAV's clamd with the same limits (StreamMaxLength 1000, timeouts of 2 s)."""
    require(CLAMD is not None, "clamd (Debian package clamav-daemon)")
    clamd = RealClamd(tmp_path, StreamMaxLength="1000", CommandReadTimeout="2", ReadTimeout="2")
    exchanges = [
        b"zPING\0",
        b"nPING\n",
        b"PING",
        b"nPING\r\n",
        b"zPINGX\0",
        b"zFOO\0",
        b"zSCAN\0",
        b"INSTREAM\n",
        b"zEND\0",
        b"zPING\0zPING\0",
        b"zIDSESSION\0zPING\0nPING\nzEND\0",
        b"zIDSESSION\0zEND\0",
        b"zIDSESSION\0zCONTSCAN /x\0",
        b"zIDSESSION\0zFOO\0",
        b"zIDSESSION\0zIDSESSION\0",
        b"zIDSESSION\0zRELOAD\0",
        b"zINSTREAM\0" + (1001).to_bytes(4, "big"),
        b"zINSTREAM\0" + (600).to_bytes(4, "big") + b"a" * 600 + (401).to_bytes(4, "big"),
        b"zIDSESSION\0zINSTREAM\0" + (1001).to_bytes(4, "big"),
        b"zINSTREAM\0" + chunks(b"clean text"),
        b"zDETSTATS\0",
        b"",
        b"zPI",
        b"zINSTREAM\0\0\0",
        b"zIDSESSION\0zPING\0",
    ]
    try:
        for sent in exchanges:
            assert ask(service.port, sent) == ask(clamd.port, sent), sent
        # clamd scans a session's streams in threads of their own and may answer out of order: the numbers say which
        session = b"zIDSESSION\0" + instream(b"clean") + b"zPING\0zEND\0"
        assert sorted(ask(service.port, session).split(b"\0")) == sorted(ask(clamd.port, session).split(b"\0"))
    finally:
        clamd.stop()


def test_a_walk_stopped_half_way_leaves_no_descriptor_open(roots: Path) -> None:
    """SCAN stops at its first find: the folders the walk had opened are closed all the same."""
    from scanner.doors.clamd import Roots

    folders = Roots((roots,))
    before = len(os.listdir("/proc/self/fd"))
    for item in folders.walk(folders.open(os.fsencode(roots)), os.fsencode(roots)):
        if item.fd is not None:
            os.close(item.fd)
        break
    assert len(os.listdir("/proc/self/fd")) == before


# -- its log, in its language


def door_log(workdir: Path, roots: Path, language: str) -> str:
    """What `baomi clamd` logs, in `[i18n] language` (none: its environment's), for one of each thing it does: a
    stream found and one passed, one over the limit, a folder scanned, a path outside the roots, an unknown command,
    a silent client, and the stop."""
    config = f'{LIMITS}roots = ["{roots}"]\n' + (f'[i18n]\nlanguage = "{language}"\n' if language else "")
    running = BaomiClamd(workdir, config)
    try:
        assert running.ask(instream("机密★5年\n关于某项目的通知\n".encode())) == FOUND_MARK
        assert running.ask(instream(b"a" * 100)) == b"stream: OK\0"  # the protocol's words, whatever the language
        assert running.ask(instream(b"a" * 1001)) == b"INSTREAM size limit exceeded. ERROR\0"
        assert running.ask(f"zCONTSCAN {roots / 'folder'}\0".encode()).endswith(b" FOUND\0")
        assert running.ask(f"zSCAN {roots.parent / 'outside.docx'}\0".encode()).endswith(b": Access denied. ERROR\0")
        assert running.ask(b"zNOSUCH\0") == b"UNKNOWN COMMAND\0"
        assert running.ask(b"") == b"COMMAND READ TIMED OUT\n"
    finally:
        running.stop()
    return running.log.read_text(encoding="utf-8")


def test_the_log_speaks_the_configured_language(roots: Path, tmp_path: Path, speak: Callable[[str], None]) -> None:
    speak("C")  # [i18n] language, not the environment, sets a service's language
    log = door_log(tmp_path, roots, "zh_CN")
    for said in (
        "正在 tcp:127.0.0.1:",
        "字节的数据流：Baomi.state-secret.mark.state-secret FOUND（查询编号 ",
        "已停止",
    ):
        assert said in log
    for said in ("INSTREAM 数据流达到大小上限", "检查了 3 个文件，拦截 2 个", "不在 [clamd] roots", "未知命令", "超时"):
        assert said in log
    answer = FOUND_MARK.removeprefix(b"stream: ").rstrip(b"\0").decode()  # clamd's reply, quoted as it was sent
    assert english_words(log.replace(answer, " "), keep={"clamd", "NOSUCH"} | data_words(roots)) == []


def test_the_log_speaks_english_under_lang_c(roots: Path, tmp_path: Path, speak: Callable[[str], None]) -> None:
    speak("C")
    log = door_log(tmp_path, roots, "")
    for said in ("listening on tcp:127.0.0.1:", "a stream of 100 bytes: OK", "3 files scanned, 2 FOUND", "stopped"):
        assert said in log, log
    assert not has_han(log)
