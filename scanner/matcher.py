"""Literal matching: every dictionary key in a text, found in one pass over the text's UTF-16 code units (two bytes a
character: Chinese text's shortest form, made from the str without decoding work, and offsets that are characters).

Hyperscan in literal mode where it is installed; pyahocorasick, the reference, elsewhere. Both give the same hits in
the same order (tests/test_matcher.py), and both serialise to bytes that load without being built again.
"""

from __future__ import annotations

import codecs
import pickle
import re
import threading
from array import array
from bisect import bisect_right
from collections.abc import Sequence
from operator import itemgetter
from typing import Any, Protocol

# A hit: (start, end, key) in characters of the text, ordered by end, and at one end the longest key first.
Hit = tuple[int, int, int]
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def code_units(text: str) -> bytes:
    """`text` as UTF-16; a lone surrogate (possible in a str) stays one code unit. Big-endian: the byte that varies
    less comes first, so pyahocorasick's nodes near the root have few children to walk. By the codec's function
    itself: str.encode looks the codec up by its name at every call (3 times the cost on a short text)."""
    return codecs.utf_16_be_encode(text, "surrogatepass")[0]


class Engine(Protocol):
    """One automaton over the keys' code units."""

    name: str
    ordered: bool  # whether hits() gives them by end, the longest first at one end

    def hits(self, data: bytes, units: array[int]) -> tuple[list[Hit], set[int] | None]:
        """(start, end, key) in code units for every key in `data` (a key found across two code units' bytes, at
        an odd offset, is no key; `units` are the keys' lengths); and the probes found anywhere in `data`, or None
        for an engine that cannot look for them."""
        ...

    def dump(self) -> bytes: ...


class PyAhoCorasick:
    """pyahocorasick: the reference. It walks a node's children one by one, so bytes (as a latin-1 str, at most 256
    children a node) run far faster than characters would."""

    name = "pyahocorasick"
    ordered = True

    def __init__(self, automaton: Any) -> None:
        self._automaton = automaton

    @classmethod
    def build(cls, keys: list[bytes], probes: Sequence[bytes] = ()) -> PyAhoCorasick:
        import ahocorasick

        automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        for index, key in enumerate(keys):
            automaton.add_word(key.decode("latin-1"), index)
        if keys:
            automaton.make_automaton()
        return cls(automaton)

    @classmethod
    def load(cls, blob: bytes) -> PyAhoCorasick:
        return cls(pickle.loads(blob))

    def dump(self) -> bytes:
        return pickle.dumps(self._automaton, protocol=5)

    def hits(self, data: bytes, units: array[int]) -> tuple[list[Hit], set[int] | None]:
        found = self._automaton.iter(data.decode("latin-1"))  # end is the last byte's index: odd when aligned
        return [((end + 1) // 2 - units[key], (end + 1) // 2, key) for end, key in found if end & 1], None


class Hyperscan:
    """Hyperscan: several times pyahocorasick's speed, and a database that loads by copying its bytes. Each key is
    given as a pattern of escaped bytes (its literal compiler takes keys as C strings, and code units hold NUL
    bytes); a pattern that is a literal compiles to the same engines. Probes, regular expressions over the code
    units, follow the keys, each reported once at most. A scan needs scratch space of its own: one for each thread
    that scans."""

    name = "hyperscan"
    ordered = False

    def __init__(self, database: Any) -> None:
        self._database = database
        self._local = threading.local()

    @classmethod
    def build(cls, keys: list[bytes], probes: Sequence[bytes] = ()) -> Hyperscan:
        import hyperscan

        patterns = [("\\x" + key.hex(":").replace(":", "\\x")).encode() for key in keys] + list(probes)
        flags = [0] * len(keys) + [hyperscan.HS_FLAG_SINGLEMATCH] * len(probes)
        database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        database.compile(expressions=patterns, ids=list(range(len(patterns))), elements=len(patterns), flags=flags)
        return cls(database)

    @classmethod
    def load(cls, blob: bytes) -> Hyperscan:
        import hyperscan

        return cls(hyperscan.loadb(blob, hyperscan.HS_MODE_BLOCK))

    def dump(self) -> bytes:
        import hyperscan

        dumped: bytes = hyperscan.dumpb(self._database)
        return dumped

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        """Pickled as its serialised database (a cluster's workers are sent the client's matcher)."""
        return Hyperscan.load, (self.dump(),)

    def hits(self, data: bytes, units: array[int]) -> tuple[list[Hit], set[int] | None]:
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            import hyperscan

            scratch = self._local.scratch = hyperscan.Scratch(self._database)
        found: list[Hit] = []
        probed: set[int] = set()
        add, keys = found.append, len(units)

        def found_at(key: int, start: int, end: int, flags: int, context: object) -> None:
            if key >= keys:
                probed.add(key - keys)
            elif not end & 1:
                add((end // 2 - units[key], end // 2, key))

        self._database.scan(data, match_event_handler=found_at, scratch=scratch)
        return found, probed


ENGINES: dict[str, type[PyAhoCorasick] | type[Hyperscan]] = {"hyperscan": Hyperscan, "pyahocorasick": PyAhoCorasick}


def available() -> str:
    """The fastest engine this installation has: hyperscan where its wheel is installed and the processor runs it."""
    try:
        import hyperscan

        hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK).compile(expressions=[b"ok"])
    except Exception:  # not installed, or a processor without the instructions it needs
        return "pyahocorasick"
    return "hyperscan"


class Matcher:
    """The keys, compiled by one engine, and the way from its byte offsets to the text's characters."""

    def __init__(self, engine: Engine, units: array[int]) -> None:
        self.engine = engine
        self.units = units  # each key's length in code units

    @classmethod
    def build(cls, keys: list[str], engine: str, probes: Sequence[bytes] = ()) -> Matcher:
        """`probes` are regular expressions over code units that the scan only says it saw or not (an engine that
        cannot look for them says it does not know)."""
        encoded = [code_units(key) for key in keys]
        return cls(ENGINES[engine].build(encoded, probes), array("I", [len(key) // 2 for key in encoded]))

    def find(self, text: str) -> list[Hit]:
        """Every key in `text`: (start, end, key) in characters, by end, the longest first at one end."""
        return self.scan(text)[0]

    def scan(self, text: str) -> tuple[list[Hit], set[int] | None]:
        """find's hits, and the probes seen in `text` (by their index), or None when the engine cannot tell."""
        data = code_units(text)
        wide = len(data) != 2 * len(text)  # characters beyond the BMP take two code units
        hits, probed = self.engine.hits(data, self.units)
        del data  # as large as the text: not kept while the hits are sorted and turned into characters
        if not self.engine.ordered:
            hits.sort(key=_BY_END)
        return _to_characters(text, hits) if wide else hits, probed


_BY_END = itemgetter(1, 0)


def _to_characters(text: str, hits: list[Hit]) -> list[Hit]:
    """Hits in code units turned into characters: each character beyond the BMP before an offset counts one less."""
    seconds = [m.start() + i + 1 for i, m in enumerate(_ASTRAL.finditer(text))]  # its second unit, in units
    return [(start - bisect_right(seconds, start), end - bisect_right(seconds, end), key) for start, end, key in hits]
