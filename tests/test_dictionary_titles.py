"""A dictionary's header gives its category a display name (`# title: 招投标信息`), per language if it likes
(`# title[en]: Tendering`); baomi's own dictionaries all have one in Chinese and in English."""

from __future__ import annotations

from pathlib import Path

from scanner.dictionaries import BUILTIN, dictionary_titles, parse_dictionary, parse_titles
from scanner.policy import load_config


def test_the_title_in_the_header_names_the_category() -> None:
    text = "# title: 项目代号\n# title[en]: Project codenames\n# 本单位的项目代号，一行一个。\n天河七号\tblock\n"
    assert parse_titles(text) == {"": "项目代号", "en": "Project codenames"}


def test_a_title_after_the_first_term_is_a_comment_like_any_other() -> None:
    assert parse_titles("天河七号\n# title: 项目代号\n") == {}


def test_a_title_line_is_no_term() -> None:
    assert [t.text for t in parse_dictionary("# title: 项目代号\n天河七号\n", Path("codenames.txt"))] == ["天河七号"]


def test_a_dictionary_without_a_title_has_none() -> None:
    assert parse_titles("# just a comment: with a colon\n天河七号\n") == {}


def test_every_shipped_dictionary_has_a_chinese_and_an_english_title() -> None:
    titles = dictionary_titles(load_config())
    assert set(titles) == {path.stem for path in BUILTIN.glob("*.txt")} and len(titles) >= 5
    assert all(t.get("") and t.get("en") for t in titles.values()), titles
    assert titles["tender"][""] == "招投标信息"


def test_a_users_dictionary_title_is_read_with_baomis(tmp_path: Path) -> None:
    mine = tmp_path / "codenames.txt"
    mine.write_text("# title: 项目代号\n天河七号\n", encoding="utf-8")
    assert dictionary_titles(load_config().with_dictionaries([mine]))["codenames"] == {"": "项目代号"}
