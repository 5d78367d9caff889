"""RTF as Word and WordPad show it: \\'xx bytes in the code page of their font (\\ansicpg936, \\fcharset134), \\uN
characters with their fallbacks skipped, \\bin data skipped, and destinations that hold no visible text left out.

Headers, footers, footnotes, comments, fields and document properties are parts of their own; pictures get the
`image` finding (read with --ocr), and embedded objects (\\objdata) are read through the dispatcher.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from scanner.extract.base import Context, Unscannable
from scanner.extract.embedded import ole1_object
from scanner.extract.html import codec_for
from scanner.extract.text import checked
from scanner.i18n import N_, msg
from scanner.model import Role, Segment

# One token: a control word with its parameter (and the space that ends it), a hex byte, a control symbol, a brace,
# line ends (which RTF ignores), or a run of plain text.
_TOKEN = re.compile(
    rb"\\([a-zA-Z]{1,32})(-?\d{1,10})? ?|\\'([0-9a-fA-F]{2})|\\([^a-zA-Z'])|([{}])|[\r\n]+|([^\\{}\r\n]+)|(\\)",
    re.DOTALL,
)
# Windows font charsets and the code pages their bytes are in.
_CHARSETS = {
    128: 932, 129: 949, 130: 1361, 134: 936, 136: 950, 161: 1253, 162: 1254, 163: 1258, 177: 1255, 178: 1256,
    186: 1257, 204: 1251, 222: 874, 238: 1250, 255: 437, 77: 10000,
}  # fmt: skip
_SYMBOL_CHARSET = 2  # Symbol, Wingdings: bytes are glyph numbers, read as U+F0xx (a Wingdings star is ★)
# Destinations whose text is a part of its own, and the role it plays.
_PARTS = {
    **dict.fromkeys(("header", "headerl", "headerr", "headerf"), ("header", Role.HEADER)),
    **dict.fromkeys(("footer", "footerl", "footerr", "footerf"), ("footer", Role.FOOTER)),
    "footnote": ("notes", Role.NOTE),
    "annotation": ("comments", Role.NOTE),
    "fldinst": ("fields", Role.METADATA),
    "docvar": ("variables", Role.METADATA),
    "userprops": ("properties", Role.METADATA),
    "title": ("title", Role.TITLE),
    "info": ("info", Role.METADATA),
    **{name: (name, Role.METADATA) for name in ("subject", "author", "operator", "keywords", "comment", "doccomm")},
    **{name: (name, Role.METADATA) for name in ("company", "manager", "category")},
}
# Destinations whose content is read although they are marked optional (\*): text a reader sees or keeps.
_OPTIONAL_READ = frozenset(
    {"annotation", "fldinst", "docvar", "userprops", "propname", "staticval", "shpinst", "shptxt", "shppict", "ud"}
    | {"company", "manager", "category", "objdata", "pict", "listtext", "pntext", "pntxta", "pntxtb"}
)
# Destinations that hold no visible text (tables of fonts, colours and styles, revision authors, bookkeeping, the
# picture old readers get instead of a shape's own): skipped with their nested groups.
_SKIPPED = frozenset(
    {"colortbl", "stylesheet", "listtable", "listoverridetable", "revtbl", "rsidtbl", "generator", "xmlnstbl"}
    | {"themedata", "colorschememapping", "datastore", "latentstyles", "mmathpr", "pgdsctbl", "filetbl", "nonshppict"}
    | {"objclass", "objname", "fchars", "lchars", "bkmkstart", "bkmkend", "atnid", "atnauthor", "atndate"}
    | {"xe", "tc", "private", "passwordhash", "wgrffmtfilter", "template", "sn", "blipuid", "falt", "panose"}
)
_INFO_FIELDS = frozenset(name for name, (_, role) in _PARTS.items() if role in (Role.TITLE, Role.METADATA))
_BREAKS = {"par": "\n", "line": "\n", "sect": "\n", "page": "\f", "cell": "\n", "row": "\n", "tab": "\t"}
_SYMBOLS = {
    "emdash": "—", "endash": "–", "lquote": "‘", "rquote": "’", "ldblquote": "“", "rdblquote": "”", "bullet": "•",
    "emspace": "\u2003", "enspace": "\u2002", "qmspace": "\u2005", "zwj": "\u200d", "zwnj": "\u200c",
}  # fmt: skip
_ESCAPES = {"\\": "\\", "{": "{", "}": "}", "~": "\u00a0", "_": "\u2011", "-": "", "\n": "\n", "\r": "\n", "\t": "\t"}
_RASTER = {"pngblip": ".png", "jpegblip": ".jpg"}
_PICTURE_KINDS = ("emfblip", "wmetafile", "dibitmap", "wbitmap", "macpict", "pmmetafile")
_PROBLEMS = {
    "not_rtf": N_("This is not RTF: the file does not open with an RTF header."),
    "codepage": N_("Text in code page {codepage}, which has no decoder here."),
    "unclosed": N_("The document ends inside {depth} open groups: it was cut short, and what it holds was read."),
    "picture": N_("A picture in the document ({kind}): its text was not examined."),
}


@dataclass
class _Collector:
    """What one picture or embedded object destination gathers until its group closes."""

    kind: str
    hex: list[bytes] = field(default_factory=list)
    binary: list[bytes] = field(default_factory=list)
    picture: str = ""


@dataclass
class _Group:
    """The state a group opens with and restores when it closes."""

    part: str  # where text goes: body, header, fields, ...; "" while skipping
    font: int  # the font number, whose charset says the code page of \'xx bytes; -1 for the default font
    uc: int = 1  # characters of fallback after each \uN
    collector: _Collector | None = None
    fonts: bool = False  # inside the font table
    resume: str = ""  # inside \upr: the part its Unicode version (\ud) is read into; the ANSI version is skipped


class _Document:
    def __init__(self, data: bytes, prefix: str, ctx: Context) -> None:
        self.data, self.prefix, self.ctx = data, prefix, ctx
        self.parts: dict[str, list[str]] = {}
        self.pending = bytearray()  # \'xx bytes and 8-bit text, decoded together (a GBK character is two of them)
        self.pending_codepage = 0
        self.ansi = 1252
        self.fonts: dict[int, int] = {}
        self.font = -1  # the font being defined in the font table
        self.default_font = 0
        self.skip = 0  # fallback characters of a \uN still to skip
        self.star = False  # the next control word names an optional destination
        self.high_surrogate = ""
        self.embedded: list[tuple[_Collector, str]] = []

    def read(self) -> None:
        data = self.data
        if not data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{\\rtf"):
            raise Unscannable("corrupt", msg(_PROBLEMS["not_rtf"]))
        stack: list[_Group] = []
        group = _Group("body", -1)
        pos = data.index(b"{")
        while pos < len(data):
            match = _TOKEN.match(data, pos)
            assert match is not None  # the last alternative takes any byte that the others do not
            pos = match.end()
            word, number, hex_byte, symbol, brace, text, _ = match.groups()
            if brace == b"{":
                self.flush(group)
                stack.append(group)
                group = _Group(group.part, group.font, group.uc, group.collector, group.fonts, group.resume)
                self.skip = 0
            elif brace == b"}":
                self.flush(group)
                self.skip = 0
                if not stack:
                    break  # the document's own group has closed: what follows is not shown
                closed, group = group, stack.pop()
                if closed.collector is not None and closed.collector is not group.collector:
                    self.embedded.append((closed.collector, closed.part))
            elif word is not None:
                pos = self.control(word.decode("ascii"), number, group, pos)
            elif hex_byte is not None:
                self.byte(int(hex_byte, 16), group)
            elif text is not None:
                self.text(text, group)
            elif symbol is not None:
                self.symbol(symbol.decode("latin-1"), group)
        self.flush(group)
        if stack:
            unclosed = msg(_PROBLEMS["unclosed"], depth=len(stack))
            self.ctx.problem("repaired", unclosed, self.prefix.rstrip("!"))

    # ------------------------------------------------------------ tokens

    def control(self, word: str, number: bytes | None, group: _Group, pos: int) -> int:
        self.flush(group)
        value = int(number) if number is not None else None
        star, self.star = self.star, False
        if word == "bin":
            size = max(0, value or 0)
            if group.collector is not None:
                group.collector.binary.append(self.data[pos : pos + size])
            return pos + size
        if word == "u" and value is not None:
            self.unicode(value if value >= 0 else value + 65536, group)
            return pos
        if word == "ud" and group.resume:
            group.part, group.resume = group.resume, ""
        if not group.part:
            return pos
        if word == "upr":
            group.part, group.resume = "", group.part
        elif group.fonts:
            self.font_table(word, value)
        elif word in _SKIPPED or (star and word not in _OPTIONAL_READ and word not in _PARTS):
            group.part = ""
        elif word in _PARTS:
            group.part = _PARTS[word][0]
        elif word == "fonttbl":
            group.fonts = True
        elif word == "pict":
            group.collector = _Collector("pict")
        elif word == "objdata":
            group.collector = _Collector("objdata")
        elif group.collector is not None and word in (*_RASTER, *_PICTURE_KINDS):
            group.collector.picture = word
        elif word == "uc" and value is not None:
            group.uc = max(0, value)
        elif word == "ansicpg" and value is not None:
            self.ansi = value
        elif word == "deff" and value is not None:
            self.default_font = value
        elif word == "f" and value is not None:
            group.font = value
        elif word in ("mac", "pc", "pca"):
            self.ansi = {"mac": 10000, "pc": 437, "pca": 850}[word]
        elif word in _BREAKS:
            self.emit(_BREAKS[word], group)
        elif word in _SYMBOLS:
            self.emit(_SYMBOLS[word], group)
        return pos

    def font_table(self, word: str, value: int | None) -> None:
        if value is None:
            return
        if word == "f":
            self.font = value
            self.fonts.setdefault(value, 0)
        elif word == "fcharset":
            self.fonts[self.font] = -1 if value == _SYMBOL_CHARSET else _CHARSETS.get(value, 0)
        elif word == "cpg" and value:
            self.fonts[self.font] = value

    def symbol(self, symbol: str, group: _Group) -> None:
        if symbol == "*":
            self.star = True
            return
        if self.skip:
            self.skip -= 1
            return
        if symbol in _ESCAPES:
            self.emit(_ESCAPES[symbol], group)
        elif symbol == "|" or symbol == ":":
            return
        else:
            self.emit(symbol, group)

    def byte(self, value: int, group: _Group) -> None:
        if self.skip:
            self.skip -= 1
        elif group.collector is not None:
            group.collector.hex.append(b"%02x" % value)
        elif group.part and not group.fonts:
            self.pend(bytes((value,)), group)

    def text(self, run: bytes, group: _Group) -> None:
        if self.skip:
            dropped = min(self.skip, len(run))
            self.skip -= dropped
            run = run[dropped:]
        if not run:
            return
        if group.collector is not None:
            group.collector.hex.append(run)
        elif group.part and not group.fonts:
            self.pend(run, group)

    def unicode(self, code: int, group: _Group) -> None:
        self.skip = group.uc
        character = chr(code)
        if 0xD800 <= code < 0xDC00:
            self.high_surrogate = character
            return
        if 0xDC00 <= code < 0xE000 and self.high_surrogate:
            character = (self.high_surrogate + character).encode("utf-16", "surrogatepass").decode("utf-16")
        self.high_surrogate = ""
        self.emit(character, group)

    # ------------------------------------------------------------ text out

    def pend(self, raw: bytes, group: _Group) -> None:
        codepage = self.fonts.get(group.font if group.font >= 0 else self.default_font, 0) or self.ansi
        if self.pending and codepage != self.pending_codepage:
            self.flush(group)
        self.pending_codepage = codepage
        self.pending += raw

    def flush(self, group: _Group) -> None:
        if not self.pending:
            return
        raw, self.pending = bytes(self.pending), bytearray()
        if self.pending_codepage == -1:
            text = "".join(chr(0xF000 + b) if b >= 0x20 else chr(b) for b in raw)
        else:
            codec = codec_for(f"cp{self.pending_codepage}")
            if codec is None:
                raise Unscannable("unsupported", msg(_PROBLEMS["codepage"], codepage=self.pending_codepage))
            text = raw.decode(codec, errors="replace")
        self.emit(text, group)

    def emit(self, text: str, group: _Group) -> None:
        if group.part and not group.fonts and group.collector is None:
            self.parts.setdefault(group.part, []).append(text)

    # ------------------------------------------------------------ results

    def segments(self) -> Iterator[Segment]:
        from scanner.extract.ooxml import STAR_TABLE

        for part, pieces in self.parts.items():
            text = "".join(pieces).translate(STAR_TABLE)
            if part == "body" or part not in _INFO_FIELDS:
                text = checked(text, "RTF").text
            text = text.strip("\n")
            if text.strip():
                self.ctx.charge(len(text), self.prefix + part)
                role = Role.BODY if part == "body" else next(r for name, r in _PARTS.values() if name == part)
                yield Segment(text, self.prefix + part, role)

    def objects(self) -> Iterator[Segment]:
        pictures = 0
        for number, (collector, _) in enumerate(self.embedded, 1):
            content = _unhex(collector) if collector.kind == "objdata" or collector.picture in _RASTER else b""
            if collector.kind == "pict":
                pictures += 1
                if collector.picture in _RASTER:
                    yield from self.ctx.descend(content, f"picture{pictures}{_RASTER[collector.picture]}", self.prefix)
                else:
                    kind = collector.picture or "?"
                    picture = msg(_PROBLEMS["picture"], kind=kind)
                    self.ctx.problem("image", picture, f"{self.prefix}picture{pictures}")
                continue
            part = f"{self.prefix}object{number}"
            _, name, native = ole1_object(content, part)
            if native is None:
                continue  # linked to a file that does not leave with this one; its picture (\result) is read here
            yield from self.ctx.descend(native, name or f"object{number}", self.prefix)


def _unhex(collector: _Collector) -> bytes:
    """A destination's hex digits (white space anywhere) and \\bin data, as bytes."""
    digits = re.sub(rb"[^0-9a-fA-F]", b"", b"".join(collector.hex))
    return binascii.unhexlify(digits[: len(digits) // 2 * 2]) + b"".join(collector.binary)


def read_rtf(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    """The body, then headers, footers, notes, comments, fields and properties, then pictures and embedded objects."""
    document = _Document(data, prefix, ctx)
    document.read()
    yield from document.segments()
    yield from document.objects()
