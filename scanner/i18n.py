"""The languages baomi speaks: gettext catalogs (scanner/locale, made with Babel), the reader's language from the
environment, a configuration key or a browser's Accept-Language, and messages kept as data until they are shown.

Message ids are English. `_`, `ngettext` and `pgettext` translate at once; `N_` only marks a string of a table for
extraction (translate it with `_` where it is shown); `msg` and `msg_n` keep a sentence and its values as a
Message, rendered in whatever language its reader has.
"""

from __future__ import annotations

import functools
import gettext
import os
import string
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DOMAIN = "baomi"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
SOURCE = "en"  # the language of the message ids
LANGUAGES = ("zh_CN", "en")

# The language of the code running now, set by speaking(); None follows the environment. A context variable, so
# each request of a web door (a thread or an asyncio task) speaks its own reader's language.
_speaking: ContextVar[str | None] = ContextVar("baomi_language", default=None)


def normalise(tag: str) -> str | None:
    """A locale name or language tag (zh_CN.UTF-8, zh-Hans-CN, zh, en-GB, C) as one of LANGUAGES; None when it
    names a language baomi does not speak. Every Chinese variant gets zh_CN: the only Chinese catalog."""
    name = tag.strip().split(".", 1)[0].split("@", 1)[0].replace("-", "_").lower()
    if name in ("c", "posix"):
        return SOURCE
    primary = name.split("_", 1)[0]
    if primary == "zh":
        return "zh_CN"
    if primary == "en":
        return "en"
    return None


def from_environment(environ: Mapping[str, str] | None = None) -> str:
    """The language the environment asks for, read as GNU gettext reads it: the locale of messages is LC_ALL, else
    LC_MESSAGES, else LANG; unless that is C (or unset), LANGUAGE may list preferences (zh_CN:en) before it."""
    env = os.environ if environ is None else environ
    locale_name = next((env[k] for k in ("LC_ALL", "LC_MESSAGES", "LANG") if env.get(k)), "C")
    if locale_name.split(".", 1)[0].upper() in ("C", "POSIX"):
        return SOURCE
    for wanted in [*env.get("LANGUAGE", "").split(":"), locale_name]:
        language = normalise(wanted) if wanted else None
        if language:
            return language
    return SOURCE


def negotiate(accept_language: str | None, default: str | None = None) -> str:
    """The language for a browser's Accept-Language header (zh-CN,zh;q=0.9,en;q=0.8): its most wanted language
    that baomi speaks; `default` (a service's configured language, else the environment's) when none is."""
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate((accept_language or "").split(",")):
        tag, _semicolon, rest = item.partition(";")
        quality = 1.0
        for param in rest.split(";"):
            key, _equals, value = param.strip().partition("=")
            if key.lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag.strip() and quality > 0:
            ranked.append((-quality, index, tag.strip()))
    for _quality, _index, tag in sorted(ranked):
        language = normalise(tag) if tag != "*" else None
        if language:
            return language
    return (normalise(default) if default else None) or from_environment()


def current() -> str:
    """The language messages are shown in here: the one set by speaking(), else the environment's."""
    return _speaking.get() or from_environment()


@contextmanager
def speaking(language: str | None) -> Iterator[str]:
    """Show messages in `language` (a tag or locale name; None or "" follows the environment) inside the block."""
    token = _speaking.set(_resolve(language) if language else None)
    try:
        yield current()
    finally:
        _speaking.reset(token)


@functools.cache
def translation(language: str) -> gettext.NullTranslations:
    """The compiled catalog of `language` (loaded once); message ids as they are for a language without one."""
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[language], fallback=True)


def _resolve(language: str | None) -> str:
    """A language as asked for: one baomi speaks, English for one it does not, the current one for None."""
    return (normalise(language) or SOURCE) if language else current()


def _(message: str) -> str:
    return _translated(current(), message)


def pgettext(context: str, message: str) -> str:
    """A short word whose translation depends on where it stands (`pgettext("verdict", "block")`)."""
    return _in_context(current(), context, message)


# A report asks for the same few words at every file and finding (a verdict's word, "line {line}, column {column}"):
# each is looked up in its catalog once per language (a catalog never changes once loaded), bounded all the same.
@functools.lru_cache(maxsize=4096)
def _translated(language: str, message: str) -> str:
    return translation(language).gettext(message)


@functools.lru_cache(maxsize=1024)
def _in_context(language: str, context: str, message: str) -> str:
    return translation(language).pgettext(context, message)


def ngettext(singular: str, plural: str, count: int) -> str:
    return translation(current()).ngettext(singular, plural, count)


def N_(message: str) -> str:
    """Mark a string of a module-level table for extraction; it is translated with `_` where it is shown."""
    return message


def translate_argparse() -> None:
    """Let argparse speak the reader's language too: its own words ("usage:", "error:", "the following arguments are
    required") come from gettext.gettext bound inside argparse; bound to ours, they come from baomi's catalogs
    (scanner/argparse_words.py marks them). Parsers built and errors raised after this are translated."""
    import argparse

    argparse._ = _  # type: ignore[attr-defined]
    argparse.ngettext = ngettext  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Message:
    """A sentence for a person, kept as data until it is shown: its English message id with {named} fields (and
    a plural, chosen by the field `count`), and the values. Values that are Messages are rendered too."""

    id: str
    params: tuple[tuple[str, Param], ...] = ()
    plural: str = ""

    def __str__(self) -> str:
        return render(self)

    def to_dict(self) -> dict[str, Any]:
        """The message as JSON data, for records read again later in another reader's language (.verdict.json)."""
        params = {k: v.to_dict() if isinstance(v, Message) else v for k, v in self.params}
        return {"id": self.id, "params": params, **({"plural": self.plural} if self.plural else {})}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        params = {k: cls.from_dict(v) if isinstance(v, Mapping) else v for k, v in data.get("params", {}).items()}
        return cls(str(data["id"]), tuple(sorted(params.items())), str(data.get("plural", "")))


Param = str | int | float | Message


def msg(message_id: str, /, **params: Param) -> Message:
    """A Message, extracted by Babel like `_` (keyword msg): `msg("Mark {mark} stands in the header.", mark=m)`."""
    return Message(message_id, tuple(sorted(params.items())))


def msg_n(singular: str, plural: str, count: int, /, **params: Param) -> Message:
    """A Message with a plural form, chosen by `count` (keyword msg_n:1,2)."""
    return Message(singular, tuple(sorted({**params, "count": count}.items())), plural)


def render(message: Message | str, language: str | None = None) -> str:
    """`message` in `language` (None: the current one). A translation that does not fit its values (a field the
    message does not have) falls back to the English sentence rather than fail in front of the reader."""
    if isinstance(message, str):
        return message
    resolved = _resolve(language)
    values = {key: render(value, language) if isinstance(value, Message) else value for key, value in message.params}
    if message.plural:
        count = int(values.get("count", 0))
        template = translation(resolved).ngettext(message.id, message.plural, count)
        english = message.id if count == 1 else message.plural
    else:
        template, english = _translated(resolved, message.id), message.id
    return _formatted(template, english, values)


def said(message_id: str, /, **values: str | int | float) -> str:
    """render(msg(message_id, **values)) in the current language, for values that are no Messages, without making
    the Message: for what a report says at every finding. The id is marked where it is written (`N_`)."""
    return _formatted(_translated(current(), message_id), message_id, values)


def _formatted(template: str, english: str, values: Mapping[str, Any]) -> str:
    """A translation that does not fit its values (a field the message does not have) falls back to the English
    sentence rather than fail in front of the reader."""
    for candidate in (template, english):
        try:
            return candidate.format(**values)
        except (KeyError, IndexError, ValueError):
            continue
    return english


def fields(template: str) -> set[str]:
    """The {named} fields a message uses: a translation must use the same ones."""
    return {name for _text, name, _spec, _conv in string.Formatter().parse(template) if name}
