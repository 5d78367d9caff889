"""Outbox files held by descriptor: opened folder by folder without following a link, copied only as the bytes that
were scanned, and removed only while their name still leads to them."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from scanner.outbox.handles import (
    ContentChanged,
    NotRegular,
    copy_checked,
    open_held,
    remove_held,
    rename_noreplace_at,
)

TEXT = "今天天气很好。\n".encode()


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    (tmp_path / "outbox" / "部门").mkdir(parents=True)
    (tmp_path / "outbox" / "部门" / "通知.txt").write_bytes(TEXT)
    return tmp_path / "outbox"


def test_a_file_is_held_with_its_folder(outbox: Path) -> None:
    with open_held(outbox, Path("部门/通知.txt")) as held:
        assert held.fd is not None and held.name == "通知.txt"
        assert os.pread(held.fd, 100, 0) == TEXT
        assert held.identity == (os.stat(outbox / "部门/通知.txt").st_dev, os.stat(outbox / "部门/通知.txt").st_ino)


def test_a_link_on_the_way_or_at_the_end_or_a_pipe_is_not_opened(outbox: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "密件.txt").write_bytes(b"secret")
    os.symlink(tmp_path / "elsewhere", outbox / "链接")
    os.symlink(tmp_path / "elsewhere" / "密件.txt", outbox / "文件链接.txt")
    os.mkfifo(outbox / "管道")
    for rel in ("链接/密件.txt", "文件链接.txt", "管道", "部门"):
        with pytest.raises(NotRegular):
            open_held(outbox, Path(rel))


def test_the_held_file_is_read_whatever_its_folder_becomes(outbox: Path, tmp_path: Path) -> None:
    with open_held(outbox, Path("部门/通知.txt")) as held:
        os.rename(outbox / "部门", tmp_path / "moved")
        os.symlink(tmp_path, outbox / "部门")
        assert held.fd is not None and os.pread(held.fd, 100, 0) == TEXT
        assert remove_held(held)
    assert not (tmp_path / "moved" / "通知.txt").exists()


def test_a_file_put_under_the_held_name_is_not_removed(outbox: Path) -> None:
    with open_held(outbox, Path("部门/通知.txt")) as held:
        (outbox / "部门" / "替换.txt").write_bytes(b"another file")
        os.rename(outbox / "部门" / "替换.txt", outbox / "部门" / "通知.txt")
        assert not remove_held(held)
    assert (outbox / "部门" / "通知.txt").read_bytes() == b"another file"
    assert sorted(p.name for p in (outbox / "部门").iterdir()) == ["通知.txt"]


def test_a_file_written_to_since_it_was_opened_is_not_removed(outbox: Path) -> None:
    with open_held(outbox, Path("部门/通知.txt")) as held:
        with (outbox / "部门" / "通知.txt").open("ab") as fh:
            fh.write("机密★5年\n".encode())
        assert not held.unchanged()
        assert not remove_held(held)
    assert (outbox / "部门" / "通知.txt").read_bytes().endswith("机密★5年\n".encode())


def test_a_copy_is_exactly_the_bytes_scanned_or_nothing(outbox: Path, tmp_path: Path) -> None:
    target = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with open_held(outbox, Path("部门/通知.txt")) as held:
            with pytest.raises(ContentChanged):
                copy_checked(held, target, "copy", hashlib.sha256(b"what was scanned").hexdigest())
            assert not (tmp_path / "copy").exists()
            copy_checked(held, target, "copy", hashlib.sha256(TEXT).hexdigest())
    finally:
        os.close(target)
    assert (tmp_path / "copy").read_bytes() == TEXT


def test_a_copy_keeps_the_permissions_but_never_a_set_user_id_bit(outbox: Path, tmp_path: Path) -> None:
    source = outbox / "部门" / "通知.txt"
    os.chmod(source, 0o4750)
    os.utime(source, ns=(1_000_000_000, 2_000_000_000))
    target = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with open_held(outbox, Path("部门/通知.txt")) as held:
            copy_checked(held, target, "copy", hashlib.sha256(TEXT).hexdigest())
    finally:
        os.close(target)
    copied = os.stat(tmp_path / "copy")
    assert (stat.S_IMODE(copied.st_mode), copied.st_mtime_ns) == (0o750, 2_000_000_000)


def test_a_rename_never_replaces(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"a")
    (tmp_path / "b").write_bytes(b"b")
    folder = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(FileExistsError):
            rename_noreplace_at(folder, "a", folder, "b")
        rename_noreplace_at(folder, "a", folder, "c")
    finally:
        os.close(folder)
    assert (tmp_path / "b").read_bytes() == b"b" and (tmp_path / "c").read_bytes() == b"a"
