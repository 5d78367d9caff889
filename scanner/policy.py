"""Configuration and policy: how findings become a verdict, per channel, with an allow-list.

The defaults live in scanner/data/default.toml; a user's TOML file is laid over them table by table.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from scanner.extract.base import Limits
from scanner.model import Finding, Verdict

DEFAULTS = Path(__file__).parent / "data" / "default.toml"
CHANNELS = ("scan", "watch", "mail", "web")
# What was not read, or not read for sure: whatever the configuration says, a person looks before it leaves.
NEVER_PASS = frozenset({"unscannable", "image", "damaged"})


class ConfigError(ValueError):
    """A configuration file that cannot be used as it is; the message says what and where."""


@dataclass(frozen=True)
class Allowance:
    """Something known to be safe (a phrase or a file's SHA-256), and who said why."""

    value: str
    reason: str


@dataclass(frozen=True)
class ChannelPolicy:
    actions: dict[str, Verdict]
    roster: int
    context_chars: int


@dataclass
class Config:
    """The whole configuration: one rule set shared by every door, with per-channel overrides."""

    channels: dict[str, ChannelPolicy]
    allowed_phrases: list[Allowance] = field(default_factory=list)
    allowed_files: list[Allowance] = field(default_factory=list)
    builtin_dictionaries: bool = True
    dictionary_files: list[Path] = field(default_factory=list)
    limits: Limits = field(default_factory=Limits)
    ocr: bool = False  # read images and image-only pages with Tesseract
    doors: dict[str, dict[str, Any]] = field(default_factory=dict)  # door-specific tables: [watch], [mail], ...

    def channel(self, name: str) -> ChannelPolicy:
        try:
            return self.channels[name]
        except KeyError:
            raise ConfigError(f"unknown channel {name!r}: expected one of {', '.join(CHANNELS)}") from None

    def with_dictionaries(self, files: Iterable[Path]) -> Config:
        return replace(self, dictionary_files=[*self.dictionary_files, *files])


def load_config(path: Path | None = None) -> Config:
    """The defaults, overlaid with the TOML file at `path` when one is given."""
    raw = _read_toml(DEFAULTS)
    if path is not None:
        raw = _overlay(raw, _read_toml(path))
        base = path.parent
        raw.setdefault("registry", {}).setdefault("store", "registry.db")  # registered secrets: next to the policy
    else:
        base = Path.cwd()
    try:
        return _build(raw, base)
    except (KeyError, TypeError, ValueError) as exc:
        where = path or DEFAULTS
        raise ConfigError(f"{where}: {exc}") from None


def apply_policy(findings: list[Finding], channel: ChannelPolicy, config: Config, sha256: str) -> list[Finding]:
    """Set each finding's action by the channel's policy and drop what the allow-list covers."""
    if any(a.value == sha256 for a in config.allowed_files):
        return [f for f in findings if f.category == "unscannable"]
    kept = []
    for finding in findings:
        if _allowed_phrase(finding, config.allowed_phrases):
            continue
        action = channel.actions.get(finding.category, finding.action)
        if finding.category in NEVER_PASS:
            action = max(action, Verdict.FLAG)  # fail closed: a policy may lower these to flag, never to pass
        kept.append(replace(finding, action=action) if action != finding.action else finding)
    return kept


def verdict_of(findings: Iterable[Finding]) -> Verdict:
    return max((f.action for f in findings), default=Verdict.PASS)


def _allowed_phrase(finding: Finding, allowed: list[Allowance]) -> bool:
    """A match inside an allowed phrase (as shown in its context) is that phrase, not a leak."""
    return finding.category != "unscannable" and any(
        finding.text in a.value and a.value in finding.context for a in allowed
    )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read configuration {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _overlay(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _overlay(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _build(raw: dict[str, Any], base: Path) -> Config:
    actions = {k: Verdict.parse(v) for k, v in raw.get("actions", {}).items()}
    thresholds = raw.get("thresholds", {})
    channels = {}
    for name in CHANNELS:
        over = raw.get("channels", {}).get(name, {}) or {}
        th = {**thresholds, **over.get("thresholds", {})}
        channels[name] = ChannelPolicy(
            actions={**actions, **{k: Verdict.parse(v) for k, v in over.get("actions", {}).items()}},
            roster=int(th.get("roster", 10)),
            context_chars=int(th.get("context_chars", 20)),
        )
    allow = raw.get("allow", {})
    limit_names = {f.name for f in fields(Limits)}
    unknown = set(raw.get("limits", {})) - limit_names
    if unknown:
        raise ValueError(f"unknown limits: {', '.join(sorted(unknown))}")
    dicts = raw.get("dictionaries", {})
    known = {"actions", "thresholds", "allow", "dictionaries", "limits", "channels"}
    return Config(
        channels=channels,
        allowed_phrases=[Allowance(str(a["text"]), str(a["reason"])) for a in allow.get("phrase", [])],
        allowed_files=[Allowance(str(a["sha256"]).lower(), str(a["reason"])) for a in allow.get("file", [])],
        builtin_dictionaries=bool(dicts.get("builtin", True)),
        dictionary_files=[(base / p) for p in dicts.get("files", [])],
        limits=Limits(**raw.get("limits", {})),
        doors=_with_audit_path(base, {k: v for k, v in raw.items() if k not in known and isinstance(v, dict)}),
    )


def _with_audit_path(base: Path, doors: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A relative [audit] path, [registry] store or key is relative to the configuration file that names it, as
    dictionary files are (a PostgreSQL URL is left as it is)."""
    for table, key in (("audit", "path"), ("registry", "store"), ("registry", "key")):
        path = doors.get(table, {}).get(key)
        if isinstance(path, str) and "://" not in path and not Path(path).is_absolute():
            doors = {**doors, table: {**doors[table], key: str(base / path)}}
    return doors
