"""Normalisation folds what people vary (width, script, invisible characters, dodging spaces) and keeps a map back."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from scanner.normalize import INVISIBLE, normalize


def test_full_width_letters_digits_and_star_fold_to_half_width() -> None:
    assert normalize("ＡＢＣ１２３＊").text == "ABC123*"


def test_full_width_punctuation_is_how_chinese_is_written_and_stays() -> None:
    assert normalize("第一条（目的）：").text == "第一条（目的）："


def test_traditional_folds_to_simplified() -> None:
    assert normalize("機密 絕密 國家祕密").text.replace(" ", "") == "机密绝密国家秘密"


def test_kangxi_radicals_fold_to_ordinary_characters() -> None:
    assert normalize("⽅法").text == "方法"


def test_zero_width_and_bidi_characters_are_removed() -> None:
    assert normalize("机\u200b密\u202e文\ufeff件").text == "机密文件"


def test_spaces_and_fillers_between_cjk_are_removed() -> None:
    assert normalize("机 密").text == "机密"
    assert normalize("天河 七号").text == "天河七号"
    assert normalize("机.密·文_件").text == "机密文件"


def test_stars_between_cjk_are_kept_for_the_mark_grammar() -> None:
    assert normalize("秘密★十年").text == "秘密★十年"


def test_spaces_between_latin_words_are_kept() -> None:
    assert normalize("hello world").text == "hello world"


def test_file_names_keep_their_separators() -> None:
    assert normalize("机密-预算", squeeze=False).text == "机密-预算"


def test_offsets_point_back_into_the_original() -> None:
    original = "前言：机\u200b 密★５年"
    normal = normalize(original)
    start = normal.text.index("机密")
    begin, end = normal.original_span(start, start + 2)
    assert original[begin:end] == "机\u200b 密"


_alphabet = st.sampled_from(list("机密绝秘内部 \t\u3000·_-.ａＺ１9★機絕⽅") + list(INVISIBLE) + ["\n"])


@given(st.text(alphabet=_alphabet, max_size=60))
def test_every_normalised_character_maps_to_an_original_character_that_folds_to_it(text: str) -> None:
    normal = normalize(text)
    for i, ch in enumerate(normal.text):
        j = normal.original(i)
        assert normalize(text[j], squeeze=False).text == ch


@given(st.text(alphabet=_alphabet, max_size=60))
def test_the_offset_map_is_strictly_increasing_and_ends_at_the_end(text: str) -> None:
    normal = normalize(text)
    positions = [normal.original(i) for i in range(len(normal.text))]
    assert positions == sorted(set(positions))
    assert all(0 <= p < len(text) for p in positions)
    assert normal.original(len(normal.text)) <= len(text)


@given(st.text(max_size=80))
def test_any_text_normalises_without_error_and_never_grows(text: str) -> None:
    assert len(normalize(text).text) <= len(text)


@given(st.text(alphabet=_alphabet, max_size=40), st.text(alphabet=_alphabet, max_size=40))
def test_a_span_maps_back_to_a_span_of_the_original_that_folds_to_it(a: str, b: str) -> None:
    text = a + "机密" + b
    normal = normalize(text)
    start = normal.text.find("机密")
    if start == -1:  # a filler next to it may have been joined with neighbours; nothing to check then
        return
    begin, end = normal.original_span(start, start + 2)
    assert normalize(text[begin:end]).text == "机密"
