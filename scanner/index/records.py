"""A FileReport as the scan index keeps it: compact JSON without what the index's columns hold (the path, the size,
the SHA-256), every finding's reason kept as data so that a reused report speaks its reader's language."""

from __future__ import annotations

import enum
import functools
import json
from dataclasses import MISSING, fields, is_dataclass
from typing import Any

from scanner.i18n import Message
from scanner.model import FileReport, Finding, Location, Verdict

_IN_COLUMNS = ("path", "size", "sha256", "reused")


def _defaults(schema: type) -> list[tuple[str, Any]]:
    """Each field of `schema` and its default (MISSING where it has none)."""
    out = []
    for item in fields(schema):
        default = item.default_factory() if item.default_factory is not MISSING else item.default
        out.append((item.name, default))
    return out


_STORED = [(name, default) for name, default in _defaults(FileReport) if name not in _IN_COLUMNS]


_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # made once: json.dumps makes one a call


def encode(report: FileReport) -> str:
    """The report as the index stores it; fields at their defaults are left out (a clean file's is a few bytes)."""
    data = {}
    for name, default in _STORED:
        value = getattr(report, name)
        if value is not default and value != default:
            data[name] = _plain(value)
    return _JSON.encode(data)


def decode(text: str, path: str, size: int, sha256: bytes) -> FileReport:
    """The report `encode` stored, for the file at `path`, marked as reused."""
    verdict, findings, errors, rest = _parsed(text)
    return FileReport(path, verdict, list(findings), list(errors), size, sha256.hex(), reused=True, **rest)


@functools.lru_cache(maxsize=4096)
def _parsed(text: str) -> tuple[Verdict, tuple[Finding, ...], tuple[str, ...], dict[str, Any]]:
    """A stored report's parts; most files of a share are clean, and their reports are few texts, parsed once. What
    is shared between reports is immutable (findings are frozen) or copied by `decode`."""
    data = json.loads(text)
    findings = tuple(_finding(each) for each in data.pop("findings", []))
    return Verdict(data.pop("verdict", 0)), findings, tuple(data.pop("errors", [])), data


def _finding(data: dict[str, Any]) -> Finding:
    reason = data.pop("reason", None)
    return Finding(
        **{
            **data,
            "action": Verdict(data["action"]),
            "location": Location(**data["location"]),
            "reason": Message.from_dict(reason) if reason else None,
        }
    )


def _plain(value: Any) -> Any:
    if type(value) in _AS_THEY_ARE:  # most values: looked at first, and by their exact type (a Verdict is an int)
        return value
    if isinstance(value, Message):
        return value.to_dict()
    if isinstance(value, enum.Enum):
        return value.value
    if is_dataclass(value) and not isinstance(value, type):
        return {name: _plain(getattr(value, name)) for name in _field_names(type(value))}
    if isinstance(value, list | tuple):
        return [_plain(each) for each in value]
    return value


_AS_THEY_ARE = frozenset({str, int, float, bool, type(None)})


@functools.cache
def _field_names(schema: type) -> tuple[str, ...]:
    return tuple(item.name for item in fields(schema))
