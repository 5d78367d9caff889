"""The Excel reader finds a mark in every part of a workbook: cells, sheet names, headers, footers, comments."""

from __future__ import annotations

import io
import zipfile

import openpyxl
import pytest
from openpyxl.comments import Comment

from scanner.extract import extract
from scanner.extract.base import Limits, Unscannable
from scanner.extract.ooxml import header_footer_text, read_xlsx
from scanner.model import Role
from tests.conftest import SHARED, require
from tests.extract_fixtures import MARK, zip_of
from tests.reader_context import context, find, segments_of

PEER = SHARED / "corpora" / "peer"


def saved(book: openpyxl.Workbook) -> bytes:
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def one_sheet(title: str = "预算") -> tuple[openpyxl.Workbook, openpyxl.worksheet.worksheet.Worksheet]:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = title
    sheet["A1"] = "项目"
    return book, sheet


def raw_xlsx(cells: str, shared: list[str]) -> bytes:
    """A workbook written by hand: one sheet 表一 whose sheetData is `cells`, and a shared-string table."""
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rels = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    package_rels = "http://schemas.openxmlformats.org/package/2006/relationships"
    strings = "".join(f"<si><t>{text}</t></si>" for text in shared)
    return zip_of(
        {
            "xl/workbook.xml": f'<workbook xmlns="{main}" xmlns:r="{rels}"><sheets>'
            '<sheet name="表一" sheetId="1" r:id="rId1"/></sheets></workbook>'.encode(),
            "xl/_rels/workbook.xml.rels": f'<Relationships xmlns="{package_rels}">'
            f'<Relationship Id="rId1" Type="{rels}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{rels}/sharedStrings" Target="sharedStrings.xml"/>'
            "</Relationships>".encode(),
            "xl/sharedStrings.xml": f'<sst xmlns="{main}">{strings}</sst>'.encode(),
            "xl/worksheets/sheet1.xml": f'<worksheet xmlns="{main}"><sheetData>{cells}</sheetData>'
            "</worksheet>".encode(),
        }
    )


def test_shared_string_cell_is_a_cell_named_by_sheet_and_reference() -> None:
    data = raw_xlsx('<row r="2"><c r="A2" t="s"><v>1</v></c><c r="B2" t="s"><v>0</v></c></row>', [MARK, "项目"])
    [cell] = find(segments_of(read_xlsx, data), MARK)
    assert (cell.role, cell.part, cell.text) == (Role.CELL, "sheet:表一!B2", MARK)


def test_inline_string_cell_is_a_cell() -> None:
    book, sheet = one_sheet()  # openpyxl writes its strings inline
    sheet["C3"] = MARK
    [cell] = find(segments_of(read_xlsx, saved(book)), MARK)
    assert (cell.role, cell.part) == (Role.CELL, "sheet:预算!C3")


def test_number_cell_is_read_as_its_text() -> None:
    book, sheet = one_sheet()
    sheet["C1"] = 13800138000
    assert [s.part for s in find(segments_of(read_xlsx, saved(book)), "13800138000")] == ["sheet:预算!C1"]


def test_sheet_name_is_a_title() -> None:
    book, _ = one_sheet(MARK)
    [name] = find(segments_of(read_xlsx, saved(book)), MARK)
    assert (name.role, name.part) == (Role.TITLE, f"sheet:{MARK}")


def test_hidden_sheet_is_read() -> None:
    book, _ = one_sheet()
    hidden = book.create_sheet("附表")
    hidden.sheet_state = "veryHidden"
    hidden["A1"] = MARK
    assert [s.part for s in find(segments_of(read_xlsx, saved(book)), MARK)] == ["sheet:附表!A1"]


def test_header_is_a_header_without_its_codes() -> None:
    book, sheet = one_sheet()
    sheet.oddHeader.center.text = MARK
    sheet.oddHeader.right.text = "第&P页"
    [header] = find(segments_of(read_xlsx, saved(book)), MARK)
    assert (header.role, header.part, header.text) == (Role.HEADER, "sheet:预算!oddHeader", f"{MARK}\n第页")


def test_footer_is_a_footer() -> None:
    book, sheet = one_sheet()
    sheet.oddFooter.left.text = MARK
    [footer] = find(segments_of(read_xlsx, saved(book)), MARK)
    assert (footer.role, footer.part) == (Role.FOOTER, "sheet:预算!oddFooter")


def test_header_codes_for_font_size_colour_and_ampersand_are_stripped() -> None:
    assert header_footer_text('&L&"宋体,加粗"&14&KFF0000机密★5年&C&&内部&R&D &T') == f"{MARK}\n&内部"


def test_comment_is_a_note_on_its_cell() -> None:
    book, sheet = one_sheet()
    sheet["D4"] = "金额"
    sheet["D4"].comment = Comment(MARK, "审核人")
    [comment] = find(segments_of(read_xlsx, saved(book)), MARK)
    assert (comment.role, comment.part) == (Role.NOTE, "sheet:预算!D4.comment")


def test_document_title_is_a_title() -> None:
    book, _ = one_sheet()
    book.properties.title = MARK
    assert [(s.role, s.part) for s in find(segments_of(read_xlsx, saved(book)), MARK)] == [(Role.TITLE, "title")]


def test_long_shared_string_in_many_cells_is_read_once() -> None:
    cells = "".join(f'<row r="{n}"><c r="B{n}" t="s"><v>0</v></c></row>' for n in range(1, 101))
    data = raw_xlsx(cells, [MARK + "。" * 5000])
    assert [s.part for s in find(segments_of(read_xlsx, data), MARK)] == ["sheet:表一!B1"]


@pytest.mark.parametrize("name", ["poc-xmlbomb.xlsx", "54764.xlsx"])
def test_entity_bomb_is_unscannable(name: str) -> None:
    require(PEER.exists(), f"the peer corpus at {PEER}")
    with pytest.raises(Unscannable) as caught:
        segments_of(read_xlsx, (PEER / "poi" / "spreadsheet" / name).read_bytes())
    assert caught.value.reason == "xml_entities"


def test_workbook_is_read_by_the_dispatcher() -> None:
    book, sheet = one_sheet()
    sheet["B2"] = MARK
    extraction = extract(saved(book), "预算.xlsx")
    assert (extraction.format, [s.part for s in find(extraction.segments, MARK)]) == ("xlsx", ["sheet:预算!B2"])


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {name: z.read(name) for name in z.namelist()}


def test_workbook_as_openpyxl_writes_it_has_no_problems() -> None:
    book, sheet = one_sheet()
    sheet["B2"] = MARK
    ctx = context()
    segments_of(read_xlsx, saved(book), ctx)
    assert ctx.problems == []


def test_xml_map_whose_schema_pulls_in_one_from_outside_is_refused() -> None:
    book, _ = one_sheet()
    maps = (
        '<MapInfo xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><Schema ID="Schema1">'
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:redefine schemaLocation="http://localhost/"/>'
        "</xs:schema></Schema></MapInfo>"
    )
    data = zip_of({**members(saved(book)), "xl/xmlMaps.xml": maps.encode()})
    with pytest.raises(Unscannable) as caught:
        segments_of(read_xlsx, data)
    assert (caught.value.reason, caught.value.part) == ("xml_entities", "xl/xmlMaps.xml")


def test_long_string_repeated_past_the_limit_is_a_text_bomb_read_once() -> None:
    cells = "".join(f'<row r="{r}"><c r="B{r}" t="s"><v>0</v></c></row>' for r in range(1, 31))
    data = raw_xlsx(cells, ["保密" * 5000])  # 10000 characters, shown 30 times: 300000
    ctx = context(Limits(max_total_bytes=200_000))
    segments = segments_of(read_xlsx, data, ctx)
    assert len(find(segments, "保密保密")) == 1
    assert [(p.reason, p.part) for p in ctx.problems] == [("max_total_bytes", "sharedStrings")]


def test_cell_naming_a_shared_string_the_table_lacks_is_corrupt() -> None:
    data = raw_xlsx('<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>7</v></c></row>', [MARK])
    ctx = context()
    assert find(segments_of(read_xlsx, data, ctx), MARK) != []
    assert [(p.reason, p.part) for p in ctx.problems] == [("corrupt", "sheet:表一")]


def test_workbook_whose_part_names_use_backslashes_and_lower_case_is_read() -> None:
    """Some generators write xl\\worksheets\\sheet1.xml and [content_types].xml (POI 49609); Excel opens them."""
    book, sheet = one_sheet()
    sheet["B2"] = MARK
    renamed = zip_of({name.replace("/", "\\").lower(): data for name, data in members(saved(book)).items()})
    extraction = extract(renamed, "预算.xlsx")
    assert (extraction.format, [s.part for s in find(extraction.segments, MARK)]) == ("xlsx", ["sheet:预算!B2"])
    assert extraction.problems == []
