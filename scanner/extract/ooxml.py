"""Word, Excel and PowerPoint (OOXML, transitional and strict) read from their XML parts, every part of them.

Leaks hide where python-docx and openpyxl do not look: headers, text boxes, tracked deletions, watermarks, comments.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator

from lxml import etree

from scanner.extract.base import Context, Unscannable
from scanner.extract.image import read_media
from scanner.extract.xmlparts import Package, attr, iter_xml, local, office_properties, paragraphs, text_of
from scanner.i18n import msg
from scanner.model import Role, Segment

# Wingdings code points that draw a star (✦ ★ ✶ ✴ ✹ ✵ ✪ ✰), as w:sym w:char="F0AB" or as private-use text: all
# read as ★, the star of a classification mark (机密★5年).
_STARS = {0xAA, 0xAB, 0xAC, 0xAD, 0xAE, 0xAF, 0xB5, 0xB6}
STAR_TABLE = {0xF000 + code: "★" for code in _STARS}
_SYMBOL_FONTS = ("wingdings", "webdings")
# Word's parts for stories other than the body, by file name, with the role their text plays.
_WORD_STORIES = (
    (re.compile(r"header\d*\.xml", re.IGNORECASE), Role.HEADER),
    (re.compile(r"footer\d*\.xml", re.IGNORECASE), Role.FOOTER),
    (re.compile(r"(footnotes|endnotes|comments)\.xml", re.IGNORECASE), Role.NOTE),
)
# Elements whose attributes hold the alternative text of a picture or shape (Format Picture > Alt Text), which
# leaves with the document though the page does not show it.
_ALT_TEXT_HOLDERS = frozenset({"docPr", "cNvPr", "shape"})
_NOTE_SEPARATORS = frozenset({"separator", "continuationSeparator", "continuationNotice"})
# Elements whose content is formatting, never text (w:tab inside w:pPr is a tab stop, not a tab).
_SKIPPED = frozenset({"pPr", "rPr", "sectPr", "tblPr", "tblGrid", "trPr", "tcPr", "tblPrEx", "docPr", "rubyPr"})


def _symbol(element: etree._Element) -> str:
    """The character a w:sym draws: a Wingdings star is ★; others keep their own code point."""
    try:
        code = int(attr(element, "char") or "", 16)
    except ValueError:
        return ""
    font = (attr(element, "font") or "").lower()
    if code < 0x100 and font.startswith(_SYMBOL_FONTS):
        code += 0xF000
    return STAR_TABLE.get(code, chr(code) if 0 < code < 0x110000 else "")


class _Story:
    """One Word story (the body, a header, a cell, a text box): its lines, plus the segments found inside it.

    Paragraphs become lines; page breaks become "\\f"; tables, text boxes and watermarks become segments of
    their own, as do tracked deletions and field codes.
    """

    def __init__(self, doc: _WordDocument, part: str, role: Role) -> None:
        self.doc, self.part, self.role = doc, part, role
        self.text: list[str] = []
        self.deleted: list[str] = []
        self.fields: list[str] = []
        self.tables = 0

    def walk(self, element: etree._Element, deleted: bool = False) -> None:
        for child in element:
            name = local(child.tag)
            if name in _ALT_TEXT_HOLDERS:
                for key in ("descr", "title", "alt"):
                    self.doc.side(attr(child, key) or "", self.part + ".alt-text", Role.METADATA)
            if name in _SKIPPED:
                if name == "pPr" and any(
                    local(c.tag) == "pageBreakBefore" and attr(c, "val") not in ("0", "false") for c in child
                ):
                    self.text.append("\f")
                continue
            if name == "t":
                (self.deleted if deleted else self.text).append(child.text or "")
            elif name == "delText":
                self.deleted.append(child.text or "")
            elif name in ("tab", "ptab"):
                self.text.append("\t")
            elif name == "br":
                self.text.append("\f" if attr(child, "type") == "page" else "\n")
            elif name == "cr":
                self.text.append("\n")
            elif name == "sym":
                self.text.append(_symbol(child))
            elif name == "noBreakHyphen":
                self.text.append("-")
            elif name == "instrText":
                self.fields.append(child.text or "")
            elif name == "p":
                self.walk(child, deleted)
                self.text.append("\n")
                if self.deleted and self.deleted[-1] != "\n":
                    self.deleted.append("\n")
            elif name == "r" and _struck(child):
                # A run struck through (a declassified mark crossed out) is read with a combining stroke on
                # each character, the way plain text writes it; folding drops the strokes, the mark detector sees them.
                begin = len(self.text)
                self.walk(child, deleted)
                self.text[begin:] = [
                    "".join(ch if ch.isspace() else ch + "\u0336" for ch in t) for t in self.text[begin:]
                ]
            elif name == "tbl":
                self.table(child)
            elif name == "txbxContent" and _in_watermark(child):
                self.doc.story(child, self.part + ".watermark", Role.WATERMARK)
            elif name == "txbxContent":
                self.doc.story(child, self.doc.numbered("textbox"), Role.TEXTBOX)
            elif name == "textpath":
                self.doc.side(attr(child, "string") or "", self.part + ".watermark", Role.WATERMARK)
            else:
                self.walk(child, deleted or name in ("del", "moveFrom"))

    def table(self, table: etree._Element) -> None:
        self.tables += 1
        base = f"{self.part}.table{self.tables}"
        # A cell of a table in a header is still header text; only the body's cells are cells.
        role = Role.CELL if self.role in (Role.BODY, Role.CELL) else self.role
        rows = [row for row in table if local(row.tag) == "tr"]
        for r, row in enumerate(rows, 1):
            cells = [cell for cell in row.iter() if local(cell.tag) == "tc" and _owner_row(cell) is row]
            for c, cell in enumerate(cells, 1):
                self.doc.story(cell, f"{base}.r{r}c{c}", role)

    def segments(self) -> Iterator[Segment]:
        text = "".join(self.text).translate(STAR_TABLE).strip("\n")
        if text.strip():
            yield Segment(text, self.part, self.role)
        deleted = "".join(self.deleted).strip("\n")
        if deleted.strip():
            yield Segment(deleted, self.part + ".deleted", Role.DELETED)
        fields = "\n".join(field.strip() for field in self.fields if field.strip())
        if fields:
            yield Segment(fields, self.part + ".fields", Role.METADATA)


def _struck(run: etree._Element) -> bool:
    """Whether a w:r is formatted struck through (w:strike or w:dstrike, not switched off)."""
    return any(
        local(prop.tag) == "rPr"
        and any(local(c.tag) in ("strike", "dstrike") and attr(c, "val") not in ("0", "false", "off") for c in prop)
        for prop in run
    )


def _in_watermark(box: etree._Element) -> bool:
    """Whether a text box is a watermark: Word and WPS name the shape PowerPlusWaterMarkObject (VML id, or the
    drawing's wp:docPr name)."""
    for ancestor in box.iterancestors():
        name = local(ancestor.tag)
        if name == "p":
            return False
        labels = [ancestor.get("id") or ""] if name == "shape" else []
        if name in ("anchor", "inline"):
            labels += [child.get("name") or "" for child in ancestor if local(child.tag) == "docPr"]
        if any("watermark" in label.lower() for label in labels):
            return True
    return False


def _owner_row(cell: etree._Element) -> etree._Element | None:
    """The w:tr a cell belongs to (cells may sit inside w:sdt or w:customXml wrappers, nested tables have their own)."""
    parent = cell.getparent()
    while parent is not None and local(parent.tag) != "tr":
        parent = parent.getparent()
    return parent


class _WordDocument:
    """Collects the segments of one .docx: stories nest (a table in a text box in a header) and are flattened here."""

    def __init__(self, package: Package) -> None:
        self.package = package
        self.out: list[Segment] = []
        self.counters: dict[str, int] = {}
        self.seen: set[tuple[Role, str]] = set()

    def numbered(self, kind: str) -> str:
        """The next part name of a kind that has no name of its own: textbox1, textbox2, ..."""
        self.counters[kind] = self.counters.get(kind, 0) + 1
        return f"{self.package.prefix}{kind}{self.counters[kind]}"

    def story(self, element: etree._Element, part: str, role: Role) -> None:
        story = _Story(self, part, role)
        story.walk(element)
        for segment in story.segments():
            # Text boxes are written twice (DrawingML and its VML fallback): say each once.
            if role in (Role.TEXTBOX, Role.WATERMARK):
                key = (role, segment.text)
                if key in self.seen:
                    continue
                self.seen.add(key)
            self.out.append(segment)

    def side(self, text: str, part: str, role: Role) -> None:
        key = (role, text)
        if text.strip() and key not in self.seen:
            self.seen.add(key)
            self.out.append(Segment(text, part, role))


def read_docx(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    """Every story of a .docx/.docm/.dotx: body, tables, headers, footers, notes, comments, text boxes, deletions."""
    package, main, body = _open(data, prefix, ctx, "word/document.xml")
    yield from office_properties(package)
    doc = _WordDocument(package)
    main_story = _first(body, "body")
    doc.story(body if main_story is None else main_story, prefix + "body", Role.BODY)
    yield from doc.out
    folder = posixpath.dirname(main)
    for name, role in _word_stories(package, main):
        root = package.optional_xml(name)
        if root is None:
            continue
        doc = _WordDocument(package)
        if role is Role.NOTE:
            notes = [n for n in root if attr(n, "type") not in _NOTE_SEPARATORS]
            wrapper = etree.Element("notes")
            wrapper.extend(notes)
            root = wrapper
        doc.story(root, prefix + posixpath.splitext(posixpath.basename(name))[0], role)
        yield from doc.out
    yield from _drawings_text(package, folder)
    yield from _document_variables(package, main)
    yield from _embedded(package, main)
    yield from package.check_unread()


def _document_variables(package: Package, main: str) -> Iterator[Segment]:
    """Document variables (w:docVar in the settings part): strings a document carries for its macros and fields."""
    settings = package.related(main, "settings") or [n for n in ["word/settings.xml"] if package.find(n)]
    root = package.optional_xml(settings[0]) if settings else None
    variables = [node for node in root.iter() if local(node.tag) == "docVar"] if root is not None else []
    lines = [f"{attr(node, 'name') or ''}: {attr(node, 'val') or ''}" for node in variables]
    if lines:
        yield Segment("\n".join(lines), package.prefix + "variables", Role.METADATA)


def _word_stories(package: Package, main: str) -> list[tuple[str, Role]]:
    """The parts holding headers, footers, notes and comments: those the document points at, and any others of
    those names beside it (a story nothing points at still leaves with the file)."""
    by_type = {
        "header": Role.HEADER,
        "footer": Role.FOOTER,
        "footnotes": Role.NOTE,
        "endnotes": Role.NOTE,
        "comments": Role.NOTE,
    }
    stories = {name: by_type[kind] for kind in by_type for name in package.related(main, kind)}
    folder = posixpath.dirname(main)
    for name in package.names:
        role = next((role for pattern, role in _WORD_STORIES if pattern.fullmatch(posixpath.basename(name))), None)
        if role is not None and posixpath.dirname(name) == folder:
            stories.setdefault(name, role)
    return sorted(stories.items(), key=lambda item: _natural(item[0]))


def _first(element: etree._Element, name: str) -> etree._Element | None:
    return next((child for child in element if local(child.tag) == name), None)


def _natural(name: str) -> list[object]:
    """header2 before header10."""
    return [int(piece) if piece.isdigit() else piece for piece in re.split(r"(\d+)", name)]


def _open(data: bytes, prefix: str, ctx: Context, default: str) -> tuple[Package, str, etree._Element]:
    """The package, the name of its main part and that part parsed."""
    package = Package(data, ctx, prefix)
    main = _main_part(package, default)
    return package, main, package.xml(main)


def _main_part(package: Package, default: str) -> str:
    """The part the package's root relationship names as the document, or the usual name."""
    for rel in package.relationships(""):
        if rel.type == "officeDocument" and not rel.external and (found := package.find(rel.target)):
            return found
    found = package.find(default)
    if found is None:
        raise Unscannable("corrupt", msg("The package has no main document part ({part}).", part=default))
    return found


def _drawings_text(package: Package, folder: str) -> Iterator[Segment]:
    """Text drawn in charts, SmartArt diagrams and (in Excel) drawing shapes: titles and labels."""
    for kind in ("charts", "diagrams", "drawings"):
        for name in sorted(package.names, key=_natural):
            stem = posixpath.basename(name)
            if posixpath.dirname(name) != f"{folder}/{kind}" or not stem.endswith(".xml"):
                continue
            if kind == "diagrams" and not stem.startswith("data"):
                continue  # diagrams/drawing*.xml repeats data*.xml as rendered shapes
            root = package.optional_xml(name)
            lines = paragraphs(root) if root is not None else []
            if lines:
                yield Segment("\n".join(lines), package.prefix + stem.removesuffix(".xml"), Role.TEXTBOX)


def _embedded(package: Package, main: str) -> Iterator[Segment]:
    """Embedded documents and objects (OLE objects too), alternative-format chunks (the HTML, RTF or documents a
    docx shows in place of an altChunk) and media, each read through the dispatcher like any container member."""
    folder = posixpath.dirname(main)
    yield from package.descend_folder(f"{folder}/embeddings")
    chunks = set(package.related(main, "aFChunk")) | {name for name in package.names if "afchunk" in name.lower()}
    for name in sorted(chunks - {n for n in package.names if n.lower().startswith(f"{folder}/embeddings/".lower())}):
        yield from package.descend(name)
    for name in package.names:
        if name.lower().startswith(f"{folder}/media/".lower()):
            data = package.read_or_report(name)
            if data is not None:
                yield from read_media(data, name, package.prefix, package.ctx)


# ---------------------------------------------------------------- Excel

_HEADER_CODES = re.compile(r'&"[^"]*"|&K[0-9A-Fa-f]{6}|&K\d\d[+-]\d{3}|&\d+|&[LCR]|&[PNDTFAZGBIUESXYH]|&(?=&)')
_LONG_STRING = 4096
_HEADER_KINDS = {
    "oddHeader": Role.HEADER,
    "evenHeader": Role.HEADER,
    "firstHeader": Role.HEADER,
    "oddFooter": Role.FOOTER,
    "evenFooter": Role.FOOTER,
    "firstFooter": Role.FOOTER,
}


def header_footer_text(code: str) -> str:
    """A header/footer as printed, without its codes: the left, centre and right sections become lines."""
    sections = re.split(r"&[LCR]", code)
    lines = [_HEADER_CODES.sub("", section).replace("&&", "&").strip() for section in sections]
    return "\n".join(line for line in lines if line)


def _shared_strings(package: Package, workbook: str) -> list[str]:
    names = package.related(workbook, "sharedStrings") or [n for n in ["xl/sharedStrings.xml"] if package.find(n)]
    if not names:
        return []
    name = package.find(names[0]) or names[0]
    # Phonetic guides (rPh) repeat the reading of the text in kana; they are not the text.
    return [_string_item(item) for item in iter_xml(package.read(name), package.prefix + name, ("si",))]


def _string_item(item: etree._Element) -> str:
    return "".join(
        node.text or "" for node in item.iter() if local(node.tag) == "t" and local(node.getparent().tag) != "rPh"
    )


def read_xlsx(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    """Every sheet's cells (shared and inline strings), sheet names, headers and footers, comments and shapes."""
    package, workbook, book = _open(data, prefix, ctx, "xl/workbook.xml")
    yield from office_properties(package)
    shared = _shared_strings(package, workbook)
    targets = _targets(package, workbook)
    said: dict[int, int] = {}  # long shared strings already yielded, with how many cells repeat each
    for sheet in (node for node in book.iter() if local(node.tag) == "sheet"):
        name = attr(sheet, "name") or ""
        yield Segment(name, prefix + f"sheet:{name}", Role.TITLE)
        target = targets.get(_rel_id(sheet))
        found = package.find(target) if target else None
        if found is None:
            continue
        yield from _sheet(package, found, name, shared, said)
        for kind in ("comments", "threadedComment"):
            for comments in package.related(found, kind):
                root = package.optional_xml(comments)
                if root is not None:
                    yield from _comments(root, prefix + f"sheet:{name}!")
    yield from _defined_names(book, prefix)
    yield from _drawings_text(package, posixpath.dirname(workbook))
    yield from _embedded(package, workbook)
    yield from package.check_unread()
    _check_repeats(package, shared, said)


def _defined_names(book: etree._Element, prefix: str) -> Iterator[Segment]:
    """Named ranges and constants (Formulas > Name Manager), hidden ones too: a name and what it stands for."""
    lines = [
        f"{attr(node, 'name') or ''}: {node.text or ''}".strip()
        for node in book.iter()
        if local(node.tag) == "definedName"
    ]
    if lines:
        yield Segment("\n".join(lines), prefix + "defined-names", Role.METADATA)


def _check_repeats(package: Package, shared: list[str], said: dict[int, int]) -> None:
    """Long strings repeated by many cells are read once, but a workbook that would expand past the file's limit
    if they were read as often as they are shown is a text bomb (quadratic blow-up), whatever we made of it."""
    expanded = sum(len(shared[index]) * repeats for index, repeats in said.items())
    limit = package.ctx.limits.max_total_bytes
    if expanded > limit:
        detail = msg(
            "{cells} cells repeat long shared strings: {size} characters shown, over {limit}.",
            cells=sum(said.values()),
            size=expanded,
            limit=limit,
        )
        package.ctx.problem("max_total_bytes", detail, package.prefix + "sharedStrings")


def _rel_id(element: etree._Element) -> str:
    """r:id, whichever relationships namespace (transitional or strict) it is in."""
    return next((value for key, value in element.attrib.items() if key.endswith("}id")), "")


def _targets(package: Package, source: str) -> dict[str, str]:
    """Relationship id to target part, for the parts that name their children by r:id (sheets, slides)."""
    return {rel.id: rel.target for rel in package.relationships(source) if not rel.external}


def _sheet(package: Package, name: str, sheet: str, shared: list[str], said: dict[int, int]) -> Iterator[Segment]:
    """The cells of one sheet, streamed; `said` holds the long shared strings already yielded by any sheet."""
    prefix = package.prefix + f"sheet:{sheet}!"
    missing = 0  # cells naming a shared string the table does not have: their text is lost
    for node in iter_xml(package.read(name), package.prefix + name, ("c", "row", *_HEADER_KINDS)):
        kind = local(node.tag)
        if kind == "row":
            continue  # streamed past so that the rows read are freed
        if kind in _HEADER_KINDS:
            text = header_footer_text(node.text or "")
            if text:
                yield Segment(text, prefix + kind, _HEADER_KINDS[kind])
            continue
        value, index = _cell_value(node, shared)
        if value is None:
            missing += 1
            continue
        if index is not None and len(value) > _LONG_STRING:
            # One long string referenced by a million cells is a text bomb: read it once.
            if index in said:
                said[index] += 1
                continue
            said[index] = 0
        if value.strip():
            package.ctx.charge(len(value), prefix + (node.get("r") or "?"))
            yield Segment(value, prefix + (node.get("r") or "?"), Role.CELL)
    if missing:
        detail = msg(
            "{cells} cells name shared strings that the table of {count} does not have.",
            cells=missing,
            count=len(shared),
        )
        package.ctx.problem("corrupt", detail, prefix.rstrip("!"))


def _cell_value(cell: etree._Element, shared: list[str]) -> tuple[str | None, int | None]:
    """The text of a cell (None if it names a shared string that does not exist), and the string's index."""
    kind = cell.get("t")
    if kind == "inlineStr":
        return "".join(_string_item(child) for child in cell if local(child.tag) == "is"), None
    value = next((child.text or "" for child in cell if local(child.tag) == "v"), "")
    if kind == "s" and value.strip():
        try:
            return shared[int(value)], int(value)
        except (ValueError, IndexError):
            return None, None
    return value, None


def _comments(root: etree._Element, prefix: str) -> Iterator[Segment]:
    for comment in root.iter():
        name = local(comment.tag)
        if name in ("comment", "threadedComment"):
            text = text_of(comment, frozenset({"t", "text"})).strip()
            if text:
                yield Segment(text, prefix + (comment.get("ref") or "?") + ".comment", Role.NOTE)


# ---------------------------------------------------------------- PowerPoint

_FOOTER_PLACEHOLDERS = frozenset({"ftr", "dt", "sldNum", "hdr"})
_TITLES = frozenset({"title", "ctrTitle"})


def _slide_text(root: etree._Element, layout: dict[str, int] | None = None) -> tuple[list[str], list[str]]:
    """A slide's lines, shapes from the top down, and separately its footer placeholders (footer, date, number).

    Shapes are stored in the order they were added: a mark put at the top of a finished slide comes last.
    Placeholders without a position of their own take it from the layout (`layout`, see _placeholder_tops).
    """
    shapes: list[tuple[int, int, bool, list[str]]] = []
    top = -1
    for order, shape in enumerate(node for node in root.iter() if local(node.tag) in ("sp", "graphicFrame")):
        placeholder = next((node for node in shape.iter() if local(node.tag) == "ph"), None)
        kind = placeholder.get("type") if placeholder is not None else None
        offset = _top(shape)
        if offset is None and placeholder is not None:
            known = [(layout or {}).get(key) for key in _placeholder_keys(placeholder)]
            offset = next((y for y in known if y is not None), -1 if kind in _TITLES else None)
        top = top if offset is None else offset
        shapes.append((top, order, kind in _FOOTER_PLACEHOLDERS, paragraphs(shape)))
    shapes.sort(key=lambda shape: shape[:2])
    body = [line for _, _, footer, lines in shapes if not footer for line in lines]
    footer = [line for _, _, footer, lines in shapes if footer for line in lines]
    return body, footer


def _top(shape: etree._Element) -> int | None:
    """A shape's distance from the top of the slide (a:off y, in EMU), if it has a position of its own."""
    offset = next((node for node in shape.iter() if local(node.tag) == "off"), None)
    try:
        return int(offset.get("y") or "") if offset is not None else None
    except ValueError:
        return None


def _placeholder_keys(placeholder: etree._Element) -> list[str]:
    """How a placeholder is matched with its layout's and master's: by index, then by type (body by default)."""
    kind = placeholder.get("type") or "body"
    idx = placeholder.get("idx")
    return ([f"idx:{idx}"] if idx is not None else []) + [f"type:{'body' if kind == 'obj' else kind}"]


def _placeholder_tops(package: Package, slide: str) -> dict[str, int]:
    """Where the slide's layout, or failing that its master, puts each placeholder, by index and by type."""
    tops: dict[str, int] = {}
    layouts = package.related(slide, "slideLayout")[:1]
    for source in layouts + [m for layout in layouts for m in package.related(layout, "slideMaster")[:1]]:
        root = package.optional_xml(source)
        for shape in root.iter() if root is not None else ():
            placeholder = next((node for node in shape.iter() if local(node.tag) == "ph"), None)
            offset = _top(shape) if local(shape.tag) == "sp" and placeholder is not None else None
            if placeholder is not None and offset is not None:
                for key in _placeholder_keys(placeholder):
                    tops.setdefault(key, offset)
    return tops


def read_pptx(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    """Every slide (page = slide number) with its notes, then comments, masters, layouts, charts and diagrams."""
    package, presentation, root = _open(data, prefix, ctx, "ppt/presentation.xml")
    yield from office_properties(package)
    targets = _targets(package, presentation)
    slide_ids = [_rel_id(node) for node in root.iter() if local(node.tag) == "sldId"]
    slides = [targets[rid] for rid in slide_ids if rid in targets]
    if not slide_ids:
        slides = sorted((n for n in package.names if re.fullmatch(r"ppt/slides/slide\d+\.xml", n)), key=_natural)
    for number, slide in enumerate(slides, 1):
        found = package.find(slide)
        tree = package.optional_xml(found)
        if found is None or tree is None:
            continue
        layout = _placeholder_tops(package, found)
        yield from _slide_segments(tree, prefix + f"slide{number}", Role.BODY, number, layout)
        for notes in package.related(found, "notesSlide"):
            notes_root = package.optional_xml(notes)
            if notes_root is not None:
                lines, _ = _slide_text(notes_root)
                if lines:
                    yield Segment("\n".join(lines), prefix + f"slide{number}.notes", Role.NOTE, number)
        for comments in package.related(found, "comments"):
            comments_root = package.optional_xml(comments)
            if comments_root is not None:
                text = "\n".join(text_of(c, frozenset({"t", "text"})) for c in comments_root)
                if text.strip():
                    yield Segment(text.strip(), prefix + f"slide{number}.comments", Role.NOTE, number)
    folder = posixpath.dirname(presentation)
    for kind, part in (
        ("slideMasters", "master"),
        ("slideLayouts", "layout"),
        ("notesMasters", "notesmaster"),
        ("handoutMasters", "handoutmaster"),
    ):
        for name in sorted(package.names, key=_natural):
            if posixpath.dirname(name) == f"{folder}/{kind}" and name.endswith(".xml"):
                tree = package.optional_xml(name)
                if tree is not None:
                    digits = re.sub(r"\D", "", posixpath.basename(name))
                    yield from _slide_segments(tree, prefix + f"{part}{digits}", Role.HEADER, None)
    yield from _drawings_text(package, folder)
    yield from _embedded(package, presentation)
    yield from package.check_unread()


def _slide_segments(
    root: etree._Element, part: str, role: Role, page: int | None, layout: dict[str, int] | None = None
) -> Iterator[Segment]:
    body, footer = _slide_text(root, layout)
    if body:
        yield Segment("\n".join(body), part, role, page)
    if footer:
        yield Segment("\n".join(footer), part + ".footer", Role.FOOTER, page)
