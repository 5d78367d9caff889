"""Text that came out of a fixed-layout page but is not the page's text: (cid:N), private-use glyphs, GBK mojibake.

A page like that hides what it says from the detectors, so it is a problem of its own, never silently a pass.
"""

from __future__ import annotations

import re

from scanner.i18n import Message, msg

_CID = re.compile(r"\(cid:\d+\)")
# Two or more GBK characters read byte by byte as Latin-1 (关于 → ¹ØÓÚ): a non-embedded Chinese font without a map.
_LATIN1_RUN = re.compile(r"[\u00a1-\u00fe]{4,}")
_SHARE = 0.1  # of a page's visible characters, before it counts as unreadable
_MINIMUM = 4  # characters of evidence before anything is said at all


_SPACE = re.compile(r"\s")
# Glyphs with no Unicode of their own: private-use code points, replacement marks, control characters.
_PRIVATE = re.compile("[\ue000-\uf8ff\ufffd\ufffe\x00-\x08\x0e-\x1f]")


def gbk_mojibake(run: str) -> str | None:
    """The Chinese text a run of Latin-1 letters really was, if it decodes as GBK to Chinese only."""
    try:
        decoded = run.encode("latin-1").decode("gb18030")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return None
    return decoded if all("\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef" for ch in decoded) else None


def repair_mojibake(text: str) -> str:
    """The text with its GBK-as-Latin-1 runs decoded back to Chinese."""
    return _LATIN1_RUN.sub(lambda m: gbk_mojibake(m.group()) or m.group(), text)


def garbled(text: str) -> Message | None:
    """Why `text` is not readable text, or None when it looks like what the page shows."""
    visible = len(text) - len(_SPACE.findall(text))
    if visible < _MINIMUM:
        return None
    cids = _CID.findall(text)
    if len(cids) >= _MINIMUM or (cids and sum(map(len, cids)) > _SHARE * visible):
        return msg("{count} glyphs came out as (cid:N) placeholders.", count=len(cids))
    private = len(_PRIVATE.findall(text))
    if private >= _MINIMUM and private > _SHARE * visible:
        return msg(
            "{count} of {visible} characters are private-use or control code points (a font without a map).",
            count=private,
            visible=visible,
        )
    mojibake = sum(len(run) for run in _LATIN1_RUN.findall(text) if gbk_mojibake(run))
    if mojibake >= _MINIMUM:
        return msg("{count} Latin-1 characters are Chinese text in GBK read byte by byte (mojibake).", count=mojibake)
    return None
