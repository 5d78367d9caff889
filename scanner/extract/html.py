"""HTML as the text a reader sees (scripts and styles dropped, blocks on their own lines), in its declared charset.

Also the charset rule mail shares: the names Chinese mail declares are narrower than what it contains.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from html import unescape

from scanner.extract.base import Context
from scanner.extract.text import decode_text
from scanner.model import Role, Segment

# gb2312 and gbk labels are written by software that emits GB18030; big5 by software that emits HKSCS.
_WIDER = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "cp936": "gb18030",
    "euc-cn": "gb18030",
    "x-gbk": "gb18030",
    "hz-gb-2312": "hz",
    "big5": "big5hkscs",
    "cp950": "big5hkscs",
    "x-x-big5": "big5hkscs",
}
_META_CHARSET = re.compile(rb"""<meta[^>]{0,300}?charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_BLOCKS = frozenset(
    {"p", "div", "br", "li", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "section"}
    | {"article", "header", "footer", "blockquote", "pre", "title"}
)
_SKIPPED = ("script", "style", "noscript", "template")
# A tag, a declaration or a processing instruction; [^<>]* keeps each attempt within one tag (linear time).
_TAG = re.compile(r"</?([A-Za-z][A-Za-z0-9:-]*)[^<>]*>|<[!?][^<>]*>")
_ALT = re.compile(r"""\balt\s*=\s*["']?([^"'>]*)""", re.IGNORECASE)


def codec_for(charset: str | None) -> str | None:
    """The Python codec for a declared charset, widened where Chinese software under-declares; None if unknown."""
    if not charset:
        return None
    label = charset.strip().strip("\"'").lower()
    label = _WIDER.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def decode_declared(data: bytes, charset: str | None) -> str:
    """Text in its declared charset; when none is declared, or the declaration is wrong, as decode_text finds it."""
    codec = codec_for(charset)
    if codec is not None:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            pass
    return decode_text(data).text


def html_to_text(html: str) -> tuple[str, str]:
    """(title, text) of an HTML document: comments, scripts and styles dropped, block elements on their own lines.

    Hand-rolled rather than html.parser, whose handling of unclosed comments is quadratic (400 kB of '<!--' takes
    over a minute): every step here is one pass over the text."""
    html = _drop_between(html, "<!--", "-->")
    for tag in _SKIPPED:
        html = _drop_between(html, f"<{tag}", f"</{tag}>")
    lowered = html.lower()
    title = ""
    start = lowered.find("<title")
    if start >= 0:
        end = lowered.find("</title", start)
        if end >= 0:
            title = _TAG.sub("", html[start:end])
            html = html[:start] + html[end:]
    text = unescape(_TAG.sub(_tag_to_text, html))
    text = re.sub(r"[ \t\r\f\v\xa0]+", " ", text)
    text = re.sub(r" ?\n[ \n]*", "\n", text).strip()
    return " ".join(unescape(title).split()), text


def _drop_between(html: str, opener: str, closer: str) -> str:
    """`html` without each run from `opener` to `closer` (case-insensitive); an unclosed run is kept, so that a stray
    opener cannot hide the rest of the text from the scan."""
    lowered = html.lower()
    kept = []
    pos = 0
    while (start := lowered.find(opener, pos)) >= 0:
        end = lowered.find(closer, start + len(opener))
        if end < 0:
            break
        kept.append(html[pos:start])
        pos = end + len(closer)
    kept.append(html[pos:])
    return "".join(kept)


def _tag_to_text(match: re.Match[str]) -> str:
    name = (match.group(1) or "").lower()
    if name == "img":
        alt = _ALT.search(match.group(0))
        return f" {alt.group(1)} " if alt else " "
    return "\n" if name in _BLOCKS else ""


def read_html(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    declared = _META_CHARSET.search(data[:4096])
    html = decode_declared(data, declared.group(1).decode("ascii") if declared else None)
    title, text = html_to_text(html)
    if title:
        yield Segment(title, f"{prefix}title", Role.TITLE)
    yield Segment(text, f"{prefix}body")
