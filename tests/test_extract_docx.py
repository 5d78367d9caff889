"""The Word reader finds a mark in every part of a .docx, each with the role and part it sits in."""

from __future__ import annotations

import io
import shutil
import zipfile

import docx
import pytest
from docx.enum.text import WD_BREAK

from scanner.extract import extract
from scanner.extract.base import Limits, Unscannable
from scanner.extract.ooxml import read_docx
from scanner.model import Role
from tests.conftest import SHARED, require
from tests.extract_fixtures import MARK, zip_of
from tests.reader_context import context, find, segments_of
from tests.test_extract_pdf import grey_png

PEER = SHARED / "corpora" / "peer"
W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
NAMESPACES = (
    f'{W} xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
    'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
    'xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
)
CONTENT_TYPES = (
    '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" '
    'ContentType="application/vnd.ms-word.document.macroEnabled.main+xml"/></Types>'
)


def raw_docx(body: str, **parts: str | bytes) -> bytes:
    """A .docx written by hand: `body` is the content of w:body, `parts` maps part names to whole XML parts."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", CONTENT_TYPES)
        z.writestr(
            "word/document.xml", f'<?xml version="1.0"?><w:document {NAMESPACES}><w:body>{body}</w:body></w:document>'
        )
        for name, xml in parts.items():
            z.writestr(name, xml)
    return out.getvalue()


def para(text: str) -> str:
    return f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>"


def saved(document: docx.document.Document) -> bytes:
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_body_paragraphs_are_lines_of_one_body_segment_in_order() -> None:
    document = docx.Document()
    for line in (MARK, "关于开展年度检查的通知", "各单位："):
        document.add_paragraph(line)
    [body] = [s for s in segments_of(read_docx, saved(document)) if s.role is Role.BODY]
    assert body.part == "body"
    assert body.text.split("\n") == [MARK, "关于开展年度检查的通知", "各单位："]


def test_page_break_is_a_form_feed_before_the_next_page() -> None:
    document = docx.Document()
    document.add_paragraph("第一页")
    document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
    document.add_paragraph(MARK)
    [body] = [s for s in segments_of(read_docx, saved(document)) if s.role is Role.BODY]
    assert "\f" in body.text
    assert body.text.split("\f")[1].strip("\n").startswith(MARK)


def test_table_cell_is_a_cell_segment() -> None:
    document = docx.Document()
    document.add_paragraph("正文")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 1).text = MARK
    [cell] = find(segments_of(read_docx, saved(document)), MARK)
    assert (cell.role, cell.part, cell.text) == (Role.CELL, "body.table1.r1c2", MARK)


def test_nested_table_cell_is_found() -> None:
    document = docx.Document()
    outer = document.add_table(rows=1, cols=1)
    inner = outer.cell(0, 0).add_table(rows=1, cols=2)
    inner.cell(0, 1).text = MARK
    [cell] = find(segments_of(read_docx, saved(document)), MARK)
    assert (cell.role, cell.part) == (Role.CELL, "body.table1.r1c1.table1.r1c2")


def test_header_mark_is_a_header_segment() -> None:
    document = docx.Document()
    document.sections[0].header.paragraphs[0].text = MARK
    document.add_paragraph("正文")
    [header] = find(segments_of(read_docx, saved(document)), MARK)
    assert (header.role, header.part) == (Role.HEADER, "header1")


def test_footer_mark_is_a_footer_segment() -> None:
    document = docx.Document()
    document.sections[0].footer.paragraphs[0].text = MARK
    [footer] = find(segments_of(read_docx, saved(document)), MARK)
    assert (footer.role, footer.part) == (Role.FOOTER, "footer1")


def test_header_in_a_part_of_another_name_is_found_by_its_relationship() -> None:
    rels = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    relationships = (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId9" Type="{rels}/header" Target="parts/top.xml"/></Relationships>'
    )
    header = f"<w:hdr {W}>{para(MARK)}</w:hdr>"
    data = raw_docx(para("正文"), **{"word/_rels/document.xml.rels": relationships, "word/parts/top.xml": header})
    [segment] = find(segments_of(read_docx, data), MARK)
    assert (segment.role, segment.part) == (Role.HEADER, "top")


def test_comment_is_a_note() -> None:
    document = docx.Document()
    paragraph = document.add_paragraph("请审阅")
    document.add_comment(paragraph.runs, text=MARK, author="审核人")
    [comment] = find(segments_of(read_docx, saved(document)), MARK)
    assert (comment.role, comment.part) == (Role.NOTE, "comments")


@pytest.mark.parametrize("kind", ["footnotes", "endnotes"])
def test_footnote_and_endnote_are_notes_without_their_separators(kind: str) -> None:
    note = kind[:-1]
    notes = (
        f'<w:{kind} {W}><w:{note} w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:{note}>'
        f'<w:{note} w:id="1">{para(MARK)}</w:{note}></w:{kind}>'
    )
    [segment] = find(segments_of(read_docx, raw_docx(para("正文"), **{f"word/{kind}.xml": notes})), MARK)
    assert (segment.role, segment.part, segment.text) == (Role.NOTE, kind, MARK)


def test_text_box_written_twice_for_compatibility_is_one_textbox_segment() -> None:
    box = f"<w:txbxContent>{para(MARK)}</w:txbxContent>"
    body = (
        "<w:p><w:r><mc:AlternateContent>"
        f'<mc:Choice Requires="wps"><w:drawing><wps:wsp><wps:txbx>{box}</wps:txbx></wps:wsp></w:drawing></mc:Choice>'
        f"<mc:Fallback><w:pict><v:shape><v:textbox>{box}</v:textbox></v:shape></w:pict></mc:Fallback>"
        "</mc:AlternateContent></w:r></w:p>" + para("正文")
    )
    segments = segments_of(read_docx, raw_docx(body))
    [textbox] = find(segments, MARK)
    assert (textbox.role, textbox.part) == (Role.TEXTBOX, "textbox1")


def test_tracked_deletion_is_a_deleted_segment() -> None:
    deletion = f'<w:del w:id="1" w:author="x"><w:r><w:delText>{MARK}</w:delText></w:r></w:del>'
    body = f"<w:p><w:r><w:t>正文</w:t></w:r>{deletion}</w:p>"
    segments = segments_of(read_docx, raw_docx(body))
    [deleted] = find(segments, MARK)
    assert (deleted.role, deleted.part) == (Role.DELETED, "body.deleted")


def test_tracked_insertion_is_body_text() -> None:
    body = f'<w:p><w:ins w:id="1" w:author="x"><w:r><w:t>{MARK}</w:t></w:r></w:ins></w:p>'
    [segment] = find(segments_of(read_docx, raw_docx(body)), MARK)
    assert segment.role is Role.BODY


def test_vml_watermark_in_header_is_a_watermark() -> None:
    header = (
        f'<w:hdr {NAMESPACES}><w:p><w:r><w:pict><v:shape o:spt="136" type="#_x0000_t136">'
        f'<v:textpath style="font-family:宋体" string="{MARK}"/></v:shape></w:pict></w:r></w:p></w:hdr>'
    )
    [watermark] = find(segments_of(read_docx, raw_docx(para("正文"), **{"word/header1.xml": header})), MARK)
    assert (watermark.role, watermark.part) == (Role.WATERMARK, "header1.watermark")


def test_drawingml_watermark_text_box_in_header_is_a_watermark() -> None:
    header = (
        f'<w:hdr {NAMESPACES} xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing">'
        '<w:p><w:r><w:drawing><wp:anchor behindDoc="1"><wp:docPr id="1" name="PowerPlusWaterMarkObject1"/>'
        f"<wps:wsp><wps:txbx><w:txbxContent>{para(MARK)}</w:txbxContent></wps:txbx></wps:wsp>"
        "</wp:anchor></w:drawing></w:r></w:p></w:hdr>"
    )
    [watermark] = find(segments_of(read_docx, raw_docx(para("正文"), **{"word/header1.xml": header})), MARK)
    assert (watermark.role, watermark.part) == (Role.WATERMARK, "header1.watermark")


@pytest.mark.parametrize("char", ["F0AB", "F0B6", "AB"])
def test_wingdings_star_symbol_is_a_star(char: str) -> None:
    star = f'<w:r><w:sym w:font="Wingdings" w:char="{char}"/></w:r>'
    body = f"<w:p><w:r><w:t>机密</w:t></w:r>{star}<w:r><w:t>5年</w:t></w:r></w:p>"
    [body_segment] = segments_of(read_docx, raw_docx(body))
    assert body_segment.text == MARK


def test_wingdings_star_typed_as_private_use_text_is_a_star() -> None:
    body = '<w:p><w:r><w:t>机密</w:t></w:r><w:r><w:rPr><w:rFonts w:ascii="Wingdings"/></w:rPr><w:t>\uf0ab</w:t></w:r>'
    [body_segment] = segments_of(read_docx, raw_docx(body + "<w:r><w:t>5年</w:t></w:r></w:p>"))
    assert body_segment.text == MARK


def test_field_result_is_body_text_and_field_code_is_metadata() -> None:
    body = (
        '<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> DOCPROPERTY 密级 </w:instrText></w:r>'
        f'<w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>{MARK}</w:t></w:r>'
        '<w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>'
    )
    segments = segments_of(read_docx, raw_docx(body))
    assert [s.role for s in find(segments, MARK)] == [Role.BODY]
    assert [s.part for s in find(segments, "DOCPROPERTY")] == ["body.fields"]


def test_core_title_is_title_and_subject_and_keywords_are_metadata() -> None:
    document = docx.Document()
    document.core_properties.title = MARK
    document.core_properties.subject = "绝密★长期"
    document.core_properties.keywords = "秘密★1年"
    segments = segments_of(read_docx, saved(document))
    assert [(s.role, s.part) for s in find(segments, MARK)] == [(Role.TITLE, "title")]
    assert [(s.role, s.part) for s in find(segments, "绝密")] == [(Role.METADATA, "subject")]
    assert [(s.role, s.part) for s in find(segments, "秘密")] == [(Role.METADATA, "keywords")]


def test_custom_property_is_metadata_with_its_name() -> None:
    custom = (
        '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties" '
        'xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">'
        '<property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="2" name="密级">'
        "<vt:lpwstr>机密★5年</vt:lpwstr></property></Properties>"
    )
    [prop] = find(segments_of(read_docx, raw_docx(para("正文"), **{"docProps/custom.xml": custom})), MARK)
    assert (prop.role, prop.part, prop.text) == (Role.METADATA, "property:密级", f"密级: {MARK}")


def test_embedded_document_is_read_through_the_context() -> None:
    inner = docx.Document()
    inner.add_paragraph(MARK)
    outer = raw_docx(para("见附件"), **{"word/embeddings/Microsoft_Word_Document.docx": saved(inner)})
    segments = segments_of(read_docx, outer)
    name = "word/embeddings/Microsoft_Word_Document.docx"
    assert [(s.role, s.part) for s in find(segments, "Microsoft_Word")] == [(Role.FILENAME, name)]
    assert [(s.role, s.part) for s in find(segments, MARK)] == [(Role.BODY, f"{name}!body")]


def test_pictures_are_image_findings_like_image_files() -> None:
    emf = b"\x01\x00\x00\x00\x6c\x00\x00\x00" + bytes(32) + b" EMF" + bytes(64)
    data = raw_docx(para("正文"), **{"word/media/image1.png": grey_png(), "word/media/image2.emf": emf})
    ctx = context()
    segments_of(read_docx, data, ctx)
    assert [(p.reason, p.part) for p in ctx.problems] == [
        ("image", "word/media/image1.png"),
        ("image", "word/media/image2.emf"),
    ]


def test_with_ocr_raster_pictures_are_read_and_every_picture_is_still_flagged() -> None:
    require(shutil.which("tesseract") is not None, "Tesseract (tesseract-ocr, tesseract-ocr-chi-sim)")
    emf = b"\x01\x00\x00\x00\x6c\x00\x00\x00" + bytes(32) + b" EMF" + bytes(64)
    data = raw_docx(para("正文"), **{"word/media/image1.png": grey_png(), "word/media/image2.emf": emf})
    ctx = context(ocr=True)
    segments_of(read_docx, data, ctx)
    problems = [(p.reason, p.part, p.english) for p in ctx.problems]
    assert [(reason, part) for reason, part, _detail in problems] == [
        ("image", "word/media/image1.png"),  # read by OCR, which found no text in the grey picture
        ("image", "word/media/image2.emf"),  # a metafile OCR cannot read
    ]
    assert "no text was recognised" in problems[0][2]


def test_a_picture_added_by_python_docx_is_flagged_through_the_engine(scanner) -> None:  # type: ignore[no-untyped-def]
    document = docx.Document()
    document.add_paragraph("各单位：请按时报送材料。")
    document.add_picture(io.BytesIO(grey_png()))
    report = scanner.scan_bytes(saved(document), "通知.docx")
    assert [(f.category, str(report.verdict)) for f in report.findings] == [("image", "flag")]


def test_macro_enabled_document_is_read() -> None:
    # python-docx refuses this content type; the reader does not care about it.
    [segment] = segments_of(read_docx, raw_docx(para(MARK)))
    assert segment.text == MARK


def test_dtd_in_a_part_is_refused_as_an_entity_bomb() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(
            "word/document.xml",
            '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
            f"<w:document {W}><w:body><w:p><w:r><w:t>&b;</w:t></w:r></w:p></w:body></w:document>",
        )
    with pytest.raises(Unscannable) as caught:
        segments_of(read_docx, out.getvalue())
    assert caught.value.reason == "xml_entities"


def test_part_that_inflates_past_the_ratio_limit_is_unscannable() -> None:
    bomb = f"<w:document {W}><w:body>{para(MARK)}</w:body></w:document>" + " " * (4 * 1024 * 1024)
    with pytest.raises(Unscannable) as caught:
        segments_of(read_docx, zip_of({"word/document.xml": bomb.encode()}))
    assert caught.value.reason == "max_ratio"


def test_package_with_more_parts_than_the_limit_is_unscannable() -> None:
    parts = {f"word/media/image{n}.png": b"" for n in range(20)}
    data = raw_docx(para(MARK), **parts)
    with pytest.raises(Unscannable) as caught:
        segments_of(read_docx, data, context(Limits(max_members=10)))
    assert caught.value.reason == "max_members"


def test_bytes_that_are_not_a_zip_are_corrupt() -> None:
    with pytest.raises(Unscannable) as caught:
        segments_of(read_docx, b"PK\x03\x04 truncated")
    assert caught.value.reason == "corrupt"


def test_missing_main_part_is_corrupt() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", CONTENT_TYPES)
    with pytest.raises(Unscannable) as caught:
        segments_of(read_docx, out.getvalue())
    assert caught.value.reason == "corrupt"


def test_peer_nested_tables_yield_their_chinese_text() -> None:
    require(PEER.exists(), f"the peer corpus at {PEER}")
    segments = segments_of(read_docx, (PEER / "poi-tl" / "issue" / "161.docx").read_bytes())
    han = sum(1 for s in segments for ch in s.text if "\u4e00" <= ch <= "\u9fff")
    assert han >= 80


def test_docx_named_as_text_is_read_as_docx_by_the_dispatcher() -> None:
    document = docx.Document()
    document.sections[0].header.paragraphs[0].text = MARK
    extraction = extract(saved(document), "通知.txt")
    assert extraction.format == "docx"
    assert [(s.role, s.part) for s in find(extraction.segments, MARK)] == [(Role.HEADER, "header1")]


def test_document_as_python_docx_writes_it_has_no_problems() -> None:
    document = docx.Document()
    document.add_paragraph(MARK)
    document.sections[0].header.paragraphs[0].text = "页眉"
    ctx = context()
    segments_of(read_docx, saved(document), ctx)
    assert ctx.problems == []


def test_part_whose_checksum_fails_is_corrupt_though_no_text_is_read_from_it() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:  # stored, so the theme's bytes can be changed in place
        z.writestr("[Content_Types].xml", CONTENT_TYPES)
        z.writestr("word/document.xml", f"<w:document {W}><w:body>{para(MARK)}</w:body></w:document>")
        z.writestr("word/theme/theme1.xml", "<theme>THEME</theme>")
    ctx = context()
    segments = segments_of(read_docx, out.getvalue().replace(b"THEME<", b"THEMX<"), ctx)
    assert find(segments, MARK) != []
    assert [(p.reason, p.part) for p in ctx.problems] == [("corrupt", "word/theme/theme1.xml")]


def test_part_a_relationship_names_that_is_not_in_the_package_is_corrupt() -> None:
    rels = (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/image" '
        'Target="media/image1.gif"/></Relationships>'
    )
    ctx = context()
    segments_of(read_docx, raw_docx(para(MARK), **{"word/_rels/document.xml.rels": rels}), ctx)
    assert [(p.reason, p.part) for p in ctx.problems] == [("corrupt", "word/media/image1.gif")]


def test_dtd_in_a_part_no_text_is_read_from_is_refused() -> None:
    settings = '<?xml version="1.0"?><!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]><w:settings>&x;</w:settings>'
    with pytest.raises(Unscannable) as caught:
        segments_of(read_docx, raw_docx(para(MARK), **{"word/settings.xml": settings}))
    assert (caught.value.reason, caught.value.part) == ("xml_entities", "word/settings.xml")


def test_text_in_a_part_nothing_refers_to_is_still_read() -> None:
    """An orphaned part leaves the office with the file: its text is read though no relationship leads to it."""
    document = docx.Document()
    document.add_paragraph("正文")
    with zipfile.ZipFile(io.BytesIO(saved(document))) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    parts["word/orphan.xml"] = f'<?xml version="1.0"?><note><p>{MARK}</p><p>旧稿</p></note>'.encode()
    [segment] = find(extract(zip_of(parts), "通知.docx").segments, MARK)
    assert (segment.part, segment.role) == ("word/orphan.xml", Role.BODY)
