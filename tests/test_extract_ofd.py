"""The OFD reader finds a mark on any page, in page templates, watermark annotations, metadata and attachments.

The fixtures are OFD packages written by hand (GB/T 33190): OFD.xml → Document.xml → pages, so the structure the
reader walks is visible here.
"""

from __future__ import annotations

import pytest

from scanner.extract import extract
from scanner.extract.base import Unscannable
from scanner.extract.ofd import read_ofd
from scanner.model import Role
from tests.conftest import SHARED, require
from tests.extract_fixtures import MARK, zip_of
from tests.reader_context import context, find, segments_of

PEER = SHARED / "corpora" / "peer" / "ofdrw"
NS = 'xmlns:ofd="http://www.ofdspec.org/2016"'


def text_object(text: str, x: float = 20, y: float = 20, size: float = 5) -> str:
    return (
        f'<ofd:TextObject ID="9" Boundary="{x} {y} 150 {size * 2}" Font="1" Size="{size}">'
        f'<ofd:TextCode X="0" Y="{size}">{text}</ofd:TextCode></ofd:TextObject>'
    )


def page(*objects: str, template: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><ofd:Page {NS}>{template}<ofd:Content><ofd:Layer ID="2">'
        f"{''.join(objects)}</ofd:Layer></ofd:Content></ofd:Page>"
    ).encode()


def ofd(
    pages: list[bytes], doc_info: str = "", common: str = "", after: str = "", parts: dict[str, bytes] | None = None
) -> bytes:
    """An OFD package: OFD.xml names Doc_0/Document.xml, which lists the pages; `common` goes into its CommonData,
    `after` after its Pages (annotations, attachments), and `parts` are further members of the zip."""
    listed = "".join(f'<ofd:Page ID="{n + 1}" BaseLoc="Pages/Page_{n}/Content.xml"/>' for n in range(len(pages)))
    members = {
        "OFD.xml": f'<ofd:OFD {NS} Version="1.1" DocType="OFD"><ofd:DocBody><ofd:DocInfo><ofd:DocID>1</ofd:DocID>'
        f"{doc_info}</ofd:DocInfo><ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>".encode(),
        "Doc_0/Document.xml": f"<ofd:Document {NS}><ofd:CommonData><ofd:PageArea><ofd:PhysicalBox>0 0 210 297"
        f"</ofd:PhysicalBox></ofd:PageArea>{common}</ofd:CommonData><ofd:Pages>{listed}</ofd:Pages>{after}"
        "</ofd:Document>".encode(),
        **{f"Doc_0/Pages/Page_{n}/Content.xml": content for n, content in enumerate(pages)},
    }
    return zip_of({**members, **(parts or {})})


def test_mark_at_the_top_of_page_two_is_the_first_line_of_that_page() -> None:
    data = ofd([page(text_object("第一页")), page(text_object("正文", y=60), text_object(MARK, y=10))])
    [segment] = find(segments_of(read_ofd, data), MARK)
    assert (segment.role, segment.part, segment.page) == (Role.BODY, "page2", 2)
    assert segment.text.split("\n") == [MARK, "正文"]


def test_one_text_object_per_character_makes_one_line() -> None:
    characters = [text_object(ch, x=20 + 5 * i, y=10) for i, ch in reversed(list(enumerate(MARK)))]
    [segment] = segments_of(read_ofd, ofd([page(*characters)]))
    assert segment.text == MARK


def test_template_page_text_is_a_header() -> None:
    data = ofd(
        [page(text_object("正文"), template='<ofd:Template TemplateID="7"/>')],
        common='<ofd:TemplatePage ID="7" BaseLoc="Tpls/Tpl_0/Content.xml"/>',
        parts={"Doc_0/Tpls/Tpl_0/Content.xml": page(text_object(MARK))},
    )
    [template] = find(segments_of(read_ofd, data), MARK)
    assert (template.role, template.part) == (Role.HEADER, "template7")


def test_watermark_annotation_is_a_watermark_of_its_page() -> None:
    index = f'<ofd:Annotations {NS}><ofd:Page PageID="1"><ofd:FileLoc>Page_0/Annot_0.xml</ofd:FileLoc></ofd:Page>'
    tiles = "".join(text_object(MARK, y=y) for y in (10, 60, 110))  # repeated across the page
    annot = f'<ofd:PageAnnot {NS}><ofd:Annot Type="Watermark" ID="5"><ofd:Appearance Boundary="0 0 210 297">'
    data = ofd(
        [page(text_object("正文"))],
        after="<ofd:Annotations>Annots/Annotations.xml</ofd:Annotations>",
        parts={
            "Doc_0/Annots/Annotations.xml": f"{index}</ofd:Annotations>".encode(),
            "Doc_0/Annots/Page_0/Annot_0.xml": f"{annot}{tiles}</ofd:Appearance></ofd:Annot></ofd:PageAnnot>".encode(),
        },
    )
    [watermark] = find(segments_of(read_ofd, data), MARK)
    assert (watermark.role, watermark.part, watermark.page) == (Role.WATERMARK, "page1.watermark", 1)
    assert watermark.text == MARK


def test_title_keywords_and_custom_data_are_metadata() -> None:
    info = (
        f"<ofd:Title>{MARK}</ofd:Title><ofd:Keywords><ofd:Keyword>绝密</ofd:Keyword></ofd:Keywords>"
        '<ofd:CustomDatas><ofd:CustomData Name="密级">秘密★1年</ofd:CustomData></ofd:CustomDatas>'
    )
    segments = segments_of(read_ofd, ofd([page(text_object("正文"))], doc_info=info))
    assert [(s.role, s.part) for s in find(segments, MARK)] == [(Role.TITLE, "title")]
    assert [(s.role, s.part) for s in find(segments, "绝密")] == [(Role.METADATA, "keywords")]
    assert [(s.role, s.part, s.text) for s in find(segments, "秘密")] == [
        (Role.METADATA, "property:密级", "密级: 秘密★1年")
    ]


def test_attachment_is_read_through_the_dispatcher() -> None:
    attachments = f'<ofd:Attachments {NS}><ofd:Attachment Name="附件" ID="1"><ofd:FileLoc>/Doc_0/Res/a.txt'
    data = ofd(
        [page(text_object("正文"))],
        after="<ofd:Attachments>Attachments.xml</ofd:Attachments>",
        parts={
            "Doc_0/Attachments.xml": f"{attachments}</ofd:FileLoc></ofd:Attachment></ofd:Attachments>".encode(),
            "Doc_0/Res/a.txt": f"{MARK}\n通知".encode(),
        },
    )
    [attached] = find(segments_of(read_ofd, data), MARK)
    assert attached.part == "附件.txt!body"


def test_composite_object_text_is_read_from_its_resource() -> None:
    unit = f'<ofd:CompositeGraphicUnit ID="30" Width="100" Height="20"><ofd:Content>{text_object(MARK)}'
    resources = f"<ofd:Res {NS}><ofd:CompositeGraphicUnits>{unit}</ofd:Content></ofd:CompositeGraphicUnit>"
    data = ofd(
        [page('<ofd:CompositeObject ID="31" Boundary="0 0 210 297" ResourceID="30"/>')],
        common="<ofd:DocumentRes>DocumentRes.xml</ofd:DocumentRes>",
        parts={"Doc_0/DocumentRes.xml": f"{resources}</ofd:CompositeGraphicUnits></ofd:Res>".encode()},
    )
    assert [s.part for s in find(segments_of(read_ofd, data), MARK)] == ["page1"]


def test_private_use_glyphs_are_a_garbled_page() -> None:
    ctx = context()
    list(read_ofd(ofd([page(text_object("\ue11e\ue236\ue28a\ue0c0\ue434\ue0da"))]), "", ctx))
    assert [(p.reason, p.part) for p in ctx.problems] == [("garbled", "page1")]


def test_package_without_ofd_xml_is_corrupt() -> None:
    with pytest.raises(Unscannable) as caught:
        segments_of(read_ofd, zip_of({"Doc_0/Document.xml": b"<Document/>"}))
    assert caught.value.reason == "corrupt"


def test_encrypted_ofd_package_is_unscannable() -> None:
    data = ofd([page(text_object(MARK))], parts={"Encryptions.xml": f"<ofd:Encryptions {NS}/>".encode()})
    with pytest.raises(Unscannable) as caught:
        segments_of(read_ofd, data)
    assert caught.value.reason == "encrypted"


@pytest.mark.parametrize("path", ["ofdrw-tool/hello_watermark.ofd", "ofdrw-converter/ano.ofd"])
def test_peer_watermark_annotations_yield_baomi_ziliao(path: str) -> None:
    require(PEER.exists(), f"the peer corpus at {PEER}")
    segments = segments_of(read_ofd, (PEER / path).read_bytes())
    assert {s.role for s in find(segments, "保密资料")} == {Role.WATERMARK}


def test_ofd_is_read_by_the_dispatcher() -> None:
    extraction = extract(ofd([page(text_object("第一页")), page(text_object(MARK))]), "公文.ofd")
    assert (extraction.format, [s.part for s in find(extraction.segments, MARK)]) == ("ofd", ["page2"])
