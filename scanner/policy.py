"""Configuration and policy: how findings become a verdict, per channel, with an allow-list. Every verdict a door
acts on is decided here; a door that needs a different decision selects a channel.

The defaults live in scanner/data/default.toml; a user's TOML file is laid over them table by table.
"""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

from scanner import i18n
from scanner.config import (
    DOOR_TABLES,
    ConfigError,
    Invalid,
    LanguageTable,
    Origin,
    check_tables,
    did_you_mean,
    read_table,
)
from scanner.extract.base import Limits
from scanner.i18n import Message, msg
from scanner.model import Finding, Verdict
from scanner.titles import os_error

__all__ = ["CHANNELS", "ChannelPolicy", "Config", "ConfigError", "apply_policy", "load_config", "verdict_of"]

DEFAULTS = Path(__file__).parent / "data" / "default.toml"
# The channels a door may select, each with the channel whose settings it starts from: mail to internal recipients
# only is judged as mail first, then by its own lighter actions; uploads at the web proxy as the web desk's, except
# where nobody can hold one for review; uploads to the file cloud (baomi clamd) by the policy itself.
CHANNELS: dict[str, str | None] = {
    "scan": None,
    "watch": None,
    "mail": None,
    "web": None,
    "clamd": None,
    "mail-internal": "mail",
    "web-proxy": "web",
}
# What was not read, or not read for sure: whatever the configuration says, a person looks before it leaves.
NEVER_PASS = frozenset({"unscannable", "image", "damaged"})
# Channels whose door can neither hold a file for a person nor mark it: what it lets through it answers as clean.
# There, what could not be read at all is blocked, even where a flag is let through.
UNREVIEWED = frozenset({"clamd"})
T = TypeVar("T")


@dataclass(frozen=True)
class AllowedPhrase:
    """A phrase known to be safe (a standard disclaimer), and who said why."""

    text: str
    reason: str


@dataclass(frozen=True)
class AllowedFile:
    """A file known to be safe, by its SHA-256, and who said why."""

    sha256: str
    reason: str


@dataclass(frozen=True)
class ChannelPolicy:
    actions: dict[str, Verdict]
    roster: int
    context_chars: int
    flag: Verdict = Verdict.FLAG  # what a flag becomes: block where nobody can hold a file for a person to look at
    reviewed: bool = True  # False: nothing flagged reaches a person (UNREVIEWED), so the unscannable is blocked


@dataclass
class Config:
    """The whole configuration: one rule set shared by every door, with per-channel overrides, and the doors' tables."""

    channels: dict[str, ChannelPolicy]
    allowed_phrases: tuple[AllowedPhrase, ...] = ()
    allowed_files: tuple[AllowedFile, ...] = ()
    builtin_dictionaries: bool = True
    dictionary_files: list[Path] = field(default_factory=list)
    limits: Limits = field(default_factory=Limits)
    ocr: bool = False  # read images and image-only pages with Tesseract
    tables: dict[str, Any] = field(default_factory=dict)  # the doors' tables, by name, as their records
    origin: Origin = field(default_factory=Origin)

    def channel(self, name: str) -> ChannelPolicy:
        try:
            return self.channels[name]
        except KeyError:
            unknown = msg(
                "There is no channel “{name}”: expected one of {known}.", name=name, known=", ".join(CHANNELS)
            )
            raise ConfigError(unknown) from None

    @property
    def language(self) -> str | None:
        """[i18n] language: what services speak to a reader who says nothing (None: the environment's, $LANG)."""
        return i18n.normalise(self.table(LanguageTable).language) or None

    def table(self, schema: type[T]) -> T:
        """A door's table ([watch], [mail], ...) as its record; the record's defaults when the file has none."""
        found = self.tables.get(_name_of(schema))
        return found if isinstance(found, schema) else schema()

    def with_dictionaries(self, files: Iterable[Path]) -> Config:
        return replace(self, dictionary_files=[*self.dictionary_files, *files])


def _name_of(schema: type) -> str:
    return next(name for name, known in DOOR_TABLES.items() if known is schema)


# The policy's own tables, as the file holds them.


@dataclass(frozen=True)
class ThresholdsTable:
    roster: int | None = None  # distinct valid identifiers that make a file a roster
    context_chars: int | None = None  # characters of context on each side of a match in reports and logs


@dataclass(frozen=True)
class ChannelTable:
    actions: dict[str, Verdict] = field(default_factory=dict)
    thresholds: ThresholdsTable = ThresholdsTable()
    flag: Literal["flag", "block"] | None = None


@dataclass(frozen=True)
class AllowTable:
    phrase: tuple[AllowedPhrase, ...] = ()
    file: tuple[AllowedFile, ...] = ()


@dataclass(frozen=True)
class DictionariesTable:
    builtin: bool = True
    files: tuple[Path, ...] = ()


@dataclass(frozen=True)
class PolicyFile:
    """The policy's tables; the doors' tables are read by their own records (scanner.config)."""

    actions: dict[str, Verdict] = field(default_factory=dict)
    thresholds: ThresholdsTable = ThresholdsTable()
    allow: AllowTable = AllowTable()
    dictionaries: DictionariesTable = DictionariesTable()
    limits: Limits = field(default_factory=Limits)
    channels: dict[str, ChannelTable] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in self.channels:
            if name not in CHANNELS:
                unknown = msg("There is no table [{table}].", table=f"channels.{name}")
                raise Invalid("", msg("{problem} {hint}", problem=unknown, hint=did_you_mean(name, list(CHANNELS))))


def load_config(path: Path | None = None) -> Config:
    """The defaults, overlaid with the TOML file at `path` when one is given; every table checked."""
    raw = _read_toml(DEFAULTS)
    if path is not None:
        raw = _overlay(raw, _read_toml(path))
    origin = Origin(path)
    check_tables(raw, [*PolicyFile.__dataclass_fields__, *DOOR_TABLES], origin)
    policy = read_table(PolicyFile, {k: v for k, v in raw.items() if k not in DOOR_TABLES}, "", origin)
    tables: dict[str, Any] = {
        name: read_table(schema, raw[name], name, origin) for name, schema in DOOR_TABLES.items() if name in raw
    }
    return Config(
        channels=_channels(policy),
        allowed_phrases=policy.allow.phrase,
        allowed_files=policy.allow.file,
        builtin_dictionaries=policy.dictionaries.builtin,
        dictionary_files=list(policy.dictionaries.files),
        limits=policy.limits,
        tables=tables,
        origin=origin,
    )


def apply_policy(findings: list[Finding], channel: ChannelPolicy, config: Config, sha256: str) -> list[Finding]:
    """Set each finding's action by the channel's policy and drop what the allow-list covers."""
    if not findings:  # most files: nothing to set or drop
        return []
    if any(a.sha256.lower() == sha256 for a in config.allowed_files):
        findings = [f for f in findings if f.category == "unscannable"]
    kept = []
    for finding in findings:
        if _allowed_phrase(finding, config.allowed_phrases):
            continue
        action = channel.actions.get(finding.category, finding.action)
        if finding.category in NEVER_PASS:
            action = max(action, Verdict.FLAG)  # fail closed: a policy may lower these to flag, never to pass
        if action == Verdict.FLAG:
            action = channel.flag
        if finding.category == "unscannable" and not channel.reviewed:
            action = Verdict.BLOCK  # a flag would be let through unread
        kept.append(replace(finding, action=action) if action != finding.action else finding)
    return kept


def verdict_of(findings: Iterable[Finding]) -> Verdict:
    if not findings:
        return Verdict.PASS
    return max((f.action for f in findings), default=Verdict.PASS)


def _channels(policy: PolicyFile) -> dict[str, ChannelPolicy]:
    """Each channel: the global actions and thresholds, then those of the channel it starts from, then its own."""
    top = ChannelPolicy(
        actions=dict(policy.actions),
        roster=policy.thresholds.roster or 10,
        context_chars=policy.thresholds.context_chars or 20,
    )
    built: dict[str, ChannelPolicy] = {}
    for name, parent in CHANNELS.items():  # parents come before the channels built on them
        base = built[parent] if parent else top
        own = policy.channels.get(name, ChannelTable())
        built[name] = ChannelPolicy(
            actions={**base.actions, **own.actions},
            roster=own.thresholds.roster or base.roster,
            context_chars=own.thresholds.context_chars or base.context_chars,
            flag=Verdict.parse(own.flag) if own.flag else base.flag,
            reviewed=name not in UNREVIEWED,
        )
    return built


def _allowed_phrase(finding: Finding, allowed: tuple[AllowedPhrase, ...]) -> bool:
    """A match inside an allowed phrase (as shown in its context) is that phrase, not a leak."""
    return finding.category != "unscannable" and any(
        finding.text in a.text and a.text in finding.context for a in allowed
    )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(
            msg("Cannot read the configuration {path}: {error}.", path=str(path), error=os_error(exc))
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(not_toml(path, exc)) from None


def not_toml(path: Path, exc: tomllib.TOMLDecodeError) -> Message:
    """Where a file stops being TOML: the line and column (tomllib says what it expected there, in English)."""
    at = re.search(r"at line (\d+), column (\d+)", str(exc))
    if at:
        return msg(
            "{path}: this is not valid TOML (line {line}, column {column}).",
            path=str(path),
            line=int(at[1]),
            column=int(at[2]),
        )
    return msg("{path}: this is not valid TOML ({error}).", path=str(path), error=str(exc))


def _overlay(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _overlay(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out
