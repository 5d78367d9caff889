"""The renderers on reports built by hand: what a person reads (text), what tools read (JSON, JSON Lines) and what CI
viewers read (SARIF 2.1.0, whose lines and columns start at 1)."""

from __future__ import annotations

import json

from scanner.model import FileReport, Finding, Location, Verdict
from scanner.report import printable, render_json, render_jsonl, render_sarif, render_summary, render_text, summary

MARK = Finding(
    "state-secret",
    "mark.state-secret",
    Verdict.BLOCK,
    "机密★5年",
    Location("header1", 2, 3),
    context="标题 机密★5年 正文",
    explanation="state-secret mark '机密★5年' stands alone on its line",
)
UNREADABLE = Finding("unscannable", "unscannable.encrypted", Verdict.BLOCK, "", Location("file", 0, 0))
MARKED = FileReport("通知.docx", Verdict.BLOCK, [MARK], size=10, sha256="ab" * 32, format="docx")
LOCKED = FileReport("密码.zip", Verdict.BLOCK, [UNREADABLE], errors=["encrypted: a password"], format="zip")
CLEAN = FileReport("clean.txt", Verdict.PASS, size=3, format="text", encoding="utf-8")


def test_text_says_verdict_path_rule_place_and_context_with_the_match_bracketed() -> None:
    assert render_text(MARKED).splitlines() == [
        "BLOCK  通知.docx",
        "       block mark.state-secret at header (header1) · line 2, column 3: 标题 [机密★5年] 正文",
        "             state-secret mark '机密★5年' stands alone on its line",
    ]


def test_text_on_a_terminal_colours_the_verdict_and_underlines_the_match() -> None:
    shown = render_text(MARKED, colour=True)
    assert shown.startswith("\x1b[1;31mBLOCK\x1b[0m")
    assert "标题 \x1b[1;4m机密★5年\x1b[0m 正文" in shown


def test_a_finding_about_the_whole_file_is_shown_by_its_part_alone() -> None:
    assert render_text(LOCKED).splitlines()[1] == "       block unscannable.encrypted at the whole file"


def test_json_carries_every_report_and_a_summary() -> None:
    out = json.loads(render_json([MARKED, CLEAN]))
    assert out["summary"] == {"files": 2, "pass": 1, "flag": 0, "block": 1}
    assert [f["path"] for f in out["files"]] == ["通知.docx", "clean.txt"]
    assert out["files"][0]["findings"][0]["location"] == {"part": "header1", "line": 2, "column": 3}
    assert out["files"][1]["encoding"] == "utf-8" and "encoding" not in out["files"][0]


def test_json_lines_is_one_report_per_line() -> None:
    line = render_jsonl(MARKED)
    assert line.endswith("\n") and line.count("\n") == 1
    assert json.loads(line)["verdict"] == "block"


def test_the_summary_counts_each_verdict() -> None:
    assert summary([Verdict.PASS, Verdict.FLAG, Verdict.FLAG]) == {"files": 3, "pass": 1, "flag": 2, "block": 0}
    assert render_summary([Verdict.PASS, Verdict.BLOCK]) == "2 files: 1 pass, 0 flag, 1 block\n"


def test_sarif_names_each_rule_once_and_maps_actions_to_levels() -> None:
    flagged = FileReport(
        "a.txt", Verdict.FLAG, [Finding("internal", "mark.internal", Verdict.FLAG, "内部", MARK.location)]
    )
    sarif = json.loads(render_sarif([MARKED, flagged, MARKED]))
    run = sarif["runs"][0]
    assert (sarif["version"], run["tool"]["driver"]["name"]) == ("2.1.0", "baomi")
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["mark.internal", "mark.state-secret"]
    assert [r["level"] for r in run["results"]] == ["error", "warning", "error"]


def test_sarif_lines_start_at_one_and_a_whole_file_finding_has_no_region() -> None:
    results = json.loads(render_sarif([MARKED, LOCKED]))["runs"][0]["results"]
    located = results[0]["locations"][0]["physicalLocation"]
    assert located["region"] == {"startLine": 2, "startColumn": 3}
    whole = results[1]["locations"][0]["physicalLocation"]
    assert whole == {"artifactLocation": {"uri": "密码.zip"}}
    assert results[1]["locations"][0]["logicalLocations"] == [{"fullyQualifiedName": "file"}]


def test_what_comes_from_the_file_cannot_forge_a_line_of_the_report() -> None:
    forged = FileReport("a.txt\nPASS   b.txt", Verdict.BLOCK, [MARK])
    assert render_text(forged).splitlines()[0] == "BLOCK  a.txt\\nPASS   b.txt"
    assert printable("清屏\x1b[2J 换行\r\n 反向\u202e 分隔\u2028 斜杠\\") == (
        "清屏\\x1b[2J 换行\\r\\n 反向\\u202e 分隔\\u2028 斜杠\\\\"
    )
    assert printable("全角　空格 and ordinary text") == "全角　空格 and ordinary text"
