"""The PowerPoint reader finds a mark on any slide (page = slide number), in notes, footers, masters and layouts."""

from __future__ import annotations

import copy
import io

from lxml import etree
from pptx import Presentation
from pptx.util import Inches

from scanner.extract import extract
from scanner.extract.ooxml import read_pptx
from scanner.model import Role
from tests.extract_fixtures import MARK
from tests.reader_context import context, find, segments_of

P = "{http://schemas.openxmlformats.org/presentationml/2006/main}"


def deck(slides: int = 2) -> Presentation:
    presentation = Presentation()
    for number in range(1, slides + 1):
        slide = presentation.slides.add_slide(presentation.slide_layouts[1])
        slide.shapes.title.text = f"第{number}页"
    return presentation


def saved(presentation: Presentation) -> bytes:
    out = io.BytesIO()
    presentation.save(out)
    return out.getvalue()


def text_box(slide, text: str) -> etree._Element:  # type: ignore[no-untyped-def]
    box = slide.shapes.add_textbox(Inches(1), Inches(1), Inches(3), Inches(1))
    box.text_frame.text = text
    return box._element


def test_mark_on_the_second_slide_is_body_text_of_page_two() -> None:
    presentation = deck()
    text_box(presentation.slides[1], MARK)
    [segment] = find(segments_of(read_pptx, saved(presentation)), MARK)
    assert (segment.role, segment.part, segment.page) == (Role.BODY, "slide2", 2)


def test_slide_title_and_text_are_lines_of_the_slide() -> None:
    presentation = deck(1)
    presentation.slides[0].shapes.title.text = MARK
    text_box(presentation.slides[0], "内部资料")
    [slide] = [s for s in segments_of(read_pptx, saved(presentation)) if s.part == "slide1"]
    assert slide.text.split("\n") == [MARK, "内部资料"]


def test_text_box_added_last_at_the_top_of_the_slide_is_its_first_line() -> None:
    presentation = deck(1)
    slide = presentation.slides[0]
    slide.shapes.add_textbox(Inches(1), Inches(5), Inches(3), Inches(1)).text_frame.text = "正文"
    slide.shapes.add_textbox(Inches(1), Inches(0.05), Inches(3), Inches(0.3)).text_frame.text = MARK
    [page] = [s for s in segments_of(read_pptx, saved(presentation)) if s.part == "slide1"]
    assert page.text.split("\n") == [MARK, "第1页", "正文"]


def test_table_cell_on_a_slide_is_slide_text() -> None:
    presentation = deck(1)
    table = presentation.slides[0].shapes.add_table(2, 2, Inches(1), Inches(2), Inches(4), Inches(1)).table
    table.cell(1, 1).text = MARK
    assert [s.part for s in find(segments_of(read_pptx, saved(presentation)), MARK)] == ["slide1"]


def test_speaker_notes_are_a_note_of_their_slide() -> None:
    presentation = deck()
    presentation.slides[1].notes_slide.notes_text_frame.text = MARK
    [notes] = find(segments_of(read_pptx, saved(presentation)), MARK)
    assert (notes.role, notes.part, notes.page) == (Role.NOTE, "slide2.notes", 2)


def test_footer_placeholder_is_a_footer() -> None:
    presentation = deck(1)
    box = text_box(presentation.slides[0], MARK)
    nv_properties = box.find(f"{P}nvSpPr/{P}nvPr")
    etree.SubElement(nv_properties, f"{P}ph", type="ftr")
    [footer] = find(segments_of(read_pptx, saved(presentation)), MARK)
    assert (footer.role, footer.part, footer.page) == (Role.FOOTER, "slide1.footer", 1)


def test_text_on_the_master_is_read_as_on_every_slide() -> None:
    presentation = deck(1)
    shape = copy.deepcopy(text_box(presentation.slides[0], MARK))
    presentation.slides[0].shapes._spTree.remove(presentation.slides[0].shapes[-1]._element)
    presentation.slide_master.shapes._spTree.append(shape)
    [master] = find(segments_of(read_pptx, saved(presentation)), MARK)
    assert (master.role, master.part) == (Role.HEADER, "master1")


def test_text_on_a_layout_is_read() -> None:
    presentation = deck(1)
    shape = copy.deepcopy(text_box(presentation.slides[0], MARK))
    presentation.slides[0].shapes._spTree.remove(presentation.slides[0].shapes[-1]._element)
    presentation.slide_layouts[1].shapes._spTree.append(shape)
    [layout] = find(segments_of(read_pptx, saved(presentation)), MARK)
    assert (layout.role, layout.part) == (Role.HEADER, "layout2")


def test_presentation_title_is_a_title() -> None:
    presentation = deck(1)
    presentation.core_properties.title = MARK
    [title] = find(segments_of(read_pptx, saved(presentation)), MARK)
    assert (title.role, title.part) == (Role.TITLE, "title")


def test_presentation_is_read_by_the_dispatcher() -> None:
    presentation = deck()
    text_box(presentation.slides[1], MARK)
    extraction = extract(saved(presentation), "汇报.pptx")
    assert (extraction.format, [s.part for s in find(extraction.segments, MARK)]) == ("pptx", ["slide2"])


def test_presentation_as_python_pptx_writes_it_has_no_problems() -> None:
    ctx = context()
    segments_of(read_pptx, saved(deck()), ctx)
    assert ctx.problems == []
