"""PDF: one segment per page (a mark at the top of any page is at the top of its part), with annotations, metadata,
bookmarks and attachments; pages whose text did not come out are problems of their own.

pypdfium2 reads the pages (on the peer corpus it is 10-30 times faster than pdfminer.six and maps the Chinese
fonts pdfminer.six turns into (cid:N) or Latin-1 mojibake); pdfminer.six reads what PDFium refuses to open.
"""

from __future__ import annotations

import base64
import binascii
import ctypes
import io
import logging
import re
import zlib
from collections.abc import Iterator
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from scanner.extract.base import Context, Unscannable
from scanner.extract.garbled import garbled, repair_mojibake
from scanner.i18n import Message, msg
from scanner.model import Role, Segment

# The libraries log what they repair in a damaged file; whether it could be read is said by problems instead.
for _library in ("pdfminer", "pypdfium2"):
    logging.getLogger(_library).setLevel(logging.ERROR)

_METADATA_ROLES = {"Title": Role.TITLE, "Subject": Role.METADATA, "Keywords": Role.METADATA, "Author": Role.METADATA}
# Annotation values that are text a reader sees or is meant to: the note itself, a form field's value.
_ANNOTATION_KEYS = (b"Contents", b"V")
_WATERMARK_SUBTYPES = frozenset({pdfium_c.FPDF_ANNOT_WATERMARK, pdfium_c.FPDF_ANNOT_STAMP})
# Annotations whose text is drawn by their appearance stream rather than stored as a value.
_DRAWN_SUBTYPES = _WATERMARK_SUBTYPES | {pdfium_c.FPDF_ANNOT_FREETEXT}
_OCR_DPI = 300
_STAMP_MARGIN = 2.0  # points: a line drawn later must be this much above all before it to count as stamped on top
_SCAN_COVERAGE = 0.9  # of the page's area under pictures, for a page with a few words to count as a scan
_STAMPED_TEXT = 20  # characters: fewer than this on a scan are stamped on it, not its content
_BOOKMARK_DEPTH = 8


def clean_page_text(text: str) -> str:
    """PDFium's page text with its line ends as "\\n" and its hyphenation markers removed."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufffe", "").replace("\x02", "")


def read_pdf(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    """Every page, its annotations, the document's metadata, bookmarks and attached files.

    Damage the readers repair silently (a rebuilt cross-reference table, junk before the header, a broken trailer or
    stream) is a "repaired" problem: what was read is all there is to read, but the file is not what it claims."""
    try:
        document = pdfium.PdfDocument(data)  # no password: PDFium tries the empty user password itself
    except pdfium.PdfiumError as exc:
        if getattr(exc, "err_code", None) == pdfium_c.FPDF_ERR_PASSWORD:
            raise Unscannable("encrypted", NEEDS_PASSWORD) from None
        # PDFium gives up on some damaged files that pdfminer.six still reads.
        _report_damage(damage(data), prefix, ctx)
        yield from read_pdf_with_pdfminer(data, prefix, ctx)
        return
    try:
        repairs = damage(data)
        if not pdfium_c.FPDF_DocumentHasValidCrossReferenceTable(document.raw):
            repairs.insert(0, _REBUILT)
        _report_damage(repairs, prefix, ctx)
        yield from _metadata(document.get_metadata_dict(skip_empty=True), prefix)
        pages = _Pages()
        for index in range(len(document)):
            yield from pages.count(_page(document, index, prefix, ctx, pages))
        pages.check(len(document))
        yield from _bookmarks(document, prefix)
        yield from _attachments(document, prefix, ctx)
    finally:
        document.close()


# ---------------------------------------------------------------- damage the readers repair silently

_HEADER_WINDOW = 1024  # readers look this far for %PDF- (the spec's implementation note)
_STREAM = re.compile(rb"(?<![A-Za-z])stream(?:\r\n|\n|\r)")
_LENGTH = re.compile(rb"/Length\s+(\d+)(\s+\d+\s+R)?")
_FILTERS = re.compile(rb"/Filter\s*(\[[^\]]*\]|/\w+)")
_TRAILER = re.compile(rb"(?<![A-Za-z])trailer\s*(?=<<)")
_LENGTH_SLACK = 2  # bytes a stream's /Length may be off by (line ends counted or not) before it is wrong
_CHECKED_BYTES = 64 * 1024 * 1024  # of stream data decoded to check it: beyond that the rest is left unchecked
# ASCII85 decodes in pure Python (50 ms a megabyte): past this much per file, only its alphabet is checked.
_A85_DECODED = 1024 * 1024
_A85_ALPHABET = re.compile(rb"\s*(?:<~)?[!-uz\s]*(?:~>[\s\S]*)?")
_SHOWN = 3  # damaged streams named in the problem
_REBUILT = "the cross-reference table is damaged (rebuilt by scanning the file)"
NEEDS_PASSWORD = msg("The PDF needs a password to open.")
# Damage readers repair without a word, for a person; what exactly is damaged is each problem's cause.
REPAIRED = msg("The PDF is damaged; it was read as PDF readers repair it without a word.")


def damage(data: bytes) -> list[str]:
    """What is wrong with a PDF's bytes that readers repair without a word: junk before the header, a trailer that
    is not a dictionary, streams whose /Length is wrong or whose compressed data is broken."""
    found = []
    header = data.find(b"%PDF-", 0, _HEADER_WINDOW)
    if header < 0:
        found.append("no %PDF- header")
    elif header > 0:
        found.append(f"{header} bytes of junk before the %PDF- header")
    for match in _TRAILER.finditer(data):
        error = _dictionary_error(data, match.end())
        if error:
            found.append(f"the trailer at byte {match.start()} is not a valid dictionary: {error}")
    streams = _damaged_streams(data, encrypted=b"/Encrypt" in data)
    if streams:
        shown = "; ".join(streams[:_SHOWN]) + ("; ..." if len(streams) > _SHOWN else "")
        found.append(f"{len(streams)} damaged stream{'s' if len(streams) > 1 else ''}: {shown}")
    return found


def _report_damage(repairs: list[str], prefix: str, ctx: Context) -> None:
    for repair in repairs:
        ctx.problem("repaired", REPAIRED, prefix.rstrip("!"), repair)


def _damaged_streams(data: bytes, encrypted: bool) -> list[str]:
    """Streams whose /Length does not reach their endstream, that have none, or whose Flate/ASCII85/ASCIIHex data
    does not decode (unless encrypted: then it cannot be checked without decrypting)."""
    out: list[str] = []
    budget, a85_budget = _CHECKED_BYTES, _A85_DECODED
    position = 0
    while (match := _STREAM.search(data, position)) is not None:
        start = match.end()
        end = data.find(b"endstream", start)
        if end < 0:
            out.append(f"the stream at byte {match.start()} has no endstream (truncated)")
            break
        position = end + len(b"endstream")
        head = data[max(0, match.start() - 2048) : match.start()]
        head = head[head.rfind(b"obj") + 1 :]  # the stream's own dictionary, after its "N G obj"
        length = _LENGTH.search(head)
        if length and not length.group(2):
            stated = int(length.group(1))
            gap = end - start - stated  # only line ends may lie between the stated end and endstream
            if gap < -_LENGTH_SLACK or data[start + max(stated, 0) : end].strip(b"\r\n \t\x00"):
                out.append(f"the stream at byte {match.start()} says /Length {stated} but holds {end - start}")
                continue
        filters = _FILTERS.search(head)
        if encrypted or filters is None or budget <= 0:
            continue
        names = re.findall(rb"/(\w+)", filters.group(1))
        budget -= end - start
        error = _decode_error(names, data[start:end], decode_a85=a85_budget >= end - start)
        if b"ASCII85Decode" in names or b"A85" in names:
            a85_budget -= end - start
        if error:
            out.append(f"the stream at byte {match.start()} does not decode ({error})")
    return out


def _decode_error(filters: list[bytes], body: bytes, decode_a85: bool = True) -> str | None:
    """Why a stream's data does not decode through its filters, or None. ASCII85 and ASCIIHex are decoded, Flate
    is inflated to its end (the output dropped); the check stops there or at any other filter (or at ASCII85 when
    it is not to be decoded, once its alphabet is checked)."""
    for name in filters:
        try:
            if name in (b"FlateDecode", b"Fl"):
                inflater = zlib.decompressobj()
                while body and not inflater.eof:
                    inflater.decompress(body, 1 << 20)
                    body = inflater.unconsumed_tail
                return None if inflater.eof else "FlateDecode: the compressed data ends early"
            if name in (b"ASCII85Decode", b"A85") and not decode_a85:
                return None if _A85_ALPHABET.fullmatch(body) else f"{name.decode()}: a byte outside its alphabet"
            if name in (b"ASCII85Decode", b"A85"):
                text = re.sub(rb"\s", b"", body).removeprefix(b"<~")
                body = base64.a85decode(text.split(b"~>")[0])
            elif name in (b"ASCIIHexDecode", b"AHx"):
                text = re.sub(rb"\s", b"", body.split(b">")[0])
                body = binascii.unhexlify(text + b"0" * (len(text) % 2))
            else:
                return None
        except (zlib.error, ValueError, binascii.Error) as exc:
            return f"{name.decode()}: {exc}"
    return None


_DICT_TOKEN = re.compile(
    rb"\s+|%[^\r\n]*|(<<|>>|\[|\]|/[^\s/\[\]<>(){}%]*|<[0-9A-Fa-f\s]*>|\d+\s+\d+\s+R(?![A-Za-z])"
    rb"|[+-]?(?:\d+\.?\d*|\.\d+)|true|false|null)"
)


def _dictionary_error(data: bytes, at: int) -> str | None:
    """Why the PDF object at `at` is not a well-formed dictionary (an unbalanced bracket, a key without a value, a
    key twice, a token that is not PDF), or None."""
    tokens = _tokens(data, at)
    try:
        if next(tokens) != b"<<":
            return "it does not open with <<"
        _dictionary(tokens)
    except (StopIteration, ValueError) as exc:
        return str(exc) or "it ends before it is closed"
    return None


def _tokens(data: bytes, at: int) -> Iterator[bytes]:
    while at < len(data):
        if data[at : at + 1] == b"(":
            at = _string_end(data, at)
            yield b"()"
            continue
        match = _DICT_TOKEN.match(data, at)
        if match is None:
            raise ValueError(f"{data[at : at + 8]!r} is not a PDF token")
        at = match.end()
        if match.group(1) is not None:
            yield match.group(1)


def _string_end(data: bytes, at: int) -> int:
    """The offset after the literal string opening at `at` (nested parentheses, backslash escapes)."""
    depth, at = 0, at
    while at < len(data):
        char = data[at : at + 1]
        if char == b"\\":
            at += 2
            continue
        depth += {b"(": 1, b")": -1}.get(char, 0)
        at += 1
        if depth == 0:
            return at
    raise ValueError("a string is not closed")


def _dictionary(tokens: Iterator[bytes]) -> None:
    keys: set[bytes] = set()
    while (token := next(tokens)) != b">>":
        if not token.startswith(b"/"):
            raise ValueError(f"{token[:12]!r} where a key should be")
        if token in keys:
            raise ValueError(f"the key {token.decode('latin-1')} appears twice")
        keys.add(token)
        _value(next(tokens), tokens)


def _value(token: bytes, tokens: Iterator[bytes]) -> None:
    if token == b"<<":
        _dictionary(tokens)
    elif token == b"[":
        while (item := next(tokens)) != b"]":
            _value(item, tokens)
    elif token in (b">>", b"]"):
        raise ValueError(f"{token.decode()} where a value should be")


class _Pages:
    """What came out of the pages: a PDF none of whose pages gave any text is not a blank document to pass."""

    def __init__(self) -> None:
        self.text = False
        self.images = False  # pages of images only, each already a problem of its own

    def count(self, segments: Iterator[Segment]) -> Iterator[Segment]:
        for segment in segments:
            self.text = self.text or bool(segment.text.strip())
            yield segment

    def check(self, pages: int) -> None:
        if pages == 0:
            raise Unscannable("corrupt", msg("The PDF has no pages."))
        if not self.text and not self.images:
            raise Unscannable("no-text", msg("None of its {count} pages has text that came out.", count=pages))


def _metadata(info: dict[str, Any], prefix: str) -> Iterator[Segment]:
    for key, role in _METADATA_ROLES.items():
        value = info.get(key)
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if isinstance(value, str) and value.strip():
            yield Segment(value.strip(), prefix + key.lower(), role)


def _page(document: pdfium.PdfDocument, index: int, prefix: str, ctx: Context, pages: _Pages) -> Iterator[Segment]:
    number, part = index + 1, f"{prefix}page{index + 1}"
    try:
        page = document[index]
    except pdfium.PdfiumError as exc:
        ctx.problem("corrupt", msg("Page {page} cannot be loaded.", page=number), part, str(exc))
        return
    try:
        try:
            text = _page_text(page)
        except pdfium.PdfiumError as exc:
            ctx.problem("corrupt", unreadable_page(number), part, str(exc))
            return
        ctx.charge(len(text), part)
        notes, drawn = _annotations(page)
        if text.strip():
            yield _checked(Segment(text, part, Role.BODY, number), ctx)
        if _scanned(page, text):
            pages.images = True
            yield from _image_page(page, number, part, ctx)
        for role, lines in notes.items():
            if lines:
                suffix = ".watermark" if role is Role.WATERMARK else ".annotations"
                yield Segment("\n".join(lines), part + suffix, role, number)
    finally:
        page.close()
    if drawn:
        yield from _drawn_annotations(document, index, text, part)


def _page_text(page: pdfium.PdfPage) -> str:
    """The page's text in drawing order, with any lines stamped above it afterwards moved to the top."""
    textpage = page.get_textpage()
    try:
        text = clean_page_text(textpage.get_text_range())
        stamped = _stamped_on_top(page, textpage)
    finally:
        textpage.close()
    lines = text.split("\n")
    for line in stamped:
        # Moved where it is a line of its own; a piece of a line stays where it is and is only repeated on top.
        at = next((i for i in range(len(lines) - 1, -1, -1) if lines[i].strip() == line), None)
        if at is not None:
            del lines[at]
    return "\n".join([*stamped, *lines])


def _stamped_on_top(page: pdfium.PdfPage, textpage: pdfium.PdfTextPage) -> list[str]:
    """Lines drawn after others but above all of them: a mark stamped onto a finished PDF (机密★5年 at the top of
    the page, drawn last). In drawing order it would be the page's last line although it is the first one seen."""
    lines: list[tuple[float, str]] = []
    highest = None
    for item in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_TEXT, pdfium_c.FPDF_PAGEOBJ_FORM], max_depth=1):
        top = item.get_bounds()[3]
        if highest is not None and top > highest + _STAMP_MARGIN:
            text = _object_text(item.raw, textpage).strip()
            if text:
                if lines and abs(lines[-1][0] - top) < _STAMP_MARGIN:
                    lines[-1] = (top, lines[-1][1] + text)  # one line drawn in pieces
                else:
                    lines.append((top, text))
        highest = top if highest is None else max(highest, top)
    return [text for _, text in sorted(lines, key=lambda line: -line[0])]


def _object_text(item: Any, textpage: pdfium.PdfTextPage) -> str:
    """The text of a text object, or of the text objects of a form (a stamp is often a form XObject)."""
    if pdfium_c.FPDFPageObj_GetType(item) == pdfium_c.FPDF_PAGEOBJ_FORM:
        count = pdfium_c.FPDFFormObj_CountObjects(item)
        return "".join(_object_text(pdfium_c.FPDFFormObj_GetObject(item, i), textpage) for i in range(count))
    if pdfium_c.FPDFPageObj_GetType(item) != pdfium_c.FPDF_PAGEOBJ_TEXT:
        return ""
    size = pdfium_c.FPDFTextObj_GetText(item, textpage.raw, None, 0)
    if size <= 2:
        return ""
    buffer = ctypes.create_string_buffer(size)
    pdfium_c.FPDFTextObj_GetText(item, textpage.raw, ctypes.cast(buffer, ctypes.POINTER(pdfium_c.FPDF_WCHAR)), size)
    return buffer.raw[: size - 2].decode("utf-16-le", errors="replace")


def _checked(segment: Segment, ctx: Context) -> Segment:
    """A page whose text is placeholders or mojibake is a problem; what can be recovered is still read."""
    reason = garbled(segment.text)
    if reason is None:
        return segment
    ctx.problem("garbled", reason, segment.part)
    return Segment(repair_mojibake(segment.text), segment.part, segment.role, segment.page)


def _scanned(page: pdfium.PdfPage, text: str) -> bool:
    """A page that is a picture: images and no text, or a scan covering the page with a few words stamped on it
    (a page number, a file reference) while what it shows is in the picture."""
    if len(text) - text.count(" ") - text.count("\n") >= _STAMPED_TEXT:
        return False
    width, height = page.get_size()
    covered = 0.0
    for image in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=3):
        left, bottom, right, top = image.get_bounds()
        covered += max(0.0, min(right, width) - max(left, 0.0)) * max(0.0, min(top, height) - max(bottom, 0.0))
        if not text.strip() or covered >= _SCAN_COVERAGE * width * height:
            return True
    return False


def unreadable_page(number: int) -> Message:
    return msg("The text of page {page} cannot be read.", page=number)


def _image_page(page: pdfium.PdfPage, number: int, part: str, ctx: Context) -> Iterator[Segment]:
    """A scanned page: OCR when asked for, otherwise a problem (its text is not examined)."""
    if not ctx.ocr:
        scan = msg("Page {page} is an image without a text layer: its text was not examined.", page=number)
        ctx.problem("image", scan, part)
        return
    from scanner.extract.image import ocr_text

    text = ocr_text(_grey_pgm(page), part, ctx)
    if text.strip():
        yield Segment(text, part + ".ocr", Role.BODY, number)


def _grey_pgm(page: pdfium.PdfPage) -> bytes:
    """The page rendered as a greyscale PGM image, a format Tesseract reads without any imaging library."""
    bitmap = page.render(scale=_OCR_DPI / 72, grayscale=True)
    try:
        width, height, stride = bitmap.width, bitmap.height, bitmap.stride
        pixels = bytes(bitmap.buffer)
        if stride != width:
            pixels = b"".join(pixels[row * stride : row * stride + width] for row in range(height))
        return b"P5\n%d %d\n255\n" % (width, height) + pixels
    finally:
        bitmap.close()


def _annotation_string(annot: Any, key: bytes) -> str:
    size = pdfium_c.FPDFAnnot_GetStringValue(annot, key, None, 0)
    if size <= 2:
        return ""
    buffer = ctypes.create_string_buffer(size)
    pdfium_c.FPDFAnnot_GetStringValue(annot, key, ctypes.cast(buffer, ctypes.POINTER(pdfium_c.FPDF_WCHAR)), size)
    return buffer.raw[: size - 2].decode("utf-16-le", errors="replace")


def _annotations(page: pdfium.PdfPage) -> tuple[dict[Role, list[str]], bool]:
    """The text values of a page's annotations by role, and whether some draw text only in their appearance."""
    notes: dict[Role, list[str]] = {Role.WATERMARK: [], Role.NOTE: []}
    drawn = False
    for index in range(pdfium_c.FPDFPage_GetAnnotCount(page.raw)):
        annot = pdfium_c.FPDFPage_GetAnnot(page.raw, index)
        if not annot:
            continue
        try:
            subtype = pdfium_c.FPDFAnnot_GetSubtype(annot)
            drawn = drawn or subtype in _DRAWN_SUBTYPES
            lines = notes[Role.WATERMARK if subtype in _WATERMARK_SUBTYPES else Role.NOTE]
            for key in _ANNOTATION_KEYS:
                value = _annotation_string(annot, key).strip()
                if value and value not in lines:
                    lines.append(value)
        finally:
            pdfium_c.FPDFPage_CloseAnnot(annot)
    return notes, drawn


def _drawn_annotations(document: pdfium.PdfDocument, index: int, text: str, part: str) -> Iterator[Segment]:
    """Text that stamps, watermarks and free-text annotations draw: flatten them into the page and keep the lines
    the page did not have before (the document is only changed in memory)."""
    page = document[index]
    try:
        # The raw call: pypdfium2's wrapper insists on a form environment, which only documents with forms have.
        if pdfium_c.FPDFPage_Flatten(page.raw, pdfium_c.FLAT_NORMALDISPLAY) != pdfium_c.FLATTEN_SUCCESS:
            return
    finally:
        page.close()
    page = document[index]
    try:
        flattened = _page_text(page)
    finally:
        page.close()
    before = set(text.split("\n"))
    added = [line for line in flattened.split("\n") if line.strip() and line not in before]
    if added:
        yield Segment("\n".join(dict.fromkeys(added)), part + ".drawn", Role.WATERMARK, index + 1)


def _bookmarks(document: pdfium.PdfDocument, prefix: str) -> Iterator[Segment]:
    titles = [bookmark.get_title() for bookmark in document.get_toc(max_depth=_BOOKMARK_DEPTH)]
    titles = [title.strip() for title in titles if title and title.strip()]
    if titles:
        yield Segment("\n".join(titles), prefix + "bookmarks", Role.METADATA)


def _attachments(document: pdfium.PdfDocument, prefix: str, ctx: Context) -> Iterator[Segment]:
    for index in range(document.count_attachments()):
        attachment = document.get_attachment(index)
        name = attachment.get_name() or f"attachment{index + 1}"
        try:
            data = bytes(attachment.get_data())
        except pdfium.PdfiumError as exc:
            ctx.problem("corrupt", msg("The attached file {name} cannot be read.", name=name), prefix + name, str(exc))
            continue
        ctx.charge(len(data), prefix + name)
        yield from ctx.descend(data, name, prefix)


# ---------------------------------------------------------------- pdfminer.six


def read_pdf_with_pdfminer(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    """The pages and title through pdfminer.six: for what PDFium cannot open, and to compare the two."""
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect, PDFXRefFallback

    try:
        document, pages = _pdfminer_open(data)
    except (PDFPasswordIncorrect, PDFEncryptionError) as exc:
        raise Unscannable("encrypted", NEEDS_PASSWORD, cause=type(exc).__name__) from None
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:  # pdfminer.six raises any Python error on a broken file (RecursionError, IndexError)
        cause = f"{type(exc).__name__}: {exc}"[:300]
        raise Unscannable("corrupt", msg("This is not a readable PDF."), cause=cause) from None
    if any(isinstance(xref, PDFXRefFallback) for xref in document.xrefs):
        _report_damage([_REBUILT], prefix, ctx)
    for info in document.info:
        yield from _metadata({key: _pdf_string(value) for key, value in info.items()}, prefix)
    counted = _Pages()
    yield from counted.count(_pdfminer_pages(pages, prefix, ctx))
    counted.check(len(pages))


def _pdfminer_open(data: bytes) -> tuple[Any, list[Any]]:
    from pdfminer.pdfdocument import PDFDocument
    from pdfminer.pdfpage import PDFPage
    from pdfminer.pdfparser import PDFParser

    document = PDFDocument(PDFParser(io.BytesIO(data)), password="")
    return document, list(PDFPage.create_pages(document))


def _pdfminer_pages(pages: list[Any], prefix: str, ctx: Context) -> Iterator[Segment]:
    from pdfminer.converter import TextConverter
    from pdfminer.layout import LAParams
    from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager

    resources = PDFResourceManager(caching=True)
    for number, page in enumerate(pages, 1):
        part = f"{prefix}page{number}"
        out = io.StringIO()
        device = TextConverter(resources, out, laparams=LAParams())
        try:
            PDFPageInterpreter(resources, device).process_page(page)
        except (MemoryError, KeyboardInterrupt):
            raise
        except Exception as exc:
            ctx.problem("corrupt", unreadable_page(number), part, f"{type(exc).__name__}: {exc}"[:300])
            continue
        finally:
            device.close()
        text = out.getvalue().replace("\r\n", "\n")
        ctx.charge(len(text), part)
        if text.strip():
            yield _checked(Segment(text, part, Role.BODY, number), ctx)


def _pdf_string(value: Any) -> Any:
    from pdfminer.pdftypes import resolve1
    from pdfminer.utils import decode_text

    value = resolve1(value)
    return decode_text(value) if isinstance(value, bytes) else value
