"""Both matchers find the same hits in the same order: hyperscan, the fast one, and pyahocorasick, the reference and
the fallback where hyperscan is not installed."""

from __future__ import annotations

import pickle
import platform
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.detect import PROBES, Detectors
from scanner.detect.identifiers import _RUN, RUN_PROBE
from scanner.dictionaries import load_dictionaries
from scanner.matcher import ENGINES, Hit, Matcher, available
from scanner.model import Segment
from scanner.normalize import normalize
from scanner.policy import load_config
from tests.conftest import require

LAWS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "laws"
# Characters that make the cases that matter: CJK, ASCII, a character beyond the BMP (two code units), and ones whose
# code units hold a NUL byte (言 is U+8A00) or look like the halves of others'.
ALPHABET = "机密言言\u8a00\u008a天河a0 \U00020000\U0001f600\u4e00\u0100\u0001"


def every_occurrence(text: str, keys: list[str]) -> list[Hit]:
    """What a matcher must find, by brute force: every place each key stands, by end, the longest first."""
    found = [
        (start, start + len(key), index)
        for index, key in enumerate(keys)
        for start in range(len(text))
        if text.startswith(key, start)
    ]
    return sorted(found, key=lambda hit: (hit[1], hit[0]))


def test_hyperscan_is_the_matcher_where_it_is_installed() -> None:
    require(platform.machine() == "x86_64", "an x86-64 processor (hyperscan's wheels are built for it)")
    assert available() == "hyperscan"


@settings(max_examples=200, deadline=None)
@given(
    st.text(ALPHABET, max_size=60),
    st.lists(st.text(ALPHABET, min_size=1, max_size=4), min_size=1, max_size=8, unique=True),
)
def test_both_matchers_find_every_occurrence_of_every_key(text: str, keys: list[str]) -> None:
    expected = every_occurrence(text, keys)
    for engine in ENGINES:
        assert Matcher.build(keys, engine).find(text) == expected, engine


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(ALPHABET, min_size=1, max_size=4), min_size=1, max_size=8, unique=True))
def test_a_matcher_loaded_from_its_bytes_finds_what_it_found_when_built(keys: list[str]) -> None:
    text = "".join(keys) * 2
    for name, engine in ENGINES.items():
        built = Matcher.build(keys, name)
        loaded = Matcher(engine.load(built.engine.dump()), built.units)
        assert loaded.find(text) == built.find(text) == every_occurrence(text, keys)


def test_a_compiled_dictionary_pickles_for_a_clusters_workers() -> None:
    """`baomi scan --cluster` sends the client's compiled dictionary to each worker: it must pickle, and find there
    what it finds here."""
    dictionary = load_dictionaries(load_config())
    text = normalize("关于机密★5年的请示，仅限内部传阅").text
    copy = pickle.loads(pickle.dumps(dictionary))
    assert copy.find(text) == dictionary.find(text) != []
    assert copy.words == dictionary.words


def test_both_matchers_find_the_same_dictionary_hits_in_the_laws(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    require(LAWS.is_dir(), f"the corpus {LAWS}")
    monkeypatch.setenv("BAOMI_CACHE", str(tmp_path / "cache"))
    laws = sorted(LAWS.rglob("*.md"))[:200]
    words = sorted({law.stem[:4] for law in laws} | {"国务院", "人民", "第一条", "保密", "机密"})
    (tmp_path / "words.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
    config = load_config().with_dictionaries([tmp_path / "words.txt"])
    dictionaries = [load_dictionaries(config, engine) for engine in ENGINES]
    total = 0
    for law in laws:
        text = normalize(law.read_text(encoding="utf-8")).text
        reference, *others = [d.hits(text) for d in dictionaries]
        assert all(other == reference for other in others), law
        total += len(reference)
    assert total > 1000


RUN_CHARACTERS = "0123456789AXa -\u3000－机密\U00020000\u8a00\u0030"


@settings(max_examples=300, deadline=None)
@given(st.text(RUN_CHARACTERS, max_size=40))
def test_the_identifier_probe_is_seen_wherever_an_identifier_run_is(text: str) -> None:
    """Detection skips the identifier pass where hyperscan saw no run: it must see every run there is."""
    matcher = Matcher.build(["机密"], "hyperscan", [RUN_PROBE])
    _, probed = matcher.scan(text)
    assert probed is not None
    if _RUN.search(text):
        assert 0 in probed
    assert Matcher.build(["机密"], "pyahocorasick", [RUN_PROBE]).scan(text)[1] is None  # it cannot tell


def test_identifiers_are_found_alike_with_and_without_the_probe(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("BAOMI_CACHE", str(tmp_path / "cache"))
    config = load_config()
    text = "身份证 11010519491231002X，电话 138 0013 8000，卡号 6222 0212 0483 5716 256。正文没有号码。\n" * 3
    found = [
        Detectors(load_dictionaries(config, probes=probes)).run([Segment(text)], config.channel("scan"))[1]
        for probes in ((), PROBES)
    ]
    assert found[0] == found[1]
    assert {f.rule for f in found[0]} >= {"id.resident-id", "id.mobile", "id.bank-card"}
