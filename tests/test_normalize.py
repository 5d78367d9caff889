"""Normalisation folds what people vary (width, script, invisible characters, dodging spaces) and keeps a map back."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from scanner import normalize as normalize_module
from scanner.normalize import INVISIBLE, _fold, normalize


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


_alphabet = st.sampled_from(
    list("机密绝秘内部 \t\u3000·_-.ａＺ１9★機絕⽅宻") + list(INVISIBLE[:40] + INVISIBLE[-8:]) + ["\n"]
)


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


def test_variation_selectors_and_tags_are_removed() -> None:
    assert normalize("机\ufe0f密\U000e0101文\U000e0041件").text == "机密文件"


def test_every_default_ignorable_code_point_is_removed_between_cjk() -> None:
    for ch in ("\u00ad", "\u034f", "\u061c", "\u115f", "\u17b4", "\u180b", "\u2064", "\u3164", "\uffa0", "\U0001d173"):
        assert normalize(f"机{ch}密").text == "机密", hex(ord(ch))


def test_combining_strokes_are_removed_and_mapped_back() -> None:
    original = "机̶密̶"
    normal = normalize(original)
    assert normal.text == "机密"
    assert normal.original_span(0, 2) == (0, 3)


def test_true_variants_of_mark_characters_fold_and_look_alikes_do_not() -> None:
    assert normalize("宻").text == "密"
    assert normalize("杌").text == "杌"


def test_the_variant_table_names_a_source_for_every_pair() -> None:
    from scanner.normalize import mark_variants

    variants = mark_variants()
    assert variants and all(v.kind in ("variant", "look-alike") and v.source for v in variants)
    assert all(len(v.char) == 1 and len(v.stands_for) == 1 for v in variants)


def test_a_line_break_inside_a_level_word_is_removed() -> None:
    assert normalize("机\n密★5年\n正文").text == "机密★5年\n正文"
    assert normalize("工作\n秘密").text == "工作秘密"


def test_text_written_one_character_per_line_is_joined() -> None:
    assert normalize("机\n密\n★\n5\n年\n正文").text == "机密★5年\n正文"


def test_ordinary_line_breaks_stay() -> None:
    assert normalize("关于\n通知\n1\n2").text == "关于\n通知\n1\n2"


def test_file_names_keep_their_line_breaks_as_they_are() -> None:
    assert normalize("机\n密", squeeze=False).text == "机\n密"


def test_a_file_name_in_ascii_is_its_own_normal_form() -> None:
    """normalize returns an ASCII file name as it is, unread: that holds only while no ASCII character folds or is
    invisible."""
    assert all(cp >= 128 for cp in _fold()[0])
    assert all(ord(ch) >= 128 for ch in INVISIBLE)
    ascii_text = "".join(map(chr, range(128)))
    assert normalize_module._normalized(ascii_text, normalize_module._cuts_pattern(False, False, True), True) == (
        normalize(ascii_text, squeeze=False)
    )


def test_no_character_that_folds_is_one_normalising_cuts() -> None:
    """normalize reads a text once, cuts and characters to fold together: a character both folded and cut (a filler,
    an invisible character, a line break) could be cut before it is seen to fold."""
    table, _ = _fold()
    cut_here = normalize_module._cuts_pattern(True, True, False)
    assert not [chr(cp) for cp in table if cut_here.match(f"机{chr(cp)}密", 1)]
    assert not [chr(cp) for cp in table if chr(cp) in INVISIBLE + " \t\n\u3000\u00a0"]


@given(st.text(alphabet=_alphabet, max_size=60))
def test_a_text_is_cut_and_folded_alike_whichever_way_its_length_takes(text: str) -> None:
    """Long texts are cut as the matches come (not split), and look for characters to fold in the same pass (not by
    translating first): the same normalised text and map either way."""

    def normalized(split_at_most: int, fold_in_the_pass_from: int) -> tuple[str, list[int], list[int]]:
        saved = normalize_module._SPLIT_AT_MOST, normalize_module._FOLD_IN_THE_PASS_FROM
        normalize_module._SPLIT_AT_MOST, normalize_module._FOLD_IN_THE_PASS_FROM = split_at_most, fold_in_the_pass_from
        try:
            normal = normalize(text)
        finally:
            normalize_module._SPLIT_AT_MOST, normalize_module._FOLD_IN_THE_PASS_FROM = saved
        return normal.text, list(normal._cuts_at), list(normal._cut_total)

    short = normalized(1 << 20, 1 << 20)
    assert normalized(-1, 1 << 20) == short
    assert normalized(1 << 20, 0) == short
    assert normalized(-1, 0) == short
