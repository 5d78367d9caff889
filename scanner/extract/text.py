"""Plain text in the encodings Chinese offices use: UTF-8 (BOM or not), UTF-16 (BOM or not), GB18030 and Big5.

Detection tries the strict decoders people actually use before asking charset-normalizer to guess.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from typing import NamedTuple

from scanner.extract.base import XML_ENTITIES, Context, Unscannable
from scanner.i18n import msg
from scanner.model import Segment

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_BOM_PREFIXES = tuple(bom for bom, _encoding in _BOMS)
_JUNK = re.compile("[\ufffd\x00-\x08\x0e-\x1f]")
# Share of characters that may be control characters or replacement marks before text counts as garbled.
_MAX_JUNK = 0.02


# What Chinese text is made of: ideographs (and extension A), CJK and general punctuation, full-width forms, symbols
# (★, ①), ASCII; and of its ideographs, most are everyday ones (Japanese Shift-JIS read as UTF-16 gives rare ones).
_PLAUSIBLE = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\u3000-\u303f\uff00-\uffef\u2000-\u206f\u2460-\u27bf\t\n\r -~]")
_PLAUSIBLE_SHARE = 0.9
_IDEOGRAPH = re.compile("[\u4e00-\u9fff]")
_COMMON_SHARE = 0.6


class DecodedText(NamedTuple):
    text: str
    encoding: str


def decode_text(data: bytes) -> DecodedText:
    """Decode `data` as text, or raise Unscannable when it is not text in any encoding we can trust."""
    if data.startswith(_BOM_PREFIXES):  # one test for all of them first: most text has none
        encoding = next(encoding for bom, encoding in _BOMS if data.startswith(bom))
        return checked(data.decode(encoding, errors="replace"), encoding)
    if data.find(b"\x00", 0, 4096) != -1:
        utf16 = _utf16_without_bom(data)
        if utf16 is None:
            raise Unscannable("unsupported", msg("Binary content (NUL bytes) of no known format."))
        return checked(data.decode(utf16, errors="replace"), utf16)
    try:
        return checked(_utf8(data), "utf-8")
    except (UnicodeDecodeError, Unscannable):
        pass
    utf16 = _utf16_by_plausibility(data)
    if utf16 is not None:
        return checked(data.decode(utf16, errors="replace"), utf16)
    decodings = [(enc, text) for enc in ("gb18030", "big5hkscs") if (text := _decodes(data, enc)) is not None]
    # Big5 bytes are often valid GB18030 too (and the reverse): keep the reading made of common characters.
    for encoding, text in sorted(decodings, key=lambda d: -_commonness(d[1], d[0])):
        try:
            return checked(text, encoding)
        except Unscannable:
            continue
    import charset_normalizer  # the last resort, rarely reached: its import is 30 ms of every process's start

    best = charset_normalizer.from_bytes(data).best()
    if best is None:
        raise Unscannable("garbled", msg("No text encoding decodes this content."))
    return checked(str(best), best.encoding)


def read_text(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    """Plain text in whichever encoding decode_text finds. XML that declares entities is read as it is written, but
    what its references expand to (a billion laughs, an external file) is not there, so it is not complete."""
    decoded = decode_text(data)
    ctx.encoding_found(decoded.encoding, prefix)
    yield Segment(decoded.text, f"{prefix}body")
    if decoded.text.lstrip("\ufeff \t\r\n").startswith("<") and "<!ENTITY" in decoded.text[:65536]:
        ctx.problem("xml_entities", XML_ENTITIES, prefix.rstrip("!"))


_PIECE = 1 << 16


def _utf8(data: bytes) -> str:
    """`data.decode("utf-8")` 64 KiB at a time: CPython's decoder sizes its buffer at one character a byte, up to four
    bytes a character, so a large file decoded whole would briefly cost four times its
    size."""
    if len(data) <= _PIECE:
        return data.decode("utf-8")
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    pieces = [decoder.decode(view[at : at + _PIECE]) for at in range(0, len(data), _PIECE)]
    return "".join([*pieces, decoder.decode(b"", final=True)])


def _decodes(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def _commonness(text: str, encoding: str) -> float:
    """Share of the ideographs that are everyday characters: GB2312 level 1 for GB, Big5's frequent block for Big5."""
    ideographs = [ch for ch in text[:20000] if "\u4e00" <= ch <= "\u9fff"]
    if not ideographs:
        return 0.0
    return sum(1 for ch in ideographs if _common(ch, encoding)) / len(ideographs)


def _common(ch: str, encoding: str) -> bool:
    try:
        lead = ch.encode("gb2312" if encoding == "gb18030" else "big5")[0]
    except UnicodeEncodeError:
        return False
    return 0xB0 <= lead <= 0xD7 if encoding == "gb18030" else 0xA4 <= lead <= 0xC6


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 written without a BOM still shows itself: its NUL bytes (from ASCII) fall on one parity only."""
    head = data[:4096]
    even, odd = head[0::2].count(0), head[1::2].count(0)
    if even and not odd:
        return "utf-16-be"
    if odd and not even:
        return "utf-16-le"
    return None


def _utf16_by_plausibility(data: bytes) -> str | None:
    """Chinese in UTF-16 without a BOM and without ASCII has no NUL bytes to show its byte order, and GB18030 decodes
    it into nonsense. The text tells: in one order nearly every code unit is a character Chinese text is made of, in
    the other few are (and GB18030 or Big5 bytes read as UTF-16 are neither)."""
    if len(data) % 2 or len(data) < 4:
        return None
    head = data[:8192]
    shares = {order: _plausible_share(head.decode(order, errors="replace")) for order in ("utf-16-le", "utf-16-be")}
    best, other = sorted(shares, key=lambda order: -shares[order])
    if shares[best] < _PLAUSIBLE_SHARE or shares[other] >= 0.5:
        return None
    text = head.decode(best, errors="replace")
    everyday = max(_commonness(text, "gb18030"), _commonness(text, "big5hkscs"))
    return best if everyday >= _COMMON_SHARE or not _IDEOGRAPH.search(text) else None


def _plausible_share(text: str) -> float:
    return len(_PLAUSIBLE.findall(text)) / len(text) if text else 0.0


def checked(text: str, encoding: str) -> DecodedText:
    """The text, unless more than a sliver of it is replacement marks or control characters (then garbled)."""
    if text and _JUNK.search(text):
        junk = len(_JUNK.findall(text))
        if junk / len(text) > _MAX_JUNK:
            junky = msg("{count} undecodable or control characters as {encoding}.", count=junk, encoding=encoding)
            raise Unscannable("garbled", junky)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return DecodedText(text, encoding)
