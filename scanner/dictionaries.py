"""Dictionaries: baomi's own lists in dictionaries/ and the user's files, compiled with the mark keywords into one
matcher (scanner/matcher.py), cached on disk by the content hash of everything that went into it.
"""

from __future__ import annotations

import hashlib
from array import array
from dataclasses import dataclass, field
from pathlib import Path

from scanner import cache
from scanner.i18n import msg
from scanner.matcher import ENGINES, Hit, Matcher, available
from scanner.model import Verdict
from scanner.normalize import normalize_term, spellings
from scanner.policy import Config, ConfigError
from scanner.titles import os_error

# The repository's dictionaries/, through a link setuptools follows: installs carry them as package data.
BUILTIN = Path(__file__).resolve().parent / "data" / "dictionaries"
# Words whose every appearance the mark detector looks at: it decides by form and position whether it is a mark.
MARK_KEYWORDS = (
    "绝密",
    "机密",
    "秘密",
    "工作秘密",
    "内部",
    "商业秘密",
    "公司机密",
    "公司秘密",
    "商密",
    "保密资料",
    "保密文件",
)
FORMAT = "baomi-automaton-8"  # bump when the way keys or the cache are built changes


@dataclass(frozen=True)
class Term:
    """A dictionary term, or a mark keyword (category "mark")."""

    text: str
    category: str
    action: Verdict
    source: str  # file:line, for "which rule"


@dataclass
class TermTable:
    """Every key's terms as a few arrays and one string: they pickle and load as bytes, not as a million objects, and
    a Term is made only for a key that is found."""

    texts: str  # every term's text, one after the other
    ends: array[int]  # term i's text is texts[ends[i-1]:ends[i]]
    first: array[int]  # key k's terms are first[k] to first[k+1]
    category: array[int]  # each term's category, an index into categories
    action: array[int]
    file: array[int]  # each term's file, an index into files
    line: array[int]
    categories: list[str]
    files: list[str]

    @classmethod
    def of(cls, groups: list[tuple[Term, ...]]) -> TermTable:
        table = cls("", array("I"), array("I", [0]), array("I"), array("B"), array("I"), array("I"), [], [])
        categories: dict[str, int] = {}
        files: dict[str, int] = {}
        texts = []
        end = 0
        for group in groups:
            for term in group:
                name, colon, line = term.source.rpartition(":")
                if not colon or not line.isdigit():  # the mark keywords' source is not a file's line
                    name, line = term.source, ""
                texts.append(term.text)
                end += len(term.text)
                table.ends.append(end)
                table.category.append(categories.setdefault(term.category, len(categories)))
                table.action.append(int(term.action))
                table.file.append(files.setdefault(name, len(files)))
                table.line.append(int(line) if line.isdigit() else 0)
            table.first.append(len(table.ends))
        table.texts, table.categories, table.files = "".join(texts), list(categories), list(files)
        return table

    def __len__(self) -> int:
        return len(self.first) - 1

    def group(self, key: int) -> tuple[Term, ...]:
        return tuple(self._term(i) for i in range(self.first[key], self.first[key + 1]))

    def _term(self, i: int) -> Term:
        text = self.texts[self.ends[i - 1] if i else 0 : self.ends[i]]
        line = self.line[i]
        source = f"{self.files[self.file[i]]}:{line}" if line else self.files[self.file[i]]
        return Term(text, self.categories[self.category[i]], Verdict(self.action[i]), source)


@dataclass
class Dictionary:
    """Every term and keyword, and the matcher over their folded keys (scanner/matcher.py)."""

    table: TermTable  # the matcher's key k stands for table.group(k): all terms that fold to one key
    matcher: Matcher
    marks: int  # the mark keywords are the keys before this one
    probes: tuple[bytes, ...] = ()  # what the matcher also looks for (see Matcher.build)
    words: str = ""  # the terms' folded keys, sorted, one a line: the words the segmenter is taught (TermChecker)
    _terms: dict[int, tuple[Term, ...]] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.table)

    def terms(self, index: int) -> tuple[Term, ...]:
        group = self._terms.get(index)
        if group is None:
            group = self._terms[index] = self.table.group(index)
        return group

    def find(self, folded: str) -> list[Hit]:
        """(start, end, key) in characters of `folded` for every key found in it, in order of their end."""
        return self.scan(folded)[0]

    def scan(self, folded: str) -> tuple[list[Hit], set[bytes] | None]:
        """find's hits, and the probes seen in `folded`, or None when the matcher cannot tell."""
        if not len(self.table):
            return [], None
        hits, probed = self.matcher.scan(folded)
        return hits, None if probed is None else {self.probes[i] for i in probed}

    def hits(self, folded: str) -> list[tuple[int, int, tuple[Term, ...]]]:
        """(start, end, terms) in characters of `folded` for every key found in it, in order of their end."""
        return [(start, end, self.terms(key)) for start, end, key in self.find(folded)]


def load_dictionaries(config: Config, engine: str | None = None, probes: tuple[bytes, ...] = ()) -> Dictionary:
    """Read the configured dictionaries and return them compiled, from the cache when nothing changed. `engine` is
    the matcher's (scanner.matcher.ENGINES), by default the fastest installed; `probes`, what it also looks for."""
    engine = engine or available()
    contents = dictionary_texts(config)
    digest = hashlib.sha256(f"{FORMAT}\0{engine}".encode())
    for probe in probes:
        digest.update(b"\0probe\0" + probe)
    for path, text in contents:
        digest.update(f"\0{path.stem}\0".encode())
        digest.update(text.encode("utf-8"))
    for word in _mark_words():
        digest.update(f"\0mark\0{word}".encode())
    cache_name = f"{digest.hexdigest()[:32]}.pickle"
    cached = cache.load(cache_name)
    if cached is not None:
        table, units, blob, marks, words = cached
        return Dictionary(table, Matcher(ENGINES[engine].load(blob), units), marks, probes, words)
    groups = _group(_marks() + [t for path, text in contents for t in parse_dictionary(text, path)])
    keys = [normalize_term(group[0].text) for group in groups]
    matcher = Matcher.build(keys, engine, probes)
    marks = sum(1 for group in groups if group[0].category == "mark")  # the first groups: _group keeps the order
    words = "\n".join(sorted(set(keys[marks:])))
    dictionary = Dictionary(TermTable.of(groups), matcher, marks, probes, words)
    cache.save(cache_name, (dictionary.table, matcher.units, matcher.engine.dump(), marks, words))
    return dictionary


def dictionary_texts(config: Config) -> list[tuple[Path, str]]:
    """The dictionary files the configuration names, baomi's own (unless [dictionaries] builtin is off) then the
    user's, each with its text."""
    sources = [*(sorted(BUILTIN.glob("*.txt")) if config.builtin_dictionaries else []), *config.dictionary_files]
    return [(path, _read(path)) for path in sources]


def dictionary_titles(config: Config) -> dict[str, dict[str, str]]:
    """Each dictionary category's display names, from the headers of the configured files."""
    return {path.stem: parse_titles(text) for path, text in dictionary_texts(config)}


def parse_titles(text: str) -> dict[str, str]:
    """A dictionary's display names from the comments before its first term: `# title: 招投标信息` (key "") and,
    for a language, `# title[en]: Tendering` (key "en")."""
    titles = {}
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            break
        key, colon, value = line.lstrip("#").partition(":")
        key = key.strip()
        if colon and value.strip() and (key == "title" or (key.startswith("title[") and key.endswith("]"))):
            titles[key.removeprefix("title").strip("[]")] = value.strip()
    return titles


def parse_dictionary(text: str, path: Path) -> list[Term]:
    """One term per line; `#` starts a comment; a TAB and `flag` or `block` may follow the term."""
    category = path.stem
    terms = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        word, _, action = line.partition("\t")
        try:
            verdict = Verdict.parse(action) if action.strip() else Verdict.FLAG
        except ValueError as exc:
            raise ConfigError(msg("{where}: {why}", where=f"{path}:{number}", why=exc.args[0])) from None
        if verdict == Verdict.PASS:
            raise ConfigError(msg("{where}: a dictionary term must flag or block.", where=f"{path}:{number}"))
        if normalize_term(word):
            terms.append(Term(word.strip(), category, verdict, f"{path.name}:{number}"))
    return terms


def _mark_words() -> list[str]:
    """The mark keywords, and each written with look-alikes of its characters (a disguised mark: 杌密★5年)."""
    return [written for word in MARK_KEYWORDS for written in spellings(word)]


def _marks() -> list[Term]:
    return [Term(word, "mark", Verdict.BLOCK, "mark-keywords") for word in _mark_words()]


def _group(terms: list[Term]) -> list[tuple[Term, ...]]:
    """Terms by the key they fold to, in the order each key first comes: the mark keywords, given first, first."""
    by_key: dict[str, list[Term]] = {}
    for term in terms:
        by_key.setdefault(normalize_term(term.text), []).append(term)
    return [tuple(group) for group in by_key.values()]


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise ConfigError(
            msg("Cannot read the dictionary {path}: {error}.", path=str(path), error=os_error(exc))
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(msg("The dictionary {path} is not UTF-8.", path=str(path))) from None
