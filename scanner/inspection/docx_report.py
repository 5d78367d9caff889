"""The inspection report as a Word document (python-docx): A4, headings, ruled tables, the charts as pictures, and
lines to sign on. Chinese text is set in SimSun and headings in SimHei, as official documents are."""

from __future__ import annotations

import io
from pathlib import Path

import docx
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_COLOR_INDEX
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor
from docx.table import _Cell, _Row

from scanner.inspection.charts import png
from scanner.inspection.collect import Inspection
from scanner.inspection.content import Cell, Content, Group, Highlight, Section, Table, content

PAGE_WIDTH, PAGE_HEIGHT, MARGIN = Cm(21), Cm(29.7), Cm(2)
TEXT_WIDTH = PAGE_WIDTH - 2 * MARGIN
BODY_FONT, HEADING_FONT, LATIN_FONT = "宋体", "黑体", "Arial"
GROUP_SHADING = {"block": "F4D7D5", "flag": "FBEFD0", "pass": "E3F0E5"}


def write_docx(inspection: Inspection, path: Path) -> None:
    document = document_of(content(inspection))
    document.save(str(path))


def document_of(report: Content) -> docx.document.Document:
    document = docx.Document()
    _page_setup(document)
    _fonts(document)
    title = document.add_heading(report.title, level=0)
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    subtitle = document.add_paragraph(report.subtitle)
    subtitle.alignment = WD_ALIGN_PARAGRAPH.CENTER
    for section in report.sections:
        _section(document, section)
    document.add_paragraph()
    for label in report.signatures:
        line = document.add_paragraph()
        line.paragraph_format.space_before = Pt(18)
        line.add_run(label)
        line.add_run("\u3000" * 16).underline = True
    footer = document.sections[0].footer.paragraphs[0]
    footer.text = report.footer
    footer.runs[0].font.size = Pt(8)
    return document


def _page_setup(document: docx.document.Document) -> None:
    section = document.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = PAGE_WIDTH, PAGE_HEIGHT
    section.left_margin = section.right_margin = section.top_margin = section.bottom_margin = MARGIN


def _fonts(document: docx.document.Document) -> None:
    """Latin and East Asian fonts on the styles used: Word takes Chinese glyphs from the eastAsia font only."""
    for name, east_asian in (("Normal", BODY_FONT), ("Title", HEADING_FONT), ("Heading 1", HEADING_FONT)):
        style = document.styles[name]
        style.font.name = LATIN_FONT
        fonts = style.element.get_or_add_rPr().get_or_add_rFonts()
        fonts.set(qn("w:eastAsia"), east_asian)
        for theme in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme"):
            fonts.attrib.pop(qn(theme), None)
    document.styles["Normal"].font.size = Pt(10.5)  # 五号
    document.styles["Title"].font.color.rgb = RGBColor(0, 0, 0)
    document.styles["Heading 1"].font.color.rgb = RGBColor(0, 0, 0)


def _section(document: docx.document.Document, section: Section) -> None:
    document.add_heading(section.heading, level=1)
    if section.intro:
        document.add_paragraph(section.intro)
    for chart in section.charts:
        document.add_picture(io.BytesIO(png(chart)), width=Cm(15))
    for table in section.tables:
        _table(document, table)


def _table(document: docx.document.Document, table: Table) -> None:
    columns = len(table.headers)
    grid = document.add_table(rows=1, cols=columns)
    grid.style = "Table Grid"
    grid.alignment = WD_TABLE_ALIGNMENT.CENTER
    grid.autofit = False
    total = sum(table.widths)
    widths = [int(TEXT_WIDTH * w / total) for w in table.widths]
    for cell, header in zip(grid.rows[0].cells, table.headers, strict=True):
        cell.text = header
        cell.paragraphs[0].runs[0].bold = True
        _shade(cell, "ECEFF3")
    _repeat_as_header(grid.rows[0])
    for row in table.rows:
        cells = grid.add_row().cells
        if isinstance(row, Group):
            merged = cells[0].merge(cells[-1])
            merged.text = row.text
            merged.paragraphs[0].runs[0].bold = True
            _shade(merged, GROUP_SHADING[str(row.verdict)])
            continue
        for index, (cell, value) in enumerate(zip(cells, row, strict=True)):
            _fill(cell, value, bold=table.key_column and index == 0)
    # Word reads the cells' widths, LibreOffice the grid's: set both.
    for column, width in zip(grid.columns, widths, strict=True):
        column.width = width
    for grid_row in grid.rows:
        for cell, width in zip(grid_row.cells, widths, strict=False):
            cell.width = width
    for paragraph in (p for grid_row in grid.rows for c in grid_row.cells for p in c.paragraphs):
        for run in paragraph.runs:
            run.font.size = Pt(9)
    document.add_paragraph()


def _fill(cell: _Cell, value: Cell, bold: bool = False) -> None:
    paragraph = cell.paragraphs[0]
    if isinstance(value, Highlight):
        paragraph.add_run(value.before)
        match = paragraph.add_run(value.match)
        match.bold = True
        match.font.highlight_color = WD_COLOR_INDEX.YELLOW
        paragraph.add_run(value.after)
    else:
        paragraph.add_run(value).bold = bold


def _shade(cell: _Cell, colour: str) -> None:
    shading = OxmlElement("w:shd")
    shading.set(qn("w:val"), "clear")
    shading.set(qn("w:color"), "auto")
    shading.set(qn("w:fill"), colour)
    cell._tc.get_or_add_tcPr().append(shading)


def _repeat_as_header(row: _Row) -> None:
    """The header row is repeated at the top of each page a long table runs over."""
    header = OxmlElement("w:tblHeader")
    header.set(qn("w:val"), "true")
    row._tr.get_or_add_trPr().append(header)
