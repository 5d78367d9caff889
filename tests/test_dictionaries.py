"""The dictionaries module by itself: reading dictionary files, the automaton and its cache, and where hits are."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner.dictionaries import MARK_KEYWORDS, Dictionary, load_dictionaries, parse_dictionary
from scanner.model import Verdict
from scanner.policy import ConfigError, load_config


def dictionary_of(tmp_path: Path, text: str, name: str = "codenames.txt", builtin: bool = False) -> Dictionary:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    config = load_config().with_dictionaries([path])
    config.builtin_dictionaries = builtin
    return load_dictionaries(config)


def found(dictionary: Dictionary, text: str) -> list[tuple[str, str]]:
    return [(text[s:e], group[0].category) for s, e, group in dictionary.hits(text)]


def test_a_term_is_found_where_it_stands_in_characters(tmp_path: Path) -> None:
    dictionary = dictionary_of(tmp_path, "天河七号\n")
    text = "ab😀机密文件：天河七号"
    [(start, end, group)] = [h for h in dictionary.hits(text) if h[2][0].category == "codenames"]
    assert text[start:end] == "天河七号"
    assert group[0].source == "codenames.txt:1"


def test_every_mark_keyword_is_in_the_automaton_as_a_mark(tmp_path: Path) -> None:
    dictionary = dictionary_of(tmp_path, "")
    for word in MARK_KEYWORDS:
        assert (word, "mark") in found(dictionary, word), word


def test_mark_keywords_written_with_look_alikes_are_found_as_marks(tmp_path: Path) -> None:
    assert ("杌密", "mark") in found(dictionary_of(tmp_path, ""), "杌密★5年")


def test_overlapping_terms_are_all_found_in_order_of_their_end(tmp_path: Path) -> None:
    dictionary = dictionary_of(tmp_path, "天河\n天河七号\n七号\n")
    hits = [h for h in found(dictionary, "天河七号") if h[1] == "codenames"]
    assert hits == [("天河", "codenames"), ("天河七号", "codenames"), ("七号", "codenames")]


def test_terms_that_fold_to_one_key_are_one_entry_with_all_their_terms(tmp_path: Path) -> None:
    dictionary = dictionary_of(tmp_path, "機密計劃\t block\n机密计划\n")
    [group] = [g for s, e, g in dictionary.hits("机密计划") if g[0].category == "codenames"]
    assert [(t.text, t.action) for t in group] == [("機密計劃", Verdict.BLOCK), ("机密计划", Verdict.FLAG)]


def test_a_term_with_spaces_inside_matches_text_without_them(tmp_path: Path) -> None:
    assert ("天河七号", "codenames") in found(dictionary_of(tmp_path, "天河 七号\n"), "天河七号")


def test_no_dictionaries_and_no_builtin_lists_still_find_marks(tmp_path: Path) -> None:
    config = load_config()
    config.builtin_dictionaries = False
    dictionary = load_dictionaries(config)
    assert [c for _, c in found(dictionary, "机密")] == ["mark"]


def test_the_builtin_lists_load_under_their_file_names(tmp_path: Path) -> None:
    categories = {c for _, c in found(load_dictionaries(load_config()), "严禁外传 标底价 工资表")}
    assert {"leak-phrases", "tender", "personnel"} <= categories


def test_a_dictionary_file_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    dictionary = dictionary_of(tmp_path, "\ufeff天河七号\n")
    assert ("天河七号", "codenames") in found(dictionary, "天河七号")


def test_a_dictionary_that_is_not_utf8_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "gbk.txt"
    path.write_bytes("天河七号\n".encode("gbk"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_dictionaries(load_config().with_dictionaries([path]))


def test_a_missing_dictionary_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Cannot read the dictionary"):
        load_dictionaries(load_config().with_dictionaries([tmp_path / "missing.txt"]))


def test_a_term_may_not_pass(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"x\.txt:2: a dictionary term must flag or block"):
        parse_dictionary("甲乙\n丙丁\tpass\n", tmp_path / "x.txt")


def test_blank_lines_comments_and_terms_of_nothing_but_invisible_characters_are_skipped(tmp_path: Path) -> None:
    terms = parse_dictionary("# 注释\n\n\u200b\n  \n天河七号 # 行尾注释\n", tmp_path / "x.txt")
    assert [(t.text, t.source) for t in terms] == [("天河七号", "x.txt:5")]


def test_a_changed_dictionary_is_compiled_again_and_an_unchanged_one_comes_from_the_cache(tmp_path: Path) -> None:
    path = tmp_path / "codenames.txt"
    path.write_text("甲乙丙丁\n", encoding="utf-8")
    config = load_config().with_dictionaries([path])
    first = load_dictionaries(config)
    again = load_dictionaries(config)
    assert len(again) == len(first) and found(again, "甲乙丙丁") == found(first, "甲乙丙丁")
    path.write_text("戊己庚辛\n", encoding="utf-8")
    changed = load_dictionaries(config)
    assert ("戊己庚辛", "codenames") in found(changed, "戊己庚辛")
    assert ("甲乙丙丁", "codenames") not in found(changed, "甲乙丙丁")


def test_an_empty_text_has_no_hits(tmp_path: Path) -> None:
    assert dictionary_of(tmp_path, "天河\n").hits("") == []
