"""The PDF reader gives each page its own segment (a mark at the top of page 2 is at the top of part page2), reads
annotations, metadata, bookmarks and attachments, and says when a page's text did not come out."""

from __future__ import annotations

import base64
import ctypes
import io
import shutil
import zlib
from collections.abc import Callable

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

from scanner.extract import extract
from scanner.extract.base import Unscannable
from scanner.extract.garbled import garbled, repair_mojibake
from scanner.extract.pdf import read_pdf, read_pdf_with_pdfminer
from scanner.model import Role
from tests.conftest import SHARED, require
from tests.extract_fixtures import MARK
from tests.reader_context import context, find, segments_of

PEER = SHARED / "corpora" / "peer"
for _font in ("STSong-Light", "MSung-Light"):  # Adobe's CID fonts: Simplified and Traditional Chinese
    pdfmetrics.registerFont(UnicodeCIDFont(_font))


def pdf(*pages: list[str], draw: Callable[[Canvas], None] | None = None, font: str = "STSong-Light", **kw) -> bytes:  # type: ignore[no-untyped-def]
    """A PDF with one page per list of lines, written top down; `draw` adds to the first page."""
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4, **kw)
    for number, lines in enumerate(pages):
        if number == 0 and draw is not None:
            draw(canvas)
        canvas.setFont(font, 14)
        for row, line in enumerate(lines):
            canvas.drawString(72, 770 - 24 * row, line)
        canvas.showPage()
    canvas.save()
    return out.getvalue()


def grey_png(width: int = 64, height: int = 64) -> bytes:
    """A plain grey PNG, written by hand: a scanned page without any text on it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x08\x00\x00\x00\x00"
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def test_mark_at_the_top_of_page_two_is_the_first_line_of_part_page2() -> None:
    segments = segments_of(read_pdf, pdf(["第一页正文"], [MARK, "关于开展检查的通知"], ["第三页"]))
    pages = [(s.part, s.page) for s in segments if s.role is Role.BODY]
    assert pages == [("page1", 1), ("page2", 2), ("page3", 3)]
    [page2] = find(segments, MARK)
    assert (page2.role, page2.text.split("\n")[0]) == (Role.BODY, MARK)


def test_mark_stamped_on_top_after_the_page_was_drawn_is_its_first_line() -> None:
    def stamp_last(canvas: Canvas) -> None:
        canvas.setFont("STSong-Light", 14)
        for row in range(3):
            canvas.drawString(72, 700 - 24 * row, f"正文第{row + 1}行")
        canvas.drawString(72, 800, MARK)  # drawn last, seen first

    [page] = [s for s in segments_of(read_pdf, pdf([], draw=stamp_last)) if s.role is Role.BODY]
    assert page.text.split("\n") == [MARK, "正文第1行", "正文第2行", "正文第3行"]


def test_traditional_chinese_font_is_read() -> None:
    [page] = find(segments_of(read_pdf, pdf(["機密★5年"], font="MSung-Light")), "機密")
    assert (page.part, page.text.strip()) == ("page1", "機密★5年")


def test_title_is_a_title_and_subject_and_keywords_are_metadata() -> None:
    def properties(canvas: Canvas) -> None:
        canvas.setTitle(MARK)
        canvas.setSubject("绝密★长期")
        canvas.setKeywords("秘密★1年")

    segments = segments_of(read_pdf, pdf(["正文"], draw=properties))
    assert [(s.role, s.part) for s in find(segments, MARK)] == [(Role.TITLE, "title")]
    assert [(s.role, s.part) for s in find(segments, "绝密")] == [(Role.METADATA, "subject")]
    assert [(s.role, s.part) for s in find(segments, "秘密")] == [(Role.METADATA, "keywords")]


def test_text_annotation_is_a_note_of_its_page() -> None:
    def note(canvas: Canvas) -> None:
        canvas.textAnnotation(MARK, Rect=(72, 600, 200, 650))

    [annotation] = find(segments_of(read_pdf, pdf(["正文"], draw=note)), MARK)
    assert (annotation.role, annotation.part, annotation.page) == (Role.NOTE, "page1.annotations", 1)


def test_text_a_stamp_annotation_draws_is_a_watermark() -> None:
    # The stamp has no Contents: its text exists only as drawing in its appearance stream (PDFium writes it here;
    # a standard font, so the words are Latin).
    document = pdfium.PdfDocument(pdf(["正文"]))
    page = document[0]
    annot = pdfium_c.FPDFPage_CreateAnnot(page.raw, pdfium_c.FPDF_ANNOT_STAMP)
    pdfium_c.FPDFAnnot_SetRect(annot, pdfium_c.FS_RECTF(100, 300, 400, 500))
    font = pdfium_c.FPDFText_LoadStandardFont(document.raw, b"Helvetica")
    drawn = pdfium_c.FPDFPageObj_CreateTextObj(document.raw, font, 24.0)
    words = ctypes.create_string_buffer("CONFIDENTIAL\0".encode("utf-16-le"))
    pdfium_c.FPDFText_SetText(drawn, ctypes.cast(words, ctypes.POINTER(pdfium_c.FPDF_WCHAR)))
    pdfium_c.FPDFPageObj_Transform(drawn, 1, 0, 0, 1, 120, 400)
    assert pdfium_c.FPDFAnnot_AppendObject(annot, drawn)
    pdfium_c.FPDFPage_CloseAnnot(annot)
    page.close()
    out = io.BytesIO()
    document.save(out)
    [stamp] = find(segments_of(read_pdf, out.getvalue()), "CONFIDENTIAL")
    assert (stamp.role, stamp.part, stamp.page) == (Role.WATERMARK, "page1.drawn", 1)


def test_bookmark_title_is_metadata() -> None:
    def outline(canvas: Canvas) -> None:
        canvas.bookmarkPage("p1")
        canvas.addOutlineEntry(MARK, "p1")

    [bookmarks] = find(segments_of(read_pdf, pdf(["正文"], draw=outline)), MARK)
    assert (bookmarks.role, bookmarks.part) == (Role.METADATA, "bookmarks")


def test_attached_file_is_read_through_the_dispatcher() -> None:
    document = pdfium.PdfDocument(pdf(["正文"]))
    document.new_attachment("附件.txt").set_data(f"{MARK}\n通知".encode())
    out = io.BytesIO()
    document.save(out)
    [attached] = find(segments_of(read_pdf, out.getvalue()), MARK)
    assert attached.part == "附件.txt!body"


def with_picture(box: tuple[int, int, int, int], stamped: str = "") -> bytes:
    """Page 1 holds the mark as text; page 2 a picture in `box` (x, y, width, height) and `stamped` as text."""
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4)
    canvas.setFont("STSong-Light", 14)
    canvas.drawString(72, 770, MARK)
    canvas.showPage()
    canvas.drawImage(ImageReader(io.BytesIO(grey_png())), *box)
    canvas.setFont("STSong-Light", 10)
    canvas.drawString(290, 20, stamped)
    canvas.showPage()
    canvas.save()
    return out.getvalue()


def test_image_only_page_is_a_problem_and_the_other_pages_are_read() -> None:
    ctx = context()
    segments = list(read_pdf(with_picture((72, 400, 400, 400)), "", ctx))
    assert [s.part for s in find(segments, MARK)] == ["page1"]
    assert [(p.reason, p.part) for p in ctx.problems] == [("image", "page2")]


def test_scan_with_a_page_number_stamped_on_it_is_an_image_problem() -> None:
    ctx = context()
    segments = list(read_pdf(with_picture((0, 0, int(A4[0]), int(A4[1])), "第 2 页"), "", ctx))
    assert [s.part for s in find(segments, "第 2 页")] == ["page2"]
    assert [(p.reason, p.part) for p in ctx.problems] == [("image", "page2")]


def test_short_text_beside_a_small_picture_is_not_an_image_problem() -> None:
    ctx = context()
    list(read_pdf(with_picture((72, 400, 100, 100), "第 2 页"), "", ctx))
    assert ctx.problems == []


def test_image_only_page_is_read_by_ocr_when_asked() -> None:
    require(shutil.which("tesseract") is not None, "Tesseract (tesseract-ocr, tesseract-ocr-chi-sim)")
    from PIL import Image, ImageDraw, ImageFont

    scan = Image.new("L", (1400, 200), 255)
    font = ImageFont.truetype("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 80)
    ImageDraw.Draw(scan).text((40, 40), "关于开展保密检查的通知", font=font, fill=0)
    png = io.BytesIO()
    scan.save(png, "PNG")
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4)
    canvas.drawImage(ImageReader(io.BytesIO(png.getvalue())), 40, 600, 520, 74)
    canvas.showPage()
    canvas.save()
    ctx = context(ocr=True)
    [page] = [s for s in read_pdf(out.getvalue(), "", ctx) if s.role is Role.BODY]
    assert (page.part, page.page) == ("page1.ocr", 1)
    assert "保密检查" in page.text.replace(" ", "")
    assert [(p.reason, p.part) for p in ctx.problems] == [("ocr", "page1")]


def test_pdf_encrypted_with_a_user_password_is_unscannable() -> None:
    with pytest.raises(Unscannable) as caught:
        segments_of(read_pdf, pdf([MARK], encrypt="secret"))
    assert caught.value.reason == "encrypted"


def test_pdf_with_only_an_owner_password_opens_and_is_read() -> None:
    from reportlab.lib.pdfencrypt import StandardEncryption

    data = pdf([MARK], encrypt=StandardEncryption("", ownerPassword="owner", canCopy=0))
    assert [s.part for s in find(segments_of(read_pdf, data), MARK)] == ["page1"]


def test_pdf_without_any_text_is_unscannable() -> None:
    with pytest.raises(Unscannable) as caught:
        segments_of(read_pdf, pdf([], []))
    assert caught.value.reason == "no-text"


def test_truncated_pdf_is_corrupt() -> None:
    with pytest.raises(Unscannable) as caught:
        segments_of(read_pdf, pdf([MARK])[:300])
    assert caught.value.reason == "corrupt"


def test_pdfminer_reads_the_same_pages() -> None:
    segments = segments_of(read_pdf_with_pdfminer, pdf(["第一页"], [MARK]))
    [page2] = find(segments, MARK)
    assert (page2.part, page2.page) == ("page2", 2)


def test_cid_placeholders_are_garbled() -> None:
    assert garbled("(cid:12)(cid:845)(cid:77)(cid:3) 年度报告") is not None


def test_private_use_glyphs_are_garbled() -> None:
    assert garbled("\ue11e\ue236\ue28a\ue0c0浏览\ueb06\ue2f6") is not None


def test_gbk_read_as_latin1_is_garbled_and_repaired() -> None:
    mojibake = "关于红军作战的原则".encode("gbk").decode("latin-1")
    assert garbled(f"1 {mojibake} 3") is not None
    assert repair_mojibake(mojibake) == "关于红军作战的原则"


def test_french_accents_are_not_garbled() -> None:
    assert garbled("Le réseau électrique à Genève était prêt, déjà.") is None


def test_peer_gbk_font_without_a_map_is_read_as_chinese() -> None:
    require(PEER.exists(), f"the peer corpus at {PEER}")
    [page] = segments_of(read_pdf, (PEER / "pdfjs" / "XiaoBiaoSong.pdf").read_bytes())
    assert "关于红军作战的原则" in page.text.replace(" ", "")  # pdfminer.six gives Latin-1 mojibake here


def test_peer_scan_without_text_layer_is_an_image_problem() -> None:
    require(PEER.exists(), f"the peer corpus at {PEER}")
    ctx = context()
    list(read_pdf((PEER / "mineru" / "demo" / "pdfs" / "small_ocr.pdf").read_bytes(), "", ctx))
    assert {p.reason for p in ctx.problems} == {"image"}


@pytest.mark.parametrize("path", ["qpdf/issue-120.pdf", "qpdf/issue-99.pdf", "pdfjs/Brotli-Prototype-FileA.pdf"])
def test_peer_pdf_neither_library_reads_is_corrupt(path: str) -> None:
    require(PEER.exists(), f"the peer corpus at {PEER}")
    with pytest.raises(Unscannable) as caught:
        segments_of(read_pdf, (PEER / path).read_bytes())
    assert caught.value.reason == "corrupt"


def test_pdf_is_read_by_the_dispatcher() -> None:
    extraction = extract(pdf(["第一页"], [MARK]), "报告.pdf")
    assert (extraction.format, [s.part for s in find(extraction.segments, MARK)]) == ("pdf", ["page2"])


def test_encrypted_pdf_is_a_problem_of_the_file_through_the_dispatcher() -> None:
    extraction = extract(pdf([MARK], encrypt="secret"), "报告.pdf")
    assert [p.reason for p in extraction.problems] == ["encrypted"]


# ---------------------------------------------------------------- damage repaired silently: flagged, never a pass


def repairs(data: bytes) -> list[str]:
    """The repairs the reader reports on `data`, after checking that the page's text still came out."""
    ctx = context()
    assert find(segments_of(read_pdf, data, ctx), "机密") != []
    assert {p.reason for p in ctx.problems} <= {"repaired"}
    return [p.cause for p in ctx.problems]


def test_well_formed_pdf_needs_no_repair() -> None:
    assert repairs(pdf([MARK], pageCompression=1)) == []
    assert repairs(pdf([MARK], pageCompression=0)) == []


def test_pdf_whose_cross_reference_table_was_rebuilt_is_repaired() -> None:
    data = pdf([MARK])
    header_end = data.index(b"\n") + 1
    shifted = data[:header_end] + b"%" + b"x" * 40 + b"\n" + data[header_end:]  # every offset in the table is off
    assert repairs(shifted) == ["the cross-reference table is damaged (rebuilt by scanning the file)"]


def test_junk_before_the_header_is_repaired() -> None:
    [detail] = repairs(b"HTTP/1.1 200 OK\r\n\r\n" + pdf([MARK]))
    assert "19 bytes of junk before the %PDF- header" in detail


def test_trailer_that_is_not_a_dictionary_is_repaired() -> None:
    data = pdf([MARK])
    at = data.rindex(b"/Size")
    [detail] = repairs(data[:at] + b"/Something {\n" + data[at:])
    assert "the trailer" in detail and "'{" in detail


def test_trailer_with_a_key_twice_is_repaired() -> None:
    data = pdf([MARK])
    at = data.rindex(b"/Size")
    [detail] = repairs(data[:at] + b"/K 1 /K 2\n" + data[at:])
    assert "the key /K appears twice" in detail


def test_stream_whose_length_misses_its_endstream_is_repaired() -> None:
    data = pdf([MARK], pageCompression=0)
    content = data.rindex(b"/Length ")
    stated = data[content + 8 : data.index(b"\n", content)]
    wrong = (
        data[:content]
        + b"/Length "
        + str(int(stated) // 2).rjust(len(stated)).encode()
        + data[content + 8 + len(stated) :]
    )
    [detail] = repairs(wrong)
    assert "says /Length" in detail


def test_stream_whose_compressed_data_is_broken_is_repaired() -> None:
    data = pdf([MARK], pageCompression=1)  # reportlab writes the content as ASCII85 of Flate
    start = data.index(b"stream\n", data.index(b"/ASCII85Decode /FlateDecode")) + 7
    end = data.index(b"~>", start)
    deflated = bytearray(base64.a85decode(data[start:end].replace(b"\n", b"")))
    deflated[-1] ^= 0xFF  # the last byte of the zlib checksum: PDFium still shows the text
    encoded = base64.a85encode(bytes(deflated), wrapcol=0)
    assert len(encoded) == end - start  # so every offset stays right
    [detail] = repairs(data[:start] + encoded + data[end:])
    assert "does not decode (FlateDecode: Error -3" in detail


def test_pdf_pdfium_refuses_and_pdfminer_rebuilds_is_repaired() -> None:
    data = pdf([MARK])
    headless = data[data.index(b"\n") + 1 :]  # no %PDF- line, and every offset off by its length
    ctx = context()
    assert find(segments_of(read_pdf, headless, ctx), MARK) != []
    assert [p.cause for p in ctx.problems] == [
        "no %PDF- header",
        "the cross-reference table is damaged (rebuilt by scanning the file)",
    ]
