"""Extraction: bytes of any format in, segments of text out, with the limits enforced in one place.

The dispatcher detects the format by content (never by the name alone); containers recurse through it.
"""

from __future__ import annotations

from scanner.extract.base import Extraction, Limits, Problem, Unscannable
from scanner.extract.text import decode_text
from scanner.model import Role, Segment

__all__ = ["Extraction", "Limits", "Problem", "Unscannable", "extract"]


def extract(data: bytes, name: str, limits: Limits | None = None) -> Extraction:
    """Read every part of `data` (a file called `name`) into segments; what cannot be read becomes a problem."""
    limits = limits or Limits()
    filename = Segment(text=_basename(name), part="filename", role=Role.FILENAME)
    if len(data) > limits.max_bytes:
        problem = Problem("max_bytes", f"{len(data)} bytes, over the limit of {limits.max_bytes}")
        return Extraction("unknown", [filename], [problem])
    try:
        decoded = decode_text(data)
    except Unscannable as exc:
        return Extraction("unknown", [filename], [Problem(exc.reason, exc.detail, exc.part)])
    return Extraction("text", [filename, Segment(decoded.text)], encoding=decoded.encoding)


def _basename(name: str) -> str:
    return name.replace("\\", "/").rsplit("/", 1)[-1]
