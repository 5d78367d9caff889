"""Languages: which one the environment, a configuration or a browser asks for, and messages kept as data (a
finding's reason) rendered in each reader's own."""

from __future__ import annotations

import gettext
import json
import threading
from pathlib import Path

import pytest

from scanner import i18n
from scanner.i18n import Message, msg, msg_n, negotiate, render, speaking
from scanner.model import Finding, Location, Verdict
from scanner.policy import ConfigError, load_config
from scanner.titles import category_title, problem_title, verdict_title, where
from tests.language import english_words, has_han

ENGLISH_LOCALE = {"LANG": "C"}


@pytest.mark.parametrize(
    ("environ", "language"),
    [
        ({"LANG": "zh_CN.UTF-8"}, "zh_CN"),
        ({"LANG": "zh_SG.UTF-8"}, "zh_CN"),
        ({"LANG": "C"}, "en"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({}, "en"),
        ({"LANG": "en_GB.UTF-8"}, "en"),
        ({"LANG": "fr_FR.UTF-8"}, "en"),
        ({"LANG": "C.UTF-8", "LC_MESSAGES": "zh_CN.UTF-8"}, "zh_CN"),
        ({"LANG": "zh_CN.UTF-8", "LC_ALL": "C"}, "en"),
        ({"LANG": "en_US.UTF-8", "LANGUAGE": "zh_CN:en"}, "zh_CN"),
        ({"LANG": "zh_CN.UTF-8", "LANGUAGE": "fr:en"}, "en"),
    ],
)
def test_the_command_line_speaks_the_language_of_lang_lc_messages_and_language(
    environ: dict[str, str], language: str
) -> None:
    assert i18n.from_environment(environ) == language


def test_language_is_ignored_in_the_c_locale_as_gnu_gettext_ignores_it() -> None:
    assert i18n.from_environment({"LANG": "C", "LANGUAGE": "zh_CN"}) == "en"
    assert i18n.from_environment({"LANGUAGE": "zh_CN"}) == "en"


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh_CN"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        ("zh-TW,zh;q=0.9", "zh_CN"),
        ("zh-Hans-CN", "zh_CN"),
        ("fr-FR,fr;q=0.9,en;q=0.5,zh;q=0.4", "en"),
        ("en;q=0.3,zh;q=0.7", "zh_CN"),
        ("zh;q=0,en", "en"),
    ],
)
def test_the_page_speaks_the_browsers_most_wanted_language(header: str, language: str) -> None:
    assert negotiate(header, default="en") == language


@pytest.mark.parametrize("header", [None, "", "fr-FR,de;q=0.8", "*", "zh;q=0"])
def test_a_browser_asking_for_nothing_baomi_speaks_gets_the_services_language(header: str | None) -> None:
    assert negotiate(header, default="zh_CN") == "zh_CN"
    assert negotiate(header, default="en") == "en"


def test_a_malformed_quality_counts_as_not_wanted() -> None:
    assert negotiate("zh;q=abc,en;q=0.5", default="zh_CN") == "en"


def test_speaking_sets_the_language_inside_the_block_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANG", "C")
    assert i18n._("Blocked") == "Blocked"
    with speaking("zh-CN") as language:
        assert language == "zh_CN"
        assert i18n._("Blocked") == "禁止外发"
        with speaking("en"):
            assert i18n._("Blocked") == "Blocked"
        assert i18n._("Blocked") == "禁止外发"
    assert i18n._("Blocked") == "Blocked"


def test_speaking_none_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    for key in ("LC_ALL", "LC_MESSAGES", "LANGUAGE"):
        monkeypatch.delenv(key, raising=False)
    with speaking(None):
        assert i18n._("Blocked") == "禁止外发"


def test_each_thread_speaks_its_own_readers_language() -> None:
    """A web door serves readers of both languages at once: a language set in one request is not another's."""
    seen: dict[str, str] = {}
    ready = threading.Barrier(2)

    def serve(language: str) -> None:
        with speaking(language):
            ready.wait(timeout=10)
            seen[language] = i18n._("Blocked")

    threads = [threading.Thread(target=serve, args=(lang,)) for lang in ("zh_CN", "en")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert seen == {"zh_CN": "禁止外发", "en": "Blocked"}


def test_a_message_is_rendered_in_the_language_asked_for() -> None:
    where_it_is = msg("line {line}, column {column}", line=3, column=7)
    assert render(where_it_is, "zh_CN") == "第 3 行第 7 列"
    assert render(where_it_is, "en") == "line 3, column 7"
    with speaking("zh_CN"):
        assert str(where_it_is) == "第 3 行第 7 列"


def test_a_plural_message_takes_the_form_of_its_count() -> None:
    more = msg_n("… and {count} more finding", "… and {count} more findings", 1)
    assert render(more, "en") == "… and 1 more finding"
    assert (
        render(msg_n("… and {count} more finding", "… and {count} more findings", 4), "en") == "… and 4 more findings"
    )
    assert render(more, "zh_CN") == "……另有 1 处发现项"


def test_values_that_are_messages_are_rendered_in_the_same_language() -> None:
    nested = msg("{part} ({name})", part=msg("header"), name="header1")
    assert render(nested, "zh_CN") == "页眉（header1）"
    assert render(nested, "en") == "header (header1)"


def test_a_message_without_a_translation_is_shown_in_english() -> None:
    assert render(msg("A sentence no catalog has, about {thing}.", thing="机密"), "zh_CN") == (
        "A sentence no catalog has, about 机密."
    )


def test_a_translation_that_does_not_fit_its_values_falls_back_to_english(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken(gettext.NullTranslations):
        def gettext(self, message: str) -> str:
            return "第 {row} 行"  # a translator's typo: the field is {line}

    monkeypatch.setattr(i18n, "translation", lambda language: Broken())
    assert render(msg("line {line}", line=3), "zh_CN") == "line 3"


def test_a_finding_keeps_its_reason_as_data_and_explains_in_english_and_in_the_readers_language() -> None:
    finding = Finding(
        "state-secret",
        "mark.state-secret",
        Verdict.BLOCK,
        "机密★5年",
        Location("header1", 1, 1),
        context="机密★5年",
        reason=msg("{part} ({name})", part=msg("header"), name="header1"),
    )
    assert finding.explanation == "header (header1)"
    with speaking("zh_CN"):
        as_json = finding.to_dict()
    assert as_json["message"] == "页眉（header1）"
    assert as_json["explanation"] == "header (header1)"
    assert (as_json["rule"], as_json["category"], as_json["location"]) == (
        "mark.state-secret",
        "state-secret",
        {"part": "header1", "line": 1, "column": 1},
    )


def test_a_finding_with_an_explanation_only_shows_it_as_its_message() -> None:
    """Detectors not yet converted keep working: their English sentence is the message."""
    finding = Finding("roster", "id.roster", Verdict.BLOCK, "", Location("file", 0, 0), explanation="12 identifiers")
    with speaking("zh_CN"):
        assert finding.to_dict()["message"] == "12 identifiers"
    assert finding.reason is None


def test_a_message_is_hashable_so_findings_with_reasons_are_too() -> None:
    reason = msg("line {line}", line=3)
    assert hash(reason) == hash(Message("line {line}", (("line", 3),)))
    finding = Finding("internal", "mark.internal", Verdict.FLAG, "内部", Location("body", 1, 1), reason=reason)
    assert len({finding, finding}) == 1


def test_services_take_their_language_from_i18n_language(tmp_path: Path) -> None:
    config = tmp_path / "baomi.toml"
    config.write_text('[i18n]\nlanguage = "zh-CN"\n', encoding="utf-8")
    assert load_config(config).language == "zh_CN"
    assert load_config().language is None  # the default follows the environment


def test_a_language_baomi_does_not_speak_is_a_configuration_error(tmp_path: Path) -> None:
    config = tmp_path / "baomi.toml"
    config.write_text('[i18n]\nlanguage = "fr_FR"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"i18n.*language.*fr_FR"):
        load_config(config)


def test_titles_are_chinese_under_zh_cn_and_english_under_c() -> None:
    location = Location("附件.zip!header1", 2, 5, page=3)
    with speaking("zh_CN"):
        chinese = [verdict_title(Verdict.FLAG), category_title("state-secret"), problem_title("encrypted")]
        chinese.append(where(location))
    with speaking("C"):
        english = [verdict_title(Verdict.FLAG), category_title("state-secret"), problem_title("encrypted")]
        english.append(where(location))
    assert chinese == [
        "需人工审核",
        "国家秘密标志",
        "文件已加密（设有密码），无法检查其内容。",
        "第 3 页 · 附件.zip › 页眉（header1） · 第 2 行第 5 列",
    ]
    assert english == [
        "Needs review",
        "State-secret mark",
        "The file is encrypted (protected by a password): its content cannot be checked.",
        "page 3 · 附件.zip › header (header1) · line 2, column 5",
    ]
    assert [english_words(text) for text in chinese] == [[], [], [], []]
    assert not any(has_han(text.replace("附件.zip", "")) for text in english)


def test_a_dictionary_category_is_shown_by_its_title_in_the_readers_language() -> None:
    titles = {"tender": {"": "招投标信息", "en": "Tendering and procurement"}, "codenames": {"": "项目代号"}}
    with speaking("zh_CN"):
        assert category_title("tender", titles) == "招投标信息"
        assert category_title("codenames", titles) == "项目代号"
        assert category_title("no-title", titles) == "no-title"
    with speaking("en"):
        assert category_title("tender", titles) == "Tendering and procurement"
        assert category_title("codenames", titles) == "项目代号"  # the only name its author gave


def test_a_message_kept_in_a_record_reads_back_for_another_reader() -> None:
    """A verdict file written by a service in one language is read by a reviewer in another."""
    kept = msg_n("… and {count} more finding", "… and {count} more findings", 3, where=msg("header"))
    data = json.loads(json.dumps(kept.to_dict()))
    assert Message.from_dict(data) == kept
    assert render(Message.from_dict(data), "zh_CN") == "……另有 3 处发现项"
