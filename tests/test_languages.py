"""The command line and the doors run from it speak their reader's language: under LANG=zh_CN.UTF-8 nothing a
person reads is English but product names, rule IDs and the words a reader types (commands, option values); under
LANG=C nothing is Chinese but what the files hold. Times are local with the zone named.

Here: scan (text, --explain, the summary), every --help, usage and configuration errors, watch's log and its
.verdict.json, review and audit. The doors with readers elsewhere are tested with them: the editors' page and API
(test_web_page, test_web_api), the ICAP pages (test_icap_protocol, test_icap_squid), SMTP replies (test_milter,
test_milter_gateway), the inspection report (test_inspection_report).
"""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import fields
from pathlib import Path

import docx
import pytest
from PIL import Image

from scanner.audit import AuditLog
from scanner.cli import build_parser, main
from scanner.config import DOOR_TABLES
from tests.language import data_words, dictionary_names, english_words, has_han
from tests.watch_rig import BLOCK_TEXT, FLAG_TEXT, PASS_TEXT, Gateway

CHINESE, ENGLISH = "zh_CN.UTF-8", "C"
QUOTED = re.compile(r"“[^”]*”")  # what a reason quotes of a file: a mark or a term as written
CHOICES = re.compile(r"\{[^{}\s]*\}")  # an option's values in a usage line or a help: {text,json}


def resident_id(serial: int) -> str:
    """A valid resident ID number (GB 11643 check digit), one of many a roster holds."""
    body = f"11010519491231{serial:03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


def marked_docx() -> bytes:
    document = docx.Document()
    document.sections[0].header.paragraphs[0].text = "机密★5年"
    document.add_paragraph("关于样机试验情况的报告")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 80), "white").save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def share(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Files with ASCII names holding one of each kind of finding: marks (in a header, at the top, declassified,
    disguised), a dictionary term, an identifier, a roster, an encrypted member, an image."""
    root = tmp_path_factory.mktemp("share") / "share"
    root.mkdir()
    (root / "marked.docx").write_bytes(marked_docx())
    (root / "minutes.txt").write_text("内部资料 注意保存\n会议纪要\n本纪要仅限内部传阅。\n", encoding="utf-8")
    (root / "declassified.txt").write_text("机密★2001年1月1日\n正文\n", encoding="utf-8")
    (root / "disguised.txt").write_text("杌密★5年\n正文\n", encoding="utf-8")
    (root / "form.txt").write_text(f"姓名：张三\n身份证号：{resident_id(1)}\n", encoding="utf-8")
    (root / "roster.txt").write_text("\n".join(resident_id(n) for n in range(2, 14)) + "\n", encoding="utf-8")
    (root / "picture.png").write_bytes(png())
    (root / "list.txt").write_text("名单\n", encoding="utf-8")
    subprocess.run(
        ["7z", "a", "-tzip", "-pmima123", "locked.zip", "list.txt"], cwd=root, check=True, capture_output=True
    )
    (root / "list.txt").unlink()
    return root


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """`baomi argv` in this process; its status and everything it wrote."""
    try:
        status = main(argv)
    except SystemExit as exit_:  # --help and argparse's own errors
        status = int(exit_.code or 0)
    out = capsys.readouterr()
    return status, out.out + out.err


def typed_words() -> set[str]:
    """The words a reader types as they are, which stay English in a Chinese text: commands and option values."""
    words = {"today"}
    pending = [build_parser()]
    while pending:
        parser = pending.pop()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                words |= set(action.choices)
                pending.extend(action.choices.values())
            elif action.choices:
                words |= {str(choice) for choice in action.choices}
    return words


def config_keys() -> set[str]:
    """The keys of every table of a configuration file, named as they are in messages about one."""
    return {item.name for schema in DOOR_TABLES.values() for item in fields(schema)}


def data_of(share: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """What a scan shows of the files themselves: matches, contexts, the marks and terms its reasons quote."""
    main(["scan", str(share), "--format", "jsonl", "--jobs", "1"])
    shown: list[str] = []
    for line in capsys.readouterr().out.splitlines():
        for finding in json.loads(line)["findings"]:
            context, text = finding["context"], finding["text"]
            bracketed = context.replace(text, f"[{text}]", 1) if text else context  # as the text report marks it
            shown += [bracketed, context, text, *QUOTED.findall(finding["message"])]
    return sorted((s for s in shown if s), key=len, reverse=True)


def without(text: str, data: list[str]) -> str:
    for shown in data:
        text = text.replace(shown, " ")
    return text


def test_the_scan_speaks_chinese(share: Path, speak: Callable[[str], None], capsys: pytest.CaptureFixture[str]) -> None:
    speak(CHINESE)
    status, out = run(["scan", str(share), "--jobs", "1"], capsys)
    assert status == 1
    for finding in ("mark.state-secret", "mark.declassified", "mark.disguised", "term.leak-phrases", "id.roster"):
        assert finding in out
    assert "unscannable.encrypted" in out and "image.not-examined" in out
    assert english_words(out, keep=data_words(share)) == []
    assert has_han(without(out, data_of(share, capsys)))  # its own words are Chinese, not only the files'


def test_the_scan_speaks_english(share: Path, speak: Callable[[str], None], capsys: pytest.CaptureFixture[str]) -> None:
    speak(ENGLISH)
    status, out = run(["scan", str(share), "--jobs", "1"], capsys)
    assert status == 1
    assert "State-secret mark “机密★5年” stands in the page header." in out
    assert not has_han(without(out, data_of(share, capsys)))


def test_explain_speaks_chinese(share: Path, speak: Callable[[str], None], capsys: pytest.CaptureFixture[str]) -> None:
    speak(CHINESE)
    _status, out = run(["scan", str(share / "minutes.txt"), "--explain"], capsys)
    assert "判断依据" in out and "running_prose" in out  # the predicate that set a mention aside, by its name
    assert english_words(out, keep=data_words(share)) == []


@pytest.mark.parametrize(
    "command",
    [
        *([], ["scan"], ["watch"], ["review"], ["review", "list"], ["review", "show"], ["review", "release"]),
        *(["review", "keep"], ["audit"], ["milter"], ["serve"], ["icap"], ["clamd"], ["register"], ["register", "add"]),
        *(["register", "table"], ["register", "public"], ["register", "list"], ["register", "remove"]),
        *(["register", "export"], ["register", "import"]),
    ],
)
def test_every_help_speaks_the_readers_language(
    command: list[str], speak: Callable[[str], None], capsys: pytest.CaptureFixture[str]
) -> None:
    speak(CHINESE)
    status, chinese = run([*command, "--help"], capsys)
    assert status == 0 and "用法：" in chinese
    assert english_words(chinese, keep=typed_words()) == []
    speak(ENGLISH)
    status, english = run([*command, "--help"], capsys)
    assert status == 0 and english.startswith("usage: ")
    assert not has_han(CHOICES.sub(" ", english))  # the classification levels are typed as they are: {绝密,机密}


@pytest.mark.parametrize(
    ("argv", "chinese"),
    [
        (["scan", "--jobs", "x", "."], "“x”不是整数"),
        (["scna"], "无效的选项值"),
        (["scan"], "缺少以下必需参数"),
        (["scan", "/nowhere/at/all"], "文件或文件夹不存在"),
        (["audit", "--audit", "{audit}", "--since", "yesterday-ish"], "不是日期、时间或时长"),
        (["scan", ".", "--config", "{config}"], "未知的配置项“setle”"),
    ],
)
def test_errors_speak_the_readers_language(
    argv: list[str], chinese: str, tmp_path: Path, speak: Callable[[str], None], capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "baomi.toml"
    config.write_text("[watch]\nsetle = 1\n", encoding="utf-8")
    AuditLog(tmp_path / "audit.db").close()
    argv = [a.replace("{config}", str(config)).replace("{audit}", str(tmp_path / "audit.db")) for a in argv]
    speak(CHINESE)
    status, said = run(argv, capsys)
    assert status == 2 and chinese in said
    keep = typed_words() | config_keys() | data_words(*argv, config.read_text())  # what was typed is quoted back
    assert english_words(said, keep=keep) == []
    speak(ENGLISH)
    status, said = run(argv, capsys)
    assert status == 2 and not has_han(said)


@pytest.fixture
def held(tmp_path: Path, speak: Callable[[str], None], monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    """A gateway whose watcher, speaking Chinese in Shanghai, has held a flagged and a quarantined file."""
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    gateway = Gateway(tmp_path)
    gateway.drop("minutes.txt", FLAG_TEXT)
    gateway.drop("secret.txt", BLOCK_TEXT)
    gateway.drop("notice.txt", PASS_TEXT)
    speak(CHINESE)
    log = tmp_path / "watch.log"
    assert main(["watch", str(gateway.outbox), *gateway.args(), "--once", "--settle", "0", "--log", str(log)]) == 0
    yield gateway


def test_the_watchers_log_speaks_chinese_with_local_times(held: Gateway) -> None:
    log = (held.root / "watch.log").read_text(encoding="utf-8")
    assert " Asia/Shanghai baomi watch: 信息 " in log
    assert english_words(log, keep=typed_words() | data_words(held.root)) == []


def test_the_watchers_log_speaks_english(tmp_path: Path, speak: Callable[[str], None]) -> None:
    gateway = Gateway(tmp_path)
    gateway.drop("minutes.txt", FLAG_TEXT)
    speak(ENGLISH)
    log = tmp_path / "watch.log"
    assert main(["watch", str(gateway.outbox), *gateway.args(), "--once", "--settle", "0", "--log", str(log)]) == 0
    text = log.read_text(encoding="utf-8")
    assert " UTC baomi watch: INFO flag " in text and not has_han(text)


def test_a_verdict_record_keeps_utc_and_shows_local_time_and_keeps_reasons_as_data(held: Gateway) -> None:
    record = json.loads((held.folder("review") / "minutes.txt.verdict.json").read_text(encoding="utf-8"))
    assert record["time"].endswith("+00:00")
    assert record["time_shown"].endswith(" Asia/Shanghai")
    [finding] = record["findings"]
    assert finding["reason"]["id"] == "{kind} “{mark}” stands alone on line {line} of its page."
    assert finding["explanation"] == "Internal-material mark “内部资料 注意保存” stands alone on line 1 of its page."


def review(gateway: Gateway, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    status, out = run(["review", "--outbox", str(gateway.outbox), *gateway.args(), *argv], capsys)
    assert status == 0, out
    return out


def audit(gateway: Gateway, capsys: pytest.CaptureFixture[str]) -> str:
    status, out = run(["audit", "--audit", str(gateway.audit_path)], capsys)
    assert status == 0, out
    return out


def test_review_and_audit_speak_chinese_with_local_times(
    held: Gateway, speak: Callable[[str], None], capsys: pytest.CaptureFixture[str]
) -> None:
    speak(CHINESE)
    shown = review(held, capsys) + review(held, capsys, "show", "minutes.txt", "secret.txt") + audit(held, capsys)
    assert "共扣下 2 个文件：待审核 1 个，已隔离 1 个。" in shown
    assert "内部资料标志“内部资料 注意保存”单独位于本页第 1 行。" in shown  # the reason, in the reviewer's language
    assert shown.count("Asia/Shanghai") >= 6  # each held file, each record shown, each decision
    keep = typed_words() | data_words(held.root) | dictionary_names()
    assert english_words(without(shown, ["内部资料 注意保存", "机密★5年"]), keep=keep) == []


def test_review_and_audit_speak_english(
    held: Gateway, speak: Callable[[str], None], capsys: pytest.CaptureFixture[str]
) -> None:
    speak(ENGLISH)
    shown = review(held, capsys) + review(held, capsys, "show", "minutes.txt") + audit(held, capsys)
    assert "2 held: 1 for review, 1 in quarantine." in shown
    assert "Internal-material mark “内部资料 注意保存” stands alone on line 1 of its page." in shown
    assert not has_han(
        without(shown, ["内部资料注意保存", "内部资料 注意保存", "会议纪要", "机密★5年", "关于某事的通知"])
    )
