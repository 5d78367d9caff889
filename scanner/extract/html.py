"""HTML as the text a reader sees (scripts and styles dropped, blocks on their own lines), in its declared charset.

Also the charset rule mail shares: the names Chinese mail declares are narrower than what it contains.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from html.parser import HTMLParser

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
_SKIPPED = frozenset({"script", "style", "noscript", "template"})


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
    """(title, text) of an HTML document."""
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    text = re.sub(r"[ \t\r\f\v]+", " ", "".join(parser.out))
    text = re.sub(r" ?\n[ \n]*", "\n", text).strip()
    return " ".join("".join(parser.title).split()), text


def read_html(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    declared = _META_CHARSET.search(data[:4096])
    html = decode_declared(data, declared.group(1).decode("ascii") if declared else None)
    title, text = html_to_text(html)
    if title:
        yield Segment(title, f"{prefix}title", Role.TITLE)
    yield Segment(text, f"{prefix}body")


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.title: list[str] = []
        self.skipping = 0
        self.in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self.skipping += 1
        elif tag == "title":
            self.in_title = True
        if tag in _BLOCKS:
            self.out.append("\n")
        if tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.out.append(f" {alt} ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED and self.skipping:
            self.skipping -= 1
        elif tag == "title":
            self.in_title = False
        if tag in _BLOCKS:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        if self.in_title:
            self.title.append(data)
        else:
            self.out.append(data)
