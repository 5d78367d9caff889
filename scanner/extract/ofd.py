"""OFD (GB/T 33190), the Chinese national fixed-layout format: pages, templates, annotations, metadata, attachments.

Watermarks such as 保密资料 are annotations in OFD, outside the page content: they are read as watermarks.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass

from lxml import etree

from scanner.extract.base import Context, Unscannable
from scanner.extract.garbled import garbled
from scanner.extract.xmlparts import Package, attr, local, resolve
from scanner.i18n import msg
from scanner.model import Role, Segment

_GUTTER = 2.0  # font sizes of empty space between two pieces of one baseline that make them separate lines
_MAX_NESTING = 4  # composite units inside composite units; deeper (or cyclic) ones are not expanded
_WATERMARKS = frozenset({"Watermark", "Stamp"})
_DOC_INFO_ROLES = {"Title": Role.TITLE, "Subject": Role.METADATA, "Abstract": Role.METADATA, "Author": Role.METADATA}


@dataclass(frozen=True)
class _Glyphs:
    """One TextCode: its text and where its baseline starts on the page (millimetres, y downwards)."""

    y: float
    x: float
    size: float
    text: str


def _numbers(value: str | None) -> list[float]:
    try:
        return [float(n) for n in (value or "").split()]
    except ValueError:
        return []


def _glyphs(root: etree._Element, units: dict[str, etree._Element], depth: int = 0) -> list[_Glyphs]:
    """Every TextCode of a page or graphic unit, with composite objects (text kept as a reusable unit) expanded."""
    out: list[_Glyphs] = []
    for node in root.iter():
        name = local(node.tag)
        box = [*_numbers(node.get("Boundary")), 0.0, 0.0]
        if name == "TextObject":
            size = (_numbers(node.get("Size")) or [3.0])[0]
            for code in node:
                if local(code.tag) == "TextCode" and code.text:
                    x, y = (_numbers(code.get("X")) or [0.0])[0], (_numbers(code.get("Y")) or [0.0])[0]
                    out.append(_Glyphs(box[1] + y, box[0] + x, size, code.text))
        elif name == "CompositeObject" and depth < _MAX_NESTING:
            unit = units.get(node.get("ResourceID") or "")
            if unit is not None:
                ctm = _numbers(node.get("CTM"))
                a, _, _, d, e, f = ctm if len(ctm) == 6 else [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]
                for g in _glyphs(unit, units, depth + 1):
                    out.append(_Glyphs(box[1] + f + d * g.y, box[0] + e + a * g.x, g.size * abs(d or 1.0), g.text))
    return out


def _joined(left: str, right: str) -> str:
    """Pieces of one line: they run on, except that two Latin words keep a space between them."""
    if left[-1:].isascii() and left[-1:].isalnum() and right[:1].isascii() and right[:1].isalnum():
        return left + " " + right
    return left + right


def layout_lines(glyphs: list[_Glyphs]) -> list[str]:
    """TextCodes arranged as they are seen: top to bottom, and left to right within a line.

    Generators write text objects in any order (often one per character), so the file's order says little.
    """
    lines: list[list[_Glyphs]] = []
    for piece in sorted(glyphs, key=lambda g: (g.y, g.x)):
        current = lines[-1] if lines else None
        if current is not None and abs(piece.y - current[0].y) <= max(0.5, min(piece.size, current[0].size) / 2):
            current.append(piece)
        else:
            lines.append([piece])
    out: list[str] = []
    for line in lines:
        text, end = "", None
        for piece in sorted(line, key=lambda g: g.x):
            # A wide gap on one baseline is a gutter between columns or cells: keep them apart.
            apart = end is not None and piece.x - end > _GUTTER * piece.size
            text = text + "\n" + piece.text if apart else _joined(text, piece.text)
            end = piece.x + _width(piece)
        out.extend(part for part in text.split("\n") if part.strip())
    return out


def _width(piece: _Glyphs) -> float:
    """Roughly how wide a TextCode is drawn: Chinese characters are square, others about half as wide."""
    return sum(piece.size if ch >= "\u2e80" else piece.size / 2 for ch in piece.text)


class _Document:
    """One DocBody: its Document.xml and the parts it points at, found even where generators write odd paths."""

    def __init__(self, package: Package, root_part: str, prefix: str) -> None:
        self.package = package
        self.folder = posixpath.dirname(root_part)
        self.prefix = prefix
        self.root = package.xml(root_part)
        self.units: dict[str, etree._Element] = {}
        for pointer in self.children("DocumentRes") + self.children("PublicRes"):
            resources = self.part_xml(pointer.text, "resources")
            if resources is not None:
                for unit in resources.iter():
                    if local(unit.tag) == "CompositeGraphicUnit":
                        self.units[unit.get("ID") or ""] = unit

    def find(self, location: str | None, folder: str | None = None) -> str | None:
        """A part named relative to `folder` (or the document), from the package root, or as a page folder."""
        if not location:
            return None
        location = location.strip()
        for base in (folder if folder is not None else self.folder, self.folder, ""):
            for candidate in (location, posixpath.join(location, "Content.xml")):
                found = self.package.find(resolve(base, candidate))
                if found is not None:
                    return found
        return None

    def part_xml(self, location: str | None, what: str, folder: str | None = None) -> etree._Element | None:
        found = self.find(location, folder)
        if found is None:
            if location:
                self.package.ctx.problem("corrupt", msg("{part} is missing.", part=location), self.prefix + what)
            return None
        return self.package.optional_xml(found)

    def children(self, name: str) -> list[etree._Element]:
        return [node for node in self.root.iter() if local(node.tag) == name]

    def segments(self) -> Iterator[Segment]:
        page_numbers: dict[str, int] = {}
        for number, page in enumerate(self.children("Page"), 1):
            page_numbers[page.get("ID") or ""] = number
            yield from self.content(page.get("BaseLoc"), f"page{number}", Role.BODY, number)
        for template in self.children("TemplatePage"):
            yield from self.content(template.get("BaseLoc"), f"template{template.get('ID') or ''}", Role.HEADER, None)
        yield from self.annotations(page_numbers)
        outline = [attr(node, "Title") or "" for node in self.children("OutlineElem")]
        if any(title.strip() for title in outline):
            yield Segment("\n".join(t for t in outline if t.strip()), self.prefix + "outline", Role.METADATA)
        yield from self.attachments()

    def content(self, location: str | None, part: str, role: Role, page: int | None) -> Iterator[Segment]:
        """The text of a page or template, top to bottom; a page whose glyphs have no Unicode is a problem."""
        root = self.part_xml(location, part)
        lines = layout_lines(_glyphs(root, self.units)) if root is not None else []
        text = "\n".join(lines)
        reason = garbled(text)
        if reason:
            self.package.ctx.problem("garbled", reason, self.prefix + part)
        if lines:
            yield Segment(text, self.prefix + part, role, page)

    def indexed(self, index_name: str) -> Iterator[tuple[etree._Element, str | None, str]]:
        """The entries of an index part (Annotations.xml, Attachments.xml): each with its FileLoc and the folder
        that FileLoc is relative to."""
        for pointer in self.children(index_name):
            index_part = self.find(pointer.text)
            index = self.package.optional_xml(index_part) if index_part else None
            if index is None or index_part is None:
                continue
            for entry in index:
                location = next((node.text for node in entry if local(node.tag) == "FileLoc"), None)
                yield entry, location, posixpath.dirname(index_part)

    def annotations(self, page_numbers: dict[str, int]) -> Iterator[Segment]:
        for page, location, folder in self.indexed("Annotations"):
            number = page_numbers.get(page.get("PageID") or "")
            part = self.prefix + f"page{number or '?'}.annotations"
            root = self.part_xml(location, part, folder)
            if root is not None:
                yield from _annotation_segments(root, part, number)

    def attachments(self) -> Iterator[Segment]:
        for attachment, location, folder in self.indexed("Attachments"):
            found = self.find(location, folder)
            if found is None:
                continue
            name = attachment.get("Name") or posixpath.basename(found)
            if "." not in name:
                name += posixpath.splitext(found)[1]
            yield from self.package.descend(found, name)


def _annotation_segments(root: etree._Element, part: str, page: int | None) -> Iterator[Segment]:
    """Watermark annotations as watermarks; the others (stamps, notes, links) as notes."""
    texts: dict[Role, list[str]] = {Role.WATERMARK: [], Role.NOTE: []}
    for annot in root.iter():
        if local(annot.tag) != "Annot":
            continue
        lines = texts[Role.WATERMARK if annot.get("Type") in _WATERMARKS else Role.NOTE]
        for node in annot.iter():
            name = local(node.tag)
            if name == "Remark" and node.text:
                lines.append(node.text)
            elif name == "TextObject":
                lines.append("".join(code.text or "" for code in node if local(code.tag) == "TextCode"))
    for role, lines in texts.items():
        unique = list(dict.fromkeys(line for line in lines if line.strip()))  # a watermark repeats across the page
        if unique:
            yield Segment(
                "\n".join(unique), part if role is Role.NOTE else part.replace("annotations", "watermark"), role, page
            )


def _doc_info(info: etree._Element, prefix: str) -> Iterator[Segment]:
    for node in info:
        name = local(node.tag)
        if name in _DOC_INFO_ROLES and (node.text or "").strip():
            yield Segment(node.text.strip(), prefix + name.lower(), _DOC_INFO_ROLES[name])
        elif name == "Keywords":
            keywords = [k.text.strip() for k in node if k.text and k.text.strip()]
            if keywords:
                yield Segment(" ".join(keywords), prefix + "keywords", Role.METADATA)
        elif name == "CustomDatas":
            for data in node:
                key = data.get("Name") or ""
                yield Segment(f"{key}: {data.text or ''}", prefix + f"property:{key}", Role.METADATA)


def read_ofd(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    """Every document of an OFD package: metadata, pages, templates, annotations, outline, attachments."""
    package = Package(data, ctx, prefix)
    entry = package.find("OFD.xml")
    if entry is None:
        raise Unscannable("corrupt", msg("The package has no OFD.xml entry point."))
    bodies = [node for node in package.xml(entry) if local(node.tag) == "DocBody"]
    if not bodies:
        raise Unscannable("corrupt", msg("OFD.xml names no document."))
    if package.find("Encryptions.xml") is not None:
        raise Unscannable("encrypted", msg("The OFD package is encrypted (GM/T 0099)."))
    for number, body in enumerate(bodies, 1):
        doc_prefix = prefix if number == 1 else prefix + f"doc{number}."
        for node in body:
            if local(node.tag) == "DocInfo":
                yield from _doc_info(node, doc_prefix)
        root_part = next((node.text for node in body if local(node.tag) == "DocRoot" and node.text), None)
        found = package.find(resolve("", root_part)) if root_part else None
        if found is None:
            no_root = msg("Document {number} has no Document.xml ({part}).", number=number, part=root_part or "")
            raise Unscannable("corrupt", no_root)
        yield from _Document(package, found, doc_prefix).segments()
