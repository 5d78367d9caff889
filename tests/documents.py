"""Documents the detection tests scan, built with the real libraries (python-docx, openpyxl, python-pptx), so a
reader sees what is in each file."""

from __future__ import annotations

import copy
import io

import docx
import openpyxl
import pptx
from docx.oxml.ns import qn
from lxml import etree


def xlsx_of(rows: list[list[str]]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def pptx_of(title: str, body: str) -> bytes:
    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = title
    slide.placeholders[1].text = body
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def saved(document: docx.document.Document) -> bytes:
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def docx_with(header: str = "", footer: str = "", paragraphs: tuple[str, ...] = ("正文",)) -> bytes:
    """A Word document with a header and footer (a TAB in them is a w:tab, as Word writes it)."""
    document = docx.Document()
    section = document.sections[0]
    for part, text in ((section.header, header), (section.footer, footer)):
        if text:
            paragraph = part.paragraphs[0]
            for i, piece in enumerate(text.split("\t")):
                if i:
                    paragraph.add_run().add_tab()
                paragraph.add_run(piece)
    for text in paragraphs:
        document.add_paragraph(text)
    return saved(document)


def docx_with_break(first: str, second: str, rest: str = "关于预算的报告") -> bytes:
    """One paragraph whose text is broken by a line break (w:br) between `first` and `second`."""
    document = docx.Document()
    run = document.add_paragraph().add_run(first)
    run.add_break()
    run.add_text(second)
    document.add_paragraph(rest)
    return saved(document)


def docx_with_struck(mark: str, rest: str = "关于预算的报告") -> bytes:
    """A document whose first paragraph is `mark` struck through (w:strike), as a declassified mark is crossed out."""
    document = docx.Document()
    document.add_paragraph().add_run(mark).font.strike = True
    document.add_paragraph(rest)
    return saved(document)


def docx_with_table(rows: list[list[str]]) -> bytes:
    document = docx.Document()
    table = document.add_table(rows=len(rows), cols=len(rows[0]))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            table.cell(r, c).text = text
    return saved(document)


_TEXTBOX = (
    '<w:r xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
    'xmlns:v="urn:schemas-microsoft-com:vml"><w:pict><v:shape style="width:20pt;height:200pt">'
    "<v:textbox><w:txbxContent/></v:textbox></v:shape></w:pict></w:r>"
)


def docx_with_text_box(lines: list[str], body: str = "关于预算的报告") -> bytes:
    """A narrow text box (VML) holding `lines`, one paragraph each, beside the body."""
    document = docx.Document()
    paragraph = document.add_paragraph()
    run = etree.fromstring(_TEXTBOX)
    content = run.find(".//" + qn("w:txbxContent"))
    for line in lines:
        p = copy.deepcopy(document.add_paragraph(line)._p)
        content.append(p)
    for p in list(document.element.body)[1:]:
        if p.tag == qn("w:p"):
            document.element.body.remove(p)
    paragraph._p.append(run)
    document.add_paragraph(body)
    return saved(document)
