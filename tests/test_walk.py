"""`baomi scan` of a folder takes what `zip -r` would ship: links are followed and reported under their own path, and
whatever cannot be read (a loop, a folder that cannot be listed, a pipe, socket or device) is reported unscannable,
with exit status 1; a file is checked against the byte limit before it is read."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner.engine import Scanner
from scanner.extract import Limits
from scanner.policy import load_config
from scanner.walk import Entry, Files, walk, walk_listed
from tests.conftest import ROOT, require
from tests.extract_fixtures import MARK


def baomi(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "scanner.cli", *map(str, args)]
    # Paths are printed as the bytes they are, in whatever encoding they were written.
    return subprocess.run(command, capture_output=True, timeout=timeout, check=False, errors="surrogateescape")


def scan_folder(folder: Path) -> tuple[int, dict[str, dict]]:  # type: ignore[type-arg]
    result = baomi("scan", "--format", "json", "--jobs", "1", folder)
    files = {os.path.relpath(f["path"], folder): f for f in json.loads(result.stdout)["files"]}
    return result.returncode, files


def test_a_link_to_a_file_is_scanned_under_the_links_path(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "target.txt").write_text(f"{MARK}\n预算", encoding="utf-8")
    (tmp_path / "outbox").mkdir()
    (tmp_path / "outbox" / "通知.txt").symlink_to(tmp_path / "elsewhere" / "target.txt")
    status, files = scan_folder(tmp_path / "outbox")
    assert status == 1
    assert files["通知.txt"]["verdict"] == "block"
    assert files["通知.txt"]["findings"][0]["text"] == MARK


def test_a_link_to_a_folder_is_walked_and_a_link_back_up_is_a_loop(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "a.txt").write_text("正文", encoding="utf-8")
    (tmp_path / "outbox").mkdir()
    (tmp_path / "outbox" / "linked").symlink_to(tmp_path / "shared")
    (tmp_path / "shared" / "up").symlink_to(tmp_path / "outbox")
    status, files = scan_folder(tmp_path / "outbox")
    assert files["linked/a.txt"]["verdict"] == "pass"
    assert files["linked/up"]["findings"][0]["category"] == "unscannable"
    assert "link back to a folder above it" in files["linked/up"]["errors"][0]
    assert status == 1


def test_links_that_loop_or_lead_nowhere_are_unscannable(tmp_path: Path) -> None:
    (tmp_path / "ring").symlink_to(tmp_path / "ring")
    (tmp_path / "gone").symlink_to(tmp_path / "no-such-file")
    status, files = scan_folder(tmp_path)
    assert status == 1
    assert {name: f["findings"][0]["category"] for name, f in files.items()} == {
        "gone": "unscannable",
        "ring": "unscannable",
    }


def test_pipes_and_sockets_in_a_folder_are_reported_unscannable(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("正文", encoding="utf-8")
    os.mkfifo(tmp_path / "pipe")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(tmp_path / "socket"))
        status, files = scan_folder(tmp_path)
    assert status == 1
    assert {name: f["verdict"] for name, f in files.items()} == {"a.txt": "pass", "pipe": "block", "socket": "block"}
    assert "not a regular file" in files["pipe"]["errors"][0]


def test_a_pipe_named_to_explain_is_reported_not_waited_on(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    result = baomi("scan", "--explain", tmp_path / "pipe", timeout=60)
    assert result.returncode == 1
    assert "unscannable" in result.stdout


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A folder outside pytest's private temporary tree, so that an unprivileged user can reach into it."""
    folder = Path(tempfile.mkdtemp(prefix="baomi-walk-"))
    folder.chmod(0o755)
    yield folder
    for path in folder.rglob("*"):
        path.chmod(0o755)
    shutil.rmtree(folder)


def test_a_folder_that_cannot_be_listed_is_reported(open_folder: Path) -> None:
    (open_folder / "a.txt").write_text("正文", encoding="utf-8")
    (open_folder / "locked").mkdir()
    (open_folder / "locked" / "inside.txt").write_text(MARK, encoding="utf-8")
    (open_folder / "locked").chmod(0)
    code = (
        "from scanner.walk import walk; from scanner.i18n import render; from pathlib import Path; "
        f"print([(e.path.name, e.problem and render(e.problem, 'en')) for e in walk([Path({str(open_folder)!r})])])"
    )
    command = [sys.executable, "-c", code]
    if os.geteuid() == 0:  # root lists any folder: walk as nobody, as the share's users would
        require(shutil.which("setpriv") is not None, "setpriv (util-linux)")
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        entered = subprocess.run([*command[:-2], "-c", "import scanner"], capture_output=True, cwd=ROOT, timeout=60)
        require(entered.returncode == 0, f"a checkout the unprivileged user may enter ({ROOT} is not)")
    listed = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True, timeout=60).stdout
    assert "('a.txt', None)" in listed
    assert "('locked', 'A folder that cannot be listed: permission denied.')" in listed


def test_the_walk_is_files_by_name_then_sub_folders(tmp_path: Path) -> None:
    for name in ("b/z.txt", "b.txt", "a/y.txt", "c.txt"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("x", encoding="utf-8")
    assert [str(e.path.relative_to(tmp_path)) for e in walk([tmp_path])] == ["b.txt", "c.txt", "a/y.txt", "b/z.txt"]


def test_a_folders_files_come_in_runs_parted_by_what_cannot_be_scanned(tmp_path: Path) -> None:
    """A scan looks a folder's files up in the index a run at a time; each problem is reported in its place."""
    for name in ("a.txt", "b.txt", "d.txt"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    for name in ("c-nowhere", "e-nowhere"):
        (tmp_path / name).symlink_to(tmp_path / "no-such-file")
    (tmp_path / "below").mkdir()
    (tmp_path / "below" / "f.txt").write_text("x", encoding="utf-8")
    walked = [
        (item.folder, item.names, item.last) if isinstance(item, Files) else os.path.basename(item.shown)
        for item in walk_listed([tmp_path])
    ]
    folder = str(tmp_path)
    assert walked == [
        (folder, [b"a.txt", b"b.txt"], False),
        "c-nowhere",
        (folder, [b"d.txt"], False),
        "e-nowhere",
        (folder, [], True),  # the folder's listing ends with a problem
        (f"{folder}/below", [b"f.txt"], True),
    ]
    assert [os.path.basename(e.shown) for e in walk([tmp_path])] == [
        "a.txt", "b.txt", "c-nowhere", "d.txt", "e-nowhere", "f.txt"
    ]  # fmt: skip
    assert all(isinstance(e, Entry) for e in walk([tmp_path]))


def test_a_file_over_the_byte_limit_is_refused_by_its_size_before_it_is_read(tmp_path: Path) -> None:
    huge = tmp_path / "huge.txt"
    with huge.open("wb") as fh:
        fh.truncate(5 << 30)  # sparse: 5 GiB that no test could hold in memory
    config = load_config()
    config.limits = Limits(max_bytes=1 << 20)
    report = Scanner(config).scan_path(huge)
    assert (report.verdict.name, report.size) == ("BLOCK", 5 << 30)
    assert report.errors == [f"max_bytes: {5 << 30} bytes, over the limit of {1 << 20}."]


def test_a_file_name_with_bytes_of_no_encoding_is_scanned(tmp_path: Path) -> None:
    name = "关于".encode("gbk") + b"\xff.txt"
    (tmp_path / os.fsdecode(name)).write_text("各单位：请按时报送材料。", encoding="utf-8")
    status, files = scan_folder(tmp_path)
    assert status == 0
    assert [f["verdict"] for f in files.values()] == ["pass"]


def test_a_link_to_a_device_is_unscannable(tmp_path: Path) -> None:
    (tmp_path / "null").symlink_to("/dev/null")
    status, files = scan_folder(tmp_path)
    assert status == 1
    assert "not a regular file" in files["null"]["errors"][0]
