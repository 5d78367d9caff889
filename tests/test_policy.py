"""The policy: actions per category and channel, thresholds, and the allow-list, from TOML over the defaults."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from scanner.engine import Scanner
from scanner.extract.base import Problem
from scanner.model import Verdict
from scanner.policy import ConfigError, load_config

MARKED = "机密★5年\n正文".encode()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "baomi.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_verdict_is_the_worst_action(scan_text) -> None:
    report = scan_text("内部\n严禁外传\n机密★5年")
    assert sorted(str(f.action) for f in report.findings) == ["block", "block", "flag"]
    assert str(report.verdict) == "block"


def test_category_action_can_be_lowered(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[actions]\nstate-secret = "flag"\n'))
    assert str(Scanner(config).scan_bytes(MARKED, "a.txt").verdict) == "flag"


def test_channel_override_applies_only_to_its_channel(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[channels.mail.actions]\npersonal-data = "block"\n'))
    scanner = Scanner(config)
    data = "身份证 11010519491231002X".encode()
    assert str(scanner.scan_bytes(data, "a.txt", "mail").verdict) == "block"
    assert str(scanner.scan_bytes(data, "a.txt", "web").verdict) == "flag"


def test_roster_threshold_is_configurable(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[thresholds]\nroster = 2\n"))
    data = b"11010519491231002X\n110101199003074477"
    assert "id.roster" in Scanner(config).scan_bytes(data, "a.txt").rules


def test_allowed_phrase_removes_its_matches(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, '[[allow.phrase]]\ntext = "不得复制本标准"\nreason = "the standards body\'s own notice"\n')
    )
    report = Scanner(config).scan_bytes("未经许可，不得复制本标准".encode(), "std.txt")
    assert str(report.verdict) == "pass"


def test_allowed_file_hash_passes_a_known_file_but_never_an_unscannable_one(tmp_path: Path) -> None:
    digest = hashlib.sha256(MARKED).hexdigest()
    config = load_config(write(tmp_path, f'[[allow.file]]\nsha256 = "{digest}"\nreason = "declassified 2024"\n'))
    assert str(Scanner(config).scan_bytes(MARKED, "a.txt").verdict) == "pass"


def test_unscannable_can_be_lowered_to_flag(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[actions]\nunscannable = "flag"\n'))
    assert str(Scanner(config).scan_bytes(b"\x00\x01\x02\x03" * 100, "x.bin").verdict) == "flag"


def test_unscannable_is_never_lowered_to_pass(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[actions]\nunscannable = "pass"\n'))
    assert str(Scanner(config).scan_bytes(b"\x00\x01\x02\x03" * 100, "x.bin").verdict) == "flag"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[actions\n", "not valid TOML"),
        ('[actions]\nstate-secret = "delete"\n', "Unknown action"),
        ("[limits]\nmax_everything = 3\n", "unknown key “max_everything”"),
    ],
)
def test_bad_configuration_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text))


def test_unknown_channel_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="There is no channel"):
        load_config().channel("fax")


def test_an_image_not_examined_flags_and_is_never_a_pass(scanner) -> None:
    report = scanner.scan_bytes(png(), "扫描件.png")
    assert str(report.verdict) == "flag"
    assert [(f.category, f.rule) for f in report.findings] == [("image", "image.not-examined")]


def test_a_relative_audit_path_is_relative_to_the_configuration_file(tmp_path: Path) -> None:
    from scanner.audit import default_audit_path
    from scanner.config import AuditTable

    config = load_config(write(tmp_path, '[audit]\npath = "logs/audit.db"\n'))
    assert default_audit_path(config.table(AuditTable)) == tmp_path / "logs" / "audit.db"


def png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (40, 20), "white").save(out, "PNG")
    return out.getvalue()


def test_internal_mail_is_judged_by_the_lighter_mail_internal_channel(scan_text) -> None:
    text = "身份证号 11010519491231002X，请办理入职。"
    assert str(scan_text(text, channel="mail").verdict) == "flag"
    assert str(scan_text(text, channel="mail-internal").verdict) == "pass"
    assert str(scan_text("机密★5年\n正文", channel="mail-internal").verdict) == "block"


def test_the_mail_internal_channel_cannot_pass_what_was_not_read(tmp_path: Path) -> None:
    """Leniency is a channel of the policy, so the rule that an image is never a pass holds for it too."""
    config = load_config(write(tmp_path, '[channels.mail-internal.actions]\nimage = "pass"\nunscannable = "pass"\n'))
    scanner = Scanner(config)
    assert str(scanner.scan_bytes(png(), "扫描件.png", "mail-internal").verdict) == "flag"
    assert str(scanner.scan_bytes(b"\x00\x01\x02\x03" * 100, "x.bin", "mail-internal").verdict) == "flag"


def test_a_channel_starts_from_the_channel_it_is_built_on(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[channels.mail.actions]\nwork-secret = "flag"\n'))
    assert config.channel("mail-internal").actions["work-secret"] == Verdict.FLAG
    assert config.channel("mail-internal").actions["personal-data"] == Verdict.PASS  # its own action stays
    assert config.channel("web").actions["work-secret"] == Verdict.BLOCK


def test_where_nobody_can_review_a_channel_makes_a_flag_a_block(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[channels.web-proxy]\nflag = "block"\n'))
    report = Scanner(config).scan_bytes("内部资料 注意保存\n正文".encode(), "a.txt", "web-proxy")
    assert [(f.rule, str(f.action)) for f in report.findings] == [("mark.internal", "block")]
    assert str(report.verdict) == "block"
    assert str(Scanner(config).scan_bytes("内部资料 注意保存\n正文".encode(), "a.txt", "web").verdict) == "flag"


def test_content_never_scanned_gets_its_verdict_from_the_policy(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[channels.mail.actions]\nunscannable = "flag"\n'))
    report = Scanner(config).unscanned("m.eml", Problem("too-large", "message over 10 bytes"), "mail", size=20)
    assert (str(report.verdict), report.rules, report.size) == ("flag", ["unscannable.too-large"], 20)
    assert report.errors == ["too-large: message over 10 bytes"]
    assert str(Scanner(config).unscanned("m.eml", Problem("seconds", "slow"), "scan").verdict) == "block"


def test_the_file_cloud_channel_blocks_a_flag_by_default() -> None:
    report = Scanner(load_config()).scan_bytes("内部资料 注意保存\n正文".encode(), "a.txt", "clamd")
    assert (str(report.verdict), report.rules) == ("block", ["mark.internal"])


def test_where_a_flag_is_let_through_unread_what_could_not_be_read_is_still_blocked(tmp_path: Path) -> None:
    """The clamd channel answers a flag it lets through as clean: there, lowering the unscannable to flag would
    pass it, so the policy blocks it whatever the file says; an image keeps its flag."""
    lenient = '[channels.clamd]\nflag = "flag"\n[channels.clamd.actions]\nunscannable = "flag"\nimage = "flag"\n'
    scanner = Scanner(load_config(write(tmp_path, lenient)))
    assert str(scanner.scan_bytes(b"\x00\x01\x02\x03" * 100, "x.bin", "clamd").verdict) == "block"
    assert str(scanner.unscanned("stream", Problem("too-large", "over"), "clamd").verdict) == "block"
    assert str(scanner.scan_bytes(png(), "扫描件.png", "clamd").verdict) == "flag"
