"""The structures that locate the text of a Word, Excel or PowerPoint 97-2003 file, checked before it is read: the
Word FIB and piece table, the BIFF record stream, the PowerPoint record tree and its persist directory.

A fuzzed or truncated file often still yields some text; these checks say when that text cannot be all there is.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from scanner.extract.base import Unscannable
from scanner.extract.text import checked
from scanner.i18n import N_, msg
from scanner.model import Role, Segment

# Sizes of FibRgFcLcb (in 8-byte pairs) for each Word version, by the nFib that announces it (MS-DOC 2.5.1).
_FC_LCB_PAIRS = {0x00C1: 0x5D, 0x00D9: 0x6C, 0x0101: 0x88, 0x010C: 0xA4, 0x0112: 0xB7}
_WORD97 = 0x00C1  # the nFib of Word 97; Word 6 and 95 wrote 101 to 105
_CLX_PAIR = 33  # fcClx/lcbClx is the 34th pair of FibRgFcLcb97
_BIFF_MAX_RECORD = 8224
_BIFF_BOF, _BIFF_EOF, _BIFF_BOUNDSHEET, _BIFF_FILEPASS = 0x0809, 0x000A, 0x0085, 0x002F
_BIFF_SST, _BIFF_LABELSST = 0x00FC, 0x00FD
_PPT_USER_EDIT, _PPT_PERSIST_DIRECTORY = 0x0FF5, 0x1772
# What is damaged, for a person; what exactly is wrong with it is the problem's cause (for the administrator).
_PROBLEMS = {
    "fib": N_("The Word header (FIB) is damaged."),
    "pieces": N_("The piece table that locates the text is damaged."),
    "biff": N_("The workbook's record stream is damaged."),
    "records": N_("The presentation's record stream is damaged."),
    "persist": N_("The presentation's edit history (persist directory) is damaged."),
}
PERSIST_DAMAGED = msg(_PROBLEMS["persist"])


class _Damaged(Exception):
    pass


@dataclass(frozen=True)
class WordLayout:
    """What the FIB says of a Word document: its text's length per story, and whether it is encrypted."""

    stories: tuple[int, ...]  # characters of each story (ccpText, ccpFtn, ccpHdd, ...), in WORD_STORIES' order
    total: int  # characters of all stories, as the piece table must cover them
    encrypted: bool
    table: str  # the table stream holding the piece table: 0Table or 1Table
    word97: bool = True  # False for Word 6 and 95, whose FIB is laid out otherwise (read by catdoc)


def word_layout(fib: bytes, where: str) -> WordLayout:
    """The FIB of a Word 97-2003 WordDocument stream, checked (MS-DOC 2.5.1); Unscannable("corrupt") if damaged."""
    if len(fib) < 0x50 or fib[:2] not in (b"\xec\xa5", b"\xdc\xa5"):
        raise Unscannable("corrupt", msg("A WordDocument stream without a Word header."), where)
    n_fib, flags = struct.unpack_from("<H", fib, 2)[0], struct.unpack_from("<H", fib, 0x0A)[0]
    table = "1Table" if flags & 0x0200 else "0Table"
    if n_fib < _WORD97 or flags & 0x0100:  # an encrypted document's FIB past its first 68 bytes is not to be read
        (length,) = struct.unpack_from("<i", fib, 0x4C)
        return WordLayout((length, 0, 0, 0, 0, 0, 0, 0), length, bool(flags & 0x0100), table, word97=False)
    try:
        return _word_layout(fib, flags, table)
    except (_Damaged, struct.error) as exc:
        raise Unscannable("corrupt", msg(_PROBLEMS["fib"]), where, str(exc) or "it is cut short") from None


def _word_layout(fib: bytes, flags: int, table: str) -> WordLayout:
    (csw,) = struct.unpack_from("<H", fib, 32)
    longs_at = 34 + 2 * csw
    (cslw,) = struct.unpack_from("<H", fib, longs_at)
    if csw != 14 or cslw != 22:
        raise _Damaged(f"{csw} shorts and {cslw} longs where Word writes 14 and 22")
    ccp = struct.unpack_from("<8i", fib, longs_at + 2 + 12)  # ccpText, Ftn, Hdd, Mcr, Atn, Edn, Txbx, HdrTxbx
    pairs_at = longs_at + 2 + 4 * cslw
    (pairs,) = struct.unpack_from("<H", fib, pairs_at)
    if pairs not in _FC_LCB_PAIRS.values():
        raise _Damaged(f"{pairs} offset/length pairs, which no Word version writes")
    if any(count < 0 for count in ccp):
        raise _Damaged("a story of negative length")
    stories = ccp[0] + sum(ccp[1:])
    total = stories + (1 if any(ccp[1:]) else 0)  # the other stories end with one more paragraph mark
    return WordLayout(tuple(ccp), total, bool(flags & 0x0100), table)


def word_text(fib: bytes, table: bytes, layout: WordLayout, where: str) -> str:
    """The characters of every story, in order, as the piece table (Clx in the table stream, MS-DOC 2.9.38) locates
    them in the WordDocument stream (`fib`, the whole stream). Where it cannot place every character of every story
    inside the stream, the text cannot be located completely: Unscannable("corrupt")."""
    try:
        return _word_text(fib, table, layout)
    except (_Damaged, struct.error) as exc:
        raise Unscannable("corrupt", msg(_PROBLEMS["pieces"]), where, str(exc) or "it is cut short") from None


def _word_text(fib: bytes, table: bytes, layout: WordLayout) -> str:
    (csw,) = struct.unpack_from("<H", fib, 32)
    pairs_at = 34 + 2 * csw + 2 + 4 * 22 + 2
    fc_clx, lcb_clx = struct.unpack_from("<II", fib, pairs_at + 8 * _CLX_PAIR)
    if not lcb_clx or fc_clx + lcb_clx > len(table):
        raise _Damaged(f"the table at {fc_clx} ({lcb_clx} bytes) is not inside the table stream of {len(table)}")
    clx = table[fc_clx : fc_clx + lcb_clx]
    at = 0
    while at < len(clx) and clx[at] == 0x01:  # Prc: formatting that pieces refer to
        (size,) = struct.unpack_from("<h", clx, at + 1)
        at += 3 + max(size, 0)
    if at >= len(clx) or clx[at] != 0x02:
        raise _Damaged("no piece descriptors where they should begin")
    (size,) = struct.unpack_from("<I", clx, at + 1)
    plc = clx[at + 5 : at + 5 + size]
    if len(plc) < size or size < 16 or (size - 4) % 12:
        raise _Damaged(f"{size} bytes of piece descriptors, which is no whole number of pieces")
    count = (size - 4) // 12
    cps = struct.unpack_from(f"<{count + 1}i", plc, 0)
    if cps[0] != 0 or any(b <= a for a, b in itertools.pairwise(cps)):
        raise _Damaged("character positions that do not increase from 0")
    if cps[-1] < layout.total:
        raise _Damaged(f"pieces for {cps[-1]} characters where the header promises {layout.total}")
    pieces = []
    for index in range(count):
        _, fc, _ = struct.unpack_from("<HIH", plc, 4 * (count + 1) + 8 * index)
        length = cps[index + 1] - cps[index]
        compressed = bool(fc & 0x40000000)
        start, width = ((fc & 0x3FFFFFFF) // 2, 1) if compressed else (fc, 2)
        if start + length * width > len(fib):
            raise _Damaged(f"piece {index + 1} lies past the end of the document stream")
        raw = fib[start : start + length * width]
        # A compressed piece is 8-bit text in code page 1252 (MS-DOC 2.4.1); the others are UTF-16.
        pieces.append(raw.decode("cp1252", "replace") if compressed else raw.decode("utf-16-le", "replace"))
    return "".join(pieces)


# Word's stories in the order of their character counts in the FIB (MS-DOC 2.5.7), with the part and role of each.
WORD_STORIES = (
    ("body", Role.BODY),
    ("footnotes", Role.NOTE),
    ("headers", Role.HEADER),
    ("macros", Role.METADATA),
    ("comments", Role.NOTE),
    ("endnotes", Role.NOTE),
    ("textboxes", Role.TEXTBOX),
    ("header-textboxes", Role.TEXTBOX),
)
# Word's marks in the text stream: paragraph and cell ends, line, page and column breaks, hyphens, and the
# placeholders of pictures, objects, note and comment references, which show no text of their own.
_WORD_MARKS = str.maketrans(
    {"\r": "\n", "\x07": "\n", "\x0b": "\n", "\x0c": "\f", "\x0e": "\n", "\x1e": "-", "\x1f": None}
    | dict.fromkeys(("\x00", "\x01", "\x02", "\x03", "\x04", "\x05", "\x08"))
)
_FIELD_BEGIN, _FIELD_SEPARATOR, _FIELD_END = "\x13", "\x14", "\x15"


def word_segments(text: str, layout: WordLayout, prefix: str) -> Iterator[Segment]:
    """The stories of a Word document as segments, each field's code (between its begin and separator marks) as a
    part of its own and its result in place."""
    start = 0
    for (part, role), length in zip(WORD_STORIES, layout.stories, strict=True):
        story = text[start : start + length]
        start += length
        shown, codes = _fields(story)
        shown = checked(shown.translate(_WORD_MARKS), "Word").text.strip("\n")
        if shown.strip():
            yield Segment(shown, prefix + part, role)
        if codes:
            yield Segment("\n".join(codes), f"{prefix}{part}.fields", Role.METADATA)


def _fields(story: str) -> tuple[str, list[str]]:
    if _FIELD_BEGIN not in story:
        return story, []
    shown: list[str] = []
    codes: list[str] = []
    depth_in_code: list[bool] = []  # for each open field, whether its code is still being read
    code: list[str] = []
    for character in story:
        if character == _FIELD_BEGIN:
            depth_in_code.append(True)
        elif character == _FIELD_SEPARATOR and depth_in_code:
            depth_in_code[-1] = False
        elif character == _FIELD_END and depth_in_code:
            depth_in_code.pop()
        elif depth_in_code and depth_in_code[-1]:
            code.append(character)
            continue
        else:
            shown.append(character)
            continue
        if code and (not depth_in_code or not depth_in_code[-1]):
            codes.append("".join(code).translate(_WORD_MARKS).strip())
            code = []
    return "".join(shown), [c for c in codes if c]


def biff_records(workbook: bytes) -> Iterator[tuple[int, bytes]]:
    """The records of a BIFF8 workbook stream (type, body), through its end."""
    at = 0
    while at + 4 <= len(workbook):
        kind, size = struct.unpack_from("<HH", workbook, at)
        yield kind, workbook[at + 4 : at + 4 + size]
        at += 4 + size


def sheet_names(workbook: bytes, where: str) -> list[str]:
    """BoundSheet8 names from a checked workbook stream (MS-XLS 2.1.4): it opens with a BOF, records are whole and
    of the sizes BIFF8 allows, every sheet a BoundSheet8 names starts with a BOF, and each substream has its EOF.
    A FilePass record means encryption."""
    try:
        return _sheet_names(workbook)
    except _Damaged as exc:
        raise Unscannable("corrupt", msg(_PROBLEMS["biff"]), where, str(exc)) from None
    except _Encrypted:
        raise Unscannable("encrypted", msg("A password-protected Excel workbook."), where) from None


class _Encrypted(Exception):
    pass


def _sheet_names(workbook: bytes) -> list[str]:
    if workbook[:2] != struct.pack("<H", _BIFF_BOF):
        raise _Damaged("it does not open with a BOF record")
    names: list[str] = []
    starts: list[int] = []
    offsets: set[int] = set()
    depth = 0
    strings, cited = 0, -1  # unique strings in the shared string table; the highest index a cell cites
    at = 0
    while at + 4 <= len(workbook):
        kind, size = struct.unpack_from("<HH", workbook, at)
        if size > _BIFF_MAX_RECORD:
            raise _Damaged(f"a record of {size} bytes at {at}, over BIFF8's {_BIFF_MAX_RECORD}")
        if at + 4 + size > len(workbook):
            raise _Damaged(f"the record at {at} runs past the end of the stream")
        body = workbook[at + 4 : at + 4 + size]
        if kind == _BIFF_BOF:
            offsets.add(at)
            depth += 1
        elif kind == _BIFF_EOF:
            depth -= 1
        elif kind == _BIFF_FILEPASS and depth == 1 and not names:
            raise _Encrypted
        elif kind == _BIFF_BOUNDSHEET and len(body) >= 8:
            (start,) = struct.unpack_from("<I", body, 0)
            starts.append(start)
            length, high = body[6], body[7] & 0x01
            raw = body[8 : 8 + length * (2 if high else 1)]
            names.append(raw.decode("utf-16-le" if high else "latin-1", "replace"))
        elif kind == _BIFF_SST and size >= 8:
            (strings,) = struct.unpack_from("<I", body, 4)
        elif kind == _BIFF_LABELSST and size >= 10:
            cited = max(cited, struct.unpack_from("<I", body, 6)[0])
        at += 4 + size
    if depth > 0:
        raise _Damaged("a substream has no EOF record: the stream is cut short")
    if cited >= strings and cited >= 0:
        raise _Damaged(f"a cell shows shared string {cited}, but the table holds {strings}")
    missing = [start for start in starts if start not in offsets]
    if missing:
        raise _Damaged(f"{len(missing)} sheets start where there is no BOF record")
    return names


def check_persist_directory(document: bytes, current_user: bytes, where: str) -> str | None:
    """Why the PowerPoint edit history (Current User → UserEditAtom → PersistDirectoryAtom, MS-PPT 2.3) does not hold
    together (for the administrator: PERSIST_DAMAGED says it to a person), or None. PowerPoint finds slides through
    it; the text atoms are read by walking every record instead, so a broken history means the file was read after a
    repair."""
    try:
        (offset,) = struct.unpack_from("<I", current_user, 16)
        seen: set[int] = set()
        while True:
            if offset in seen:
                return "the edits refer to each other in a loop"
            seen.add(offset)
            _, kind, size = struct.unpack_from("<HHI", document, offset)
            if kind != _PPT_USER_EDIT or size < 28:
                return f"no UserEditAtom at offset {offset}"
            last_edit, directory = struct.unpack_from("<II", document, offset + 8 + 8)
            _, kind, _ = struct.unpack_from("<HHI", document, directory)
            if kind != _PPT_PERSIST_DIRECTORY:
                return f"no PersistDirectoryAtom at offset {directory}"
            if not last_edit:
                return None
            offset = last_edit
    except struct.error:
        return "an offset points past the end of the stream"


def check_record_tree(document: bytes, where: str) -> None:
    """Every record of the PowerPoint Document stream must lie inside its container and the stream: a record whose
    length runs past them hides whatever follows from a walk of the records."""
    ends = [len(document)]
    at = 0
    while at + 8 <= ends[-1]:
        ver_instance, _, size = struct.unpack_from("<HHI", document, at)
        end = at + 8 + size
        if end > ends[-1]:
            why = f"the record at {at} ends at {end}, past its container's end at {ends[-1]}"
            raise Unscannable("corrupt", msg(_PROBLEMS["records"]), where, why)
        if ver_instance & 0x000F == 0x000F:
            ends.append(end)
            at += 8
        else:
            at = end
        while len(ends) > 1 and at >= ends[-1]:
            ends.pop()
