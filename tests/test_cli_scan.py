"""`baomi scan` end to end, as a user runs it: the samples, the output formats, the exit statuses, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

SAMPLES = ROOT / "samples" / "documents"
EXPECTED = {
    "01-clean-notice.txt": "pass",
    "02-marked-notice.docx": "block",
    "03-mark-in-header.docx": "block",
    "04-handling-phrase.txt": "block",
    "05-contact-sheet.txt": "flag",
    "06-roster.csv": "block",
    "07-traditional-big5.txt": "block",
    "08-regulation-mentions.txt": "pass",
    "09-dodging-spaces.txt": "block",
    "10-marked.pdf": "block",
    "11-clean.pdf": "pass",
    "12-archive-with-marked-docx.zip": "block",
    "13-mail-with-marked-attachment.eml": "block",
}


def baomi(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "scanner.cli", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env={**os.environ}, timeout=300)


@pytest.fixture(scope="module")
def sample_json() -> dict:  # type: ignore[type-arg]
    result = baomi("scan", "--format", "json", "--jobs", "2", SAMPLES)
    assert result.returncode == 1, result.stderr
    return json.loads(result.stdout)


def test_every_sample_gets_its_expected_verdict(sample_json: dict) -> None:  # type: ignore[type-arg]
    verdicts = {Path(f["path"]).name: f["verdict"] for f in sample_json["files"]}
    assert verdicts == EXPECTED


def test_json_contract_fields(sample_json: dict) -> None:  # type: ignore[type-arg]
    marked = next(f for f in sample_json["files"] if f["path"].endswith("02-marked-notice.docx"))
    finding = marked["findings"][0]
    assert set(finding) >= {"category", "rule", "action", "text", "location", "context"}
    assert finding["text"] == "机密★5年"
    assert {"part", "line"} <= set(finding["location"])
    assert sample_json["summary"]["files"] == len(EXPECTED)


def test_mark_inside_an_archive_names_the_path_inside(sample_json: dict) -> None:  # type: ignore[type-arg]
    archive = next(f for f in sample_json["files"] if f["path"].endswith(".zip"))
    assert any("预算/2025年预算.docx!" in f["location"]["part"] for f in archive["findings"])


def test_clean_file_exits_zero(tmp_path: Path) -> None:
    clean = tmp_path / "clean.txt"
    clean.write_text("各单位：请按时报送材料。", encoding="utf-8")
    result = baomi("scan", clean)
    assert result.returncode == 0
    assert result.stdout.startswith("PASS")


def test_text_output_shows_where_what_and_which_rule(tmp_path: Path) -> None:
    marked = tmp_path / "marked.txt"
    marked.write_text("标题\n秘密★1年\n正文", encoding="utf-8")
    result = baomi("scan", marked)
    assert result.returncode == 1
    assert "mark.state-secret at body · line 2, column 1" in result.stdout
    assert "[秘密★1年]" in result.stdout


def test_jsonl_is_one_report_per_line(tmp_path: Path) -> None:
    for i in range(3):
        (tmp_path / f"{i}.txt").write_text("正文", encoding="utf-8")
    lines = baomi("scan", "--format", "jsonl", tmp_path).stdout.splitlines()
    assert [json.loads(line)["verdict"] for line in lines] == ["pass"] * 3


def test_sarif_output_is_sarif(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("机密★5年\n正文", encoding="utf-8")
    sarif = json.loads(baomi("scan", "--format", "sarif", tmp_path).stdout)
    assert sarif["version"] == "2.1.0"
    assert sarif["runs"][0]["results"][0]["ruleId"] == "mark.state-secret"


def test_explain_shows_the_text_and_why_mentions_were_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "rules.txt"
    path.write_text("国家秘密的密级分为绝密、机密、秘密三级。", encoding="utf-8")
    result = baomi("scan", "--explain", path)
    assert "set aside by running_prose" in result.stdout
    assert "国家秘密的密级分为" in result.stdout


def test_missing_path_is_a_usage_error_without_traceback(tmp_path: Path) -> None:
    result = baomi("scan", tmp_path / "nope.txt")
    assert result.returncode == 2
    assert "no such file" in result.stderr and "Traceback" not in result.stderr


def test_bad_configuration_is_exit_two_with_a_clear_message(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[actions]\nstate-secret = 'maybe'\n", encoding="utf-8")
    result = baomi("scan", "--config", config, tmp_path)
    assert result.returncode == 2
    assert "Unknown action" in result.stderr and "Traceback" not in result.stderr


def test_unreadable_file_does_not_stop_the_others(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("正文", encoding="utf-8")
    locked = tmp_path / "b.txt"
    locked.write_text("正文", encoding="utf-8")
    locked.chmod(0)
    (tmp_path / "c.bin").write_bytes(os.urandom(2048))
    result = baomi("scan", "--format", "json", "--jobs", "1", tmp_path)
    verdicts = {Path(f["path"]).name: f["verdict"] for f in json.loads(result.stdout)["files"]}
    assert verdicts["a.txt"] == "pass"
    assert verdicts["c.bin"] == "block"
    if os.geteuid() != 0:  # root reads any file
        assert verdicts["b.txt"] == "block"


def test_user_dictionary_from_the_command_line(tmp_path: Path) -> None:
    words = tmp_path / "codenames.txt"
    words.write_text("天河七号\tblock\n", encoding="utf-8")
    doc = tmp_path / "plan.txt"
    doc.write_text("天河七号试验计划", encoding="utf-8")
    result = baomi("scan", "--dict", words, "--format", "json", doc)
    assert json.loads(result.stdout)["files"][0]["findings"][0]["rule"] == "term.codenames"


def test_version() -> None:
    result = baomi("--version")
    assert result.returncode == 0 and result.stdout.startswith("baomi ")


def test_an_unknown_option_shows_the_usage_of_its_sub_command(tmp_path: Path) -> None:
    result = baomi("scan", "--frmat", "json", tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: baomi scan ")
    assert "unrecognized arguments: --frmat" in result.stderr
    nested = baomi("review", "--outbox", tmp_path, "list", "--fromat", "json")
    assert nested.stderr.startswith("usage: baomi review list ") and nested.returncode == 2


def test_output_piped_into_a_reader_that_stops_early_ends_quietly(tmp_path: Path) -> None:
    for n in range(300):
        (tmp_path / f"{n:03d}.txt").write_text("机密★5年\n关于某项目的通知\n", encoding="utf-8")
    command = [sys.executable, "-m", "scanner.cli", "scan", "--jobs", "1", str(tmp_path)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as scan:
        assert scan.stdout is not None and scan.stderr is not None
        assert scan.stdout.readline().startswith(b"BLOCK")
        scan.stdout.close()  # as `head -1` does
        errors = scan.stderr.read().decode()
        status = scan.wait(timeout=120)
    assert errors == ""
    assert status == 141


def test_sarif_of_an_unscannable_file_has_no_line_zero(tmp_path: Path) -> None:
    (tmp_path / "x.bin").write_bytes(os.urandom(2048))
    sarif = json.loads(baomi("scan", "--format", "sarif", tmp_path).stdout)
    [result] = sarif["runs"][0]["results"]
    assert "region" not in result["locations"][0]["physicalLocation"]
