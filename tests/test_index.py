"""The scan index of `baomi scan` (SQLite, one machine): a re-scan reads only the files that changed and reuses the
other reports; the output is the same fresh or reused; a changed rule set, --rescan, or content changed behind a
restored mtime are scanned again; a copy of a file is scanned once; an interrupted scan resumes."""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from scanner.i18n import msg
from scanner.index.records import decode, encode
from scanner.model import FileReport
from scanner.scan import CHUNK
from scanner.walk import walk
from tests.scan_rig import MARKED, baomi_scan, make_tree, settle, verdicts, without_reused

TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [\w/+:-]+")  # as times.shown writes one


def test_a_rescan_reads_only_the_files_that_changed(tmp_path: Path) -> None:
    share, index = tmp_path / "share", tmp_path / "index.db"
    files = make_tree(share, 200)
    settle(files)
    first = baomi_scan("--jobs", "1", "--index", index, "--format", "jsonl", share, count_below=share)
    assert first.read == 200 and not any(f["reused"] for f in first.files)
    changed = files[5:7]  # 1 %
    for path in changed:
        path.write_text(MARKED + "改过了\n", encoding="utf-8")
    again = baomi_scan("--jobs", "1", "--index", index, "--format", "jsonl", share, count_below=share)
    assert again.read == 2
    assert {f["path"] for f in again.files if not f["reused"]} == {str(p) for p in changed}
    assert all(verdicts(again)[str(p)] == "block" for p in changed)
    assert "198 of 200 reports reused" in again.stderr and "198 files unchanged" in again.stderr


@pytest.mark.parametrize("fmt", ["json", "jsonl", "sarif", "text"])
def test_the_output_is_the_same_fresh_or_reused(tmp_path: Path, fmt: str) -> None:
    share, index = tmp_path / "share", tmp_path / "index.db"
    make_tree(share, 30, documents=3)
    fresh = baomi_scan("--no-index", "--format", fmt, share)
    first = baomi_scan("--index", index, "--format", fmt, share)
    reused = baomi_scan("--index", index, "--format", fmt, share)
    assert "33 of 33 reports reused" in reused.stderr
    assert fresh.status == first.status == reused.status == 1
    if fmt == "jsonl":
        assert without_reused(reused.files) == without_reused(fresh.files) == without_reused(first.files)
        assert all(f["reused"] for f in reused.files) and not any(f["reused"] for f in fresh.files)
    else:
        shown = reused.stdout.replace('"reused": true', '"reused": false')
        assert shown == fresh.stdout == first.stdout


@pytest.mark.parametrize("language", ["zh_CN.UTF-8", "C.UTF-8"])
@pytest.mark.parametrize("fmt", ["text", "jsonl"])
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_report_reused_unread_is_printed_as_a_fresh_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: str, fmt: str, language: str
) -> None:
    """Reports reused unread are rendered by the process that looks them up, not by the one printing them: in the
    reader's language, under the path as it was given (relative, with a slash at the end), a name that could forge a
    line escaped, findings and all."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LANG", language)
    files = make_tree(tmp_path / "share", 40)
    forged = tmp_path / "share" / "folder000" / "名单\nPASS   \x1b[0m.txt"
    forged.write_text(MARKED, encoding="utf-8")
    settle([*files, forged])
    first = baomi_scan("--jobs", jobs, "--index", "index.db", "--format", fmt, "share/")
    reused = baomi_scan("--jobs", jobs, "--index", "index.db", "--format", fmt, "share/")
    fresh = baomi_scan("--jobs", jobs, "--no-index", "--format", fmt, "share/")
    chinese = language.startswith("zh")
    unchanged = "41 个文件未变" if chinese else "41 files unchanged"
    assert unchanged in reused.stderr  # none read again: every report came from a look-up
    assert fresh.status == first.status == reused.status == 1
    if fmt == "jsonl":
        assert without_reused(reused.files) == without_reused(fresh.files) == without_reused(first.files)
        assert all(f["reused"] for f in reused.files)
        assert reused.files[0]["path"].startswith("share/folder000/")
    else:
        assert reused.stdout == fresh.stdout == first.stdout
        assert "share/folder000/名单\\nPASS   \\x1b[0m.txt" in reused.stdout
        assert ("禁止" if chinese else "BLOCK") in reused.stdout


def test_the_inspection_report_is_the_same_fresh_or_reused(tmp_path: Path) -> None:
    share, index = tmp_path / "share", tmp_path / "index.db"
    make_tree(share, 20, documents=2)
    made = {}
    for name, options in (("fresh", ["--no-index"]), ("first", ["--index", index]), ("reused", ["--index", index])):
        baomi_scan(*options, "--report", tmp_path / f"{name}.html", share)
        made[name] = TIME.sub("(a time)", (tmp_path / f"{name}.html").read_text(encoding="utf-8"))
    assert made["reused"] == made["fresh"] == made["first"]
    assert "(a time)" in made["reused"]


def test_a_report_comes_back_from_the_index_as_it_was_made(scanner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text = "机密★5年\n联系人：张三，身份证号 11010519491231002X\n"
    report = scanner.scan_bytes(text.encode(), "通知.txt")
    reason = msg("Mark {mark} stands in the {place}.", mark="机密★5年", place=msg("header"))
    report.findings.append(replace(report.findings[0], explanation="", reason=reason))  # a reason kept as data
    assert len(report.findings) == 3
    back = decode(encode(report), "通知.txt", report.size, bytes.fromhex(report.sha256))
    assert back == FileReport(**{**report.__dict__, "reused": True})


def test_a_changed_rule_set_scans_every_file_again(tmp_path: Path) -> None:
    share, index = tmp_path / "share", tmp_path / "index.db"
    make_tree(share, 20)
    baomi_scan("--index", index, share)
    words = tmp_path / "codenames.txt"
    words.write_text("春季运动会\tblock\n", encoding="utf-8")
    judged = baomi_scan("--index", index, "--dict", words, "--format", "jsonl", share)
    assert not any(f["reused"] for f in judged.files)
    assert set(verdicts(judged).values()) == {"block"}
    assert not any(f["reused"] for f in baomi_scan("--index", index, "--format", "jsonl", share).files)


def test_rescan_scans_every_file_again(tmp_path: Path) -> None:
    share, index = tmp_path / "share", tmp_path / "index.db"
    make_tree(share, 20)
    baomi_scan("--index", index, share)
    assert not any(f["reused"] for f in baomi_scan("--index", index, "--rescan", "--format", "jsonl", share).files)
    assert all(f["reused"] for f in baomi_scan("--index", index, "--format", "jsonl", share).files)


def test_content_changed_behind_a_restored_mtime_is_scanned_again(tmp_path: Path) -> None:
    """A hostile sender edits a scanned file and sets its mtime back (touch -r): the ctime still moves."""
    share, index = tmp_path / "share", tmp_path / "index.db"
    files = make_tree(share, 10)
    settle(files)
    baomi_scan("--jobs", "1", "--index", index, share)
    target = files[3]
    before = target.stat()
    marked = MARKED.encode()
    target.write_bytes(marked + b" " * (before.st_size - len(marked)))  # the same size
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (target.stat().st_size, target.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    again = baomi_scan("--jobs", "1", "--index", index, "--format", "jsonl", share, count_below=share)
    assert again.read == 1
    [report] = [f for f in again.files if f["path"] == str(target)]
    assert report["verdict"] == "block" and not report["reused"]


def test_a_file_changed_just_before_it_was_read_is_read_again_and_reused_if_unchanged(tmp_path: Path) -> None:
    share, index = tmp_path / "share", tmp_path / "index.db"
    make_tree(share, 10)  # scanned at once: each file may still change within the same tick of its mtime
    baomi_scan("--jobs", "1", "--index", index, share)
    again = baomi_scan("--jobs", "1", "--index", index, "--format", "jsonl", share, count_below=share)
    assert again.read == 10 and all(f["reused"] for f in again.files)
    assert "10 read and found unchanged" in again.stderr


def test_a_copy_of_a_file_is_scanned_once(tmp_path: Path) -> None:
    share, index = tmp_path / "share", tmp_path / "index.db"
    make_tree(share / "2025", 20)
    shutil.copytree(share / "2025", share / "备份")
    scan = baomi_scan("--jobs", "1", "--index", index, "--format", "jsonl", share)
    copies = [f for f in scan.files if "备份" in f["path"]]
    originals = [f for f in scan.files if "2025" in f["path"]]
    assert len(copies) == 20 and all(f["reused"] for f in copies) and not any(f["reused"] for f in originals)
    moved = [{**f, "path": f["path"].replace("2025", "备份")} for f in without_reused(originals)]
    assert without_reused(copies) == moved
    assert "20 copies of files already scanned); 20 files scanned" in scan.stderr


def test_a_copy_under_another_name_is_scanned_for_its_name(tmp_path: Path) -> None:
    """The name is judged too: the same words under 【机密】通知.txt open with a mark."""
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "notice.txt").write_text("请各部门报名。\n", encoding="utf-8")
    (tmp_path / "a" / "【机密】通知.txt").write_text("请各部门报名。\n", encoding="utf-8")
    scan = baomi_scan("--jobs", "1", "--index", tmp_path / "index.db", "--format", "jsonl", tmp_path / "a")
    assert [(Path(f["path"]).name, f["verdict"], f["reused"]) for f in scan.files] == [
        ("notice.txt", "pass", False),
        ("【机密】通知.txt", "block", False),
    ]


def test_no_index_keeps_nothing(tmp_path: Path) -> None:
    make_tree(tmp_path / "share", 5)
    baomi_scan("--no-index", tmp_path / "share")
    again = baomi_scan("--format", "jsonl", tmp_path / "share")
    assert not any(f["reused"] for f in again.files)
    assert not (tmp_path / "index.db").exists()


def test_options_that_contradict_each_other_are_usage_errors(tmp_path: Path) -> None:
    for options in (["--resume", "--rescan"], ["--no-index", "--resume"], ["--cluster", "tcp://x:1", "--jobs", "2"]):
        result = baomi_scan(*options, tmp_path)
        assert result.status == 2 and "Traceback" not in result.stderr, options


def test_an_index_that_cannot_be_opened_is_an_error_when_named_and_a_warning_by_default(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("正文", encoding="utf-8")
    named = baomi_scan("--index", tmp_path / "a.txt" / "index.db", tmp_path / "a.txt")
    assert named.status == 2 and "Cannot open the database" in named.stderr and "Traceback" not in named.stderr
    command = [sys.executable, "-m", "scanner.cli", "scan", str(tmp_path / "a.txt")]
    env = {**os.environ, "BAOMI_CACHE": str(tmp_path / "a.txt" / "cache")}
    default = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert default.returncode == 0 and "every file is scanned and nothing is kept" in default.stderr


def _kill_after(command: list[str], lines: int, sig: signal.Signals) -> int:
    """Run `command`, and send it `sig` once it has printed `lines` lines; its exit status."""
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as scan:
        assert scan.stdout is not None
        for _line in range(lines):
            assert scan.stdout.readline()
        scan.send_signal(sig)
        scan.stdout.read()
        return scan.wait(timeout=60)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_an_interrupted_scan_resumes_where_it_stopped(tmp_path: Path, sig: signal.Signals) -> None:
    share, index = tmp_path / "share", tmp_path / "index.db"
    make_tree(share, 700)
    fresh = baomi_scan("--no-index", "--format", "jsonl", share)
    command = [sys.executable, "-m", "scanner.cli", "scan", "--jobs", "1", "--index", str(index), "--format", "jsonl"]
    status = _kill_after([*command, str(share)], 300, sig)
    assert status == (-signal.SIGKILL if sig == signal.SIGKILL else 130)
    resumed = baomi_scan("--jobs", "1", "--index", index, "--resume", "--format", "jsonl", share)
    assert resumed.status == 1 and "Resuming the scan of these paths started" in resumed.stderr
    assert without_reused(resumed.files) == without_reused(fresh.files)
    done_before = sum(f["reused"] for f in resumed.files)
    # Killed, at most the last two seconds' reports are lost; interrupted, none of those handed on.
    assert done_before >= (256 if sig == signal.SIGKILL else 300)
    assert f"{done_before} of the reused reports were made or checked by the interrupted scan" in resumed.stderr


def test_resume_with_nothing_interrupted_scans_and_says_so(tmp_path: Path) -> None:
    make_tree(tmp_path / "share", 3)
    result = baomi_scan("--index", tmp_path / "index.db", "--resume", tmp_path / "share")
    assert result.status == 1 and "No interrupted scan of these paths" in result.stderr


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_files_gone_from_the_share_are_forgotten_by_the_index(tmp_path: Path, jobs: str) -> None:
    share, index = tmp_path / "share", tmp_path / "index.db"
    files = make_tree(share, 60)  # folder000 … folder002, 20 files each
    big = [share / "big" / f"note{n:04d}.txt" for n in range(CHUNK + 100)]  # looked up in two chunks
    big[0].parent.mkdir()
    for path in big:
        path.write_text("正文\n", encoding="utf-8")
    baomi_scan("--jobs", jobs, "--index", index, share)
    files[0].unlink()  # a file of a folder
    shutil.rmtree(share / "folder001")  # a whole folder
    for path in files[40:]:  # a folder left with a sub-folder and no file of its own
        path.unlink()
    (share / "folder002" / "below").mkdir()
    (share / "folder002" / "below" / "kept.txt").write_text("正文\n", encoding="utf-8")
    for n in (0, CHUNK - 1, CHUNK, CHUNK + 50, CHUNK + 99):  # at the ends of the chunks and within them
        big[n].unlink()
    for n in (100, CHUNK + 98):  # files become links to nothing: unscannable, and forgotten by the index
        big[n].unlink()
        big[n].symlink_to(tmp_path / "nowhere")
    again = baomi_scan("--jobs", jobs, "--index", index, "--format", "jsonl", share)
    assert [f["path"] for f in again.files] == [entry.shown for entry in walk([share])]  # in the walk's order
    assert [f["verdict"] for f in again.files if f["path"] in (str(big[100]), str(big[CHUNK + 98]))] == ["block"] * 2
    baomi_scan("--jobs", jobs, "--index", index, files[1])  # a file named on its own: its folder is not listed
    left = {p for p in [*files, *big] if p.exists()} | {share / "folder002" / "below" / "kept.txt"}
    with sqlite3.connect(index) as db:
        rows = db.execute("SELECT folders.folder, name FROM files JOIN folders ON folders.id = files.folder")
        paths = {bytes(folder) + b"/" + bytes(name) for folder, name in rows}
    assert paths == {os.fsencode(p) for p in left}


def test_an_index_an_older_baomi_made_is_made_anew_and_a_newer_ones_is_refused(tmp_path: Path) -> None:
    share, index = tmp_path / "share", tmp_path / "index.db"
    make_tree(share, 3)
    baomi_scan("--index", index, share)
    for older, status in (("baomi-index-1", 1), ("baomi-index-99", 2)):
        with sqlite3.connect(index) as db:
            db.execute("UPDATE meta SET value = ? WHERE name = 'format'", (older,))
        scan = baomi_scan("--index", index, "--format", "jsonl", share)
        assert scan.status == status, scan.stderr
        assert not any(f["reused"] for f in scan.files)
    assert "a scan index of a newer baomi (format 99" in scan.stderr and "Traceback" not in scan.stderr
