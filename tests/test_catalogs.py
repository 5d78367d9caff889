"""The catalogs keep up with the code: every message the code marks (babel.cfg) has its zh_CN translation, using
the same {fields}; no catalog holds a message the code has dropped; and every compiled .mo is its .po compiled.

When one of these fails, run `make catalogs`, translate what is new in scanner/locale/zh_CN/LC_MESSAGES/baomi.po
(and clear any `#, fuzzy` flag once the translation is checked), then `make catalogs` again.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from scanner.i18n import LANGUAGES, LOCALE_DIR, fields

ROOT = Path(__file__).resolve().parent.parent
Key = tuple[str, str | None]  # message id (the singular of a plural), context
PERCENT = re.compile(r"%(?:\([a-z_]+\))?[sr]")


@cache
def extracted() -> dict[Key, list[str]]:
    """Each message marked in the code, with where it is marked."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found: dict[Key, list[str]] = {}
    for filename, line, message, _comments, context in extract_from_dir(str(ROOT / "scanner"), method_map, options_map):
        singular = message[0] if isinstance(message, tuple) else message
        found.setdefault((singular, context), []).append(f"scanner/{filename}:{line}")
    return found


def catalog(language: str) -> Catalog:
    with (LOCALE_DIR / language / "LC_MESSAGES" / "baomi.po").open("rb") as fh:
        return read_po(fh, locale=language)


def translations(entry: Message) -> Iterator[str]:
    yield from entry.string if isinstance(entry.string, tuple) else (entry.string,)


def test_the_code_marks_messages() -> None:
    assert len(extracted()) > 100


def test_every_message_in_the_code_has_a_chinese_translation() -> None:
    chinese = catalog("zh_CN")
    untranslated = []
    for (message, context), places in extracted().items():
        entry = chinese.get(message, context)
        if entry is None or entry.fuzzy or not all(translations(entry)):
            untranslated.append(f"{places[0]}: {message!r}")
    assert untranslated == [], "run `make catalogs` and translate these in scanner/locale/zh_CN"


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_catalog_holds_a_message_the_code_no_longer_has(language: str) -> None:
    stale = [
        entry.id for entry in catalog(language) if entry.id and (_singular(entry), entry.context) not in extracted()
    ]
    assert stale == [], "run `make catalogs`"


def test_a_translation_uses_the_fields_of_its_message() -> None:
    """A translation naming a field its message does not fill would show the English instead (scanner.i18n)."""
    wrong = []
    for entry in catalog("zh_CN"):
        ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
        wanted = fields(ids[-1])
        wrong += [f"{ids[0]!r}: {text!r}" for text in translations(entry) if text and fields(text) != wanted]
    assert wrong == []


def test_a_translation_keeps_the_percent_placeholders_of_its_message() -> None:
    """argparse's own messages (scanner/argparse_words.py) and the help texts that quote a default are %-format:
    argparse fills %s and %(name)s of the translation, and fails on one it does not know."""
    wrong = []
    for entry in catalog("zh_CN"):
        ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
        wanted = sorted(PERCENT.findall(ids[-1]))
        wrong += [f"{ids[0]!r}: {t!r}" for t in translations(entry) if t and sorted(PERCENT.findall(t)) != wanted]
    assert wrong == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_compiled_catalog_is_its_po_file_compiled(language: str) -> None:
    """The .mo files are committed so that a clone installs without Babel; this keeps them from going stale."""
    compiled = io.BytesIO()
    write_mo(compiled, catalog(language))
    assert (LOCALE_DIR / language / "LC_MESSAGES" / "baomi.mo").read_bytes() == compiled.getvalue(), (
        "run `make catalogs`"
    )


def _singular(entry: Message) -> str:
    return entry.id[0] if isinstance(entry.id, tuple) else entry.id
