"""Zip packages of XML parts (OOXML, OFD): bounded reads, hostile-XML-safe parsing and part-name resolution.

Every part is charged against the file's limits before it is inflated, and no part may carry a DTD.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import unquote

from lxml import etree

from scanner.extract.base import Context, Unscannable
from scanner.i18n import Message, msg
from scanner.model import Role, Segment

# Entities are never expanded and nothing is fetched; a DTD is refused before parsing (see _refuse_dtd).
_PARSER_OPTIONS = {"resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": False}
# Small members cannot be bombs whatever their ratio; only large ones are held to the ratio limit.
_RATIO_FLOOR = 1024 * 1024
_DOCTYPES = tuple("<!DOCTYPE".encode(codec) for codec in ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"))
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, ValueError, RuntimeError)

_DTD = msg("An XML part declares a DTD: entity expansion is refused.")
# Parts of XML that hold no text for us but are still checked (see Package.check_unread); media are not.
_XML_PARTS = (".xml", ".rels", ".vml")
# Parts that hold formatting and bookkeeping, never text a person wrote: not read for text when nothing led to them.
_NO_TEXT_PARTS = re.compile(
    r"(^|/)(\[content_types\]\.xml|_rels/|styles|theme|settings|fonttable|websettings|calcchain|presprops|"
    r"viewprops|tablestyles|commentauthors|people|numbering|printersettings|customxml/itemprops|docprops/)"
)
_TEXT_ATTRIBUTES = frozenset({"v", "val", "name", "caption", "title", "descr", "displayName", "uniqueName", "text"})
# A schema in an Excel XML map that pulls in another from a URL (xs:import/include/redefine): XXE by schema.
_EXTERNAL_SCHEMA = re.compile(rb"""schemaLocation\s*=\s*["'][A-Za-z][A-Za-z0-9+.-]*:""")


def local(tag: object) -> str:
    """The local name of an element's tag: namespaces differ between transitional and strict OOXML."""
    if not isinstance(tag, str):
        return ""  # comments and processing instructions
    return tag.rpartition("}")[2]


def attr(element: etree._Element, name: str) -> str | None:
    """An attribute by local name, whatever its namespace (w:val, r:id, plain Name)."""
    value = element.get(name)
    if value is not None:
        return value
    for key, value in element.attrib.items():
        if local(key) == name:
            return value
    return None


def _refuse_dtd(data: bytes, part: str) -> None:
    """OOXML and OFD parts never need a DTD; one is how entity bombs and external entities get in. Looked for in the
    bytes before parsing, in the encodings a part may be in, and again in what the parser found (_refuse_parsed_dtd),
    whatever encoding the part declared."""
    if any(doctype in data for doctype in _DOCTYPES):
        raise Unscannable("xml_entities", _DTD, part)


def malformed(part: str) -> Message:
    return msg("Malformed XML in {part}.", part=part)


def _refuse_parsed_dtd(tree: etree._ElementTree, part: str) -> None:
    docinfo = tree.docinfo
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None or docinfo.doctype:
        raise Unscannable("xml_entities", _DTD, part)


def parse_xml(data: bytes, part: str) -> etree._Element:
    """Parse one XML part safely, or raise Unscannable (xml_entities or corrupt)."""
    _refuse_dtd(data, part)
    try:
        root = etree.fromstring(data, parser=etree.XMLParser(**_PARSER_OPTIONS))
    except etree.XMLSyntaxError as exc:
        raise Unscannable("corrupt", malformed(part), part, str(exc)) from None
    if root is None:
        raise Unscannable("corrupt", msg("The XML part {part} is empty.", part=part), part)
    _refuse_parsed_dtd(root.getroottree(), part)
    return root


def iter_xml(data: bytes, part: str, tags: Iterable[str]) -> Iterator[etree._Element]:
    """Stream the elements with the given local names from a large part, freeing each after it is used."""
    _refuse_dtd(data, part)
    # lxml filters the tags itself ("{*}c": any namespace), so Python sees only the elements asked for.
    wanted = [f"{{*}}{tag}" for tag in tags]
    events = etree.iterparse(io.BytesIO(data), events=("end",), tag=wanted, **_PARSER_OPTIONS)
    try:
        for _, element in events:
            yield element
            element.clear(keep_tail=True)
            parent = element.getparent()
            while parent is not None and element.getprevious() is not None:
                del parent[0]  # the elements read before this one are done with too
    except etree.XMLSyntaxError as exc:
        raise Unscannable("corrupt", malformed(part), part, str(exc)) from None
    if events.root is not None:
        _refuse_parsed_dtd(events.root.getroottree(), part)


@dataclass(frozen=True)
class Relationship:
    id: str
    type: str  # the last path segment of the relationship type: officeDocument, header, slide, ...
    target: str  # resolved part name inside the package, or the external URL
    external: bool


class Package:
    """A zip of parts, read within the context's limits. Part names are looked up case-insensitively."""

    def __init__(self, data: bytes, ctx: Context, prefix: str) -> None:
        self.ctx = ctx
        self.prefix = prefix
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self._zip.infolist()
        except _ZIP_ERRORS as exc:
            raise Unscannable("corrupt", msg("This is not a readable zip package."), cause=str(exc)) from None
        if len(infos) > ctx.limits.max_members:
            many = msg("{count} parts, over the limit of {limit}.", count=len(infos), limit=ctx.limits.max_members)
            raise Unscannable("max_members", many)
        self._infos = {info.filename.replace("\\", "/").lstrip("/").lower(): info for info in infos}
        self.names = [info.filename.replace("\\", "/").lstrip("/") for info in infos if not info.is_dir()]
        self._relationships: dict[str, list[Relationship]] = {}
        self._read: set[str] = set()  # lower-cased names of the parts read so far
        content_types = self.find("[Content_Types].xml")
        if content_types is not None:
            _refuse_dtd(self.read(content_types), prefix + content_types)

    def find(self, name: str) -> str | None:
        """The package's own spelling of part `name` (with / for any \\ it wrote: paths are worked out from it), or
        None."""
        info = self._infos.get(name.replace("\\", "/").lstrip("/").lower())
        return None if info is None or info.is_dir() else info.filename.replace("\\", "/").lstrip("/")

    def read(self, name: str) -> bytes:
        """The bytes of part `name` (which must exist), charged to the limits; Unscannable if it cannot be read."""
        info = self._infos[name.replace("\\", "/").lstrip("/").lower()]
        part = self.prefix + name
        if info.flag_bits & 0x1:
            raise Unscannable("encrypted", msg("The part {part} is encrypted.", part=name), part)
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > _RATIO_FLOOR and ratio > self.ctx.limits.max_ratio:
            inflates = msg("The part {part} inflates {ratio} times.", part=name, ratio=f"{ratio:.0f}")
            raise Unscannable("max_ratio", inflates, part)
        self.ctx.charge(info.file_size, part)
        self._read.add(info.filename.replace("\\", "/").lstrip("/").lower())
        try:
            return self._zip.read(info)
        except _ZIP_ERRORS as exc:
            raise Unscannable(
                "corrupt", msg("The part {part} cannot be inflated.", part=name), part, str(exc)
            ) from None

    def xml(self, name: str) -> etree._Element:
        return parse_xml(self.read(name), self.prefix + name)

    def optional_xml(self, name: str | None) -> etree._Element | None:
        """A part that may be missing or broken without making the whole file unreadable.

        A broken one is reported as a problem; a DTD still makes the whole file unscannable.
        """
        found = self.find(name) if name else None
        if found is None:
            return None
        try:
            return self.xml(found)
        except Unscannable as exc:
            if exc.reason in ("corrupt", "encrypted"):
                self.ctx.problem(exc.reason, exc.detail, exc.part or self.prefix + found, exc.cause)
                return None
            raise

    def relationships(self, source: str) -> list[Relationship]:
        """The relationships of part `source` ("" for the package), targets resolved to part names."""
        if source not in self._relationships:
            self._relationships[source] = self._read_relationships(source)
        return self._relationships[source]

    def _read_relationships(self, source: str) -> list[Relationship]:
        folder, _, base = source.rpartition("/")
        root = self.optional_xml(posixpath.join(folder, "_rels", base + ".rels"))
        if root is None:
            return []
        out = []
        for rel in root:
            target, kind = rel.get("Target"), rel.get("Type") or ""
            if not target:
                continue
            external = (rel.get("TargetMode") or "").lower() == "external"
            if not external:
                target = resolve(folder, target)
            out.append(Relationship(rel.get("Id") or "", kind.rstrip("/").rpartition("/")[2], target, external))
        return out

    def related(self, source: str, kind: str) -> list[str]:
        """Existing parts that `source` points at with relationship type `kind`, in the rels file's order."""
        return [
            found
            for rel in self.relationships(source)
            if rel.type == kind and not rel.external
            if (found := self.find(rel.target)) is not None
        ]

    def check_unread(self) -> Iterator[Segment]:
        """What the text did not need is still part of the file: every XML part must inflate (its CRC holds) and
        carry no DTD, an XML map may not pull a schema from outside, and every part a relationship names must exist.
        A part that cannot be read or is missing is a problem; a DTD or external schema makes the file unscannable.
        A part nothing led the reader to (an orphaned slide or sheet, a part named in a way it did not expect)
        still leaves the office with the file: its text is yielded, as plain lines."""
        for name in self.names:
            lower = name.lower()
            if lower in self._read or not lower.endswith(_XML_PARTS):
                continue
            data = self.read_or_report(name)
            if data is None:
                continue
            _refuse_dtd(data, self.prefix + name)
            if lower.endswith("xmlmaps.xml") and _EXTERNAL_SCHEMA.search(data):
                detail = msg("An XML map's schema pulls in another from outside the file.")
                raise Unscannable("xml_entities", detail, self.prefix + name)
            if not _NO_TEXT_PARTS.search(lower):
                yield from self._plain_text(data, name)
        for name in [n for n in self.names if n.lower().endswith(".rels")]:
            folder, _, base = name.rpartition("/")
            source = posixpath.join(posixpath.dirname(folder), base.removesuffix(".rels"))
            for rel in self.relationships(source.lstrip("/")):
                target = rel.target.partition("#")[0]
                if not rel.external and target and self.find(target) is None and self.find(unquote(target)) is None:
                    detail = msg(
                        "{part} names a part {target} ({kind}) that is not in the package.",
                        part=name,
                        target=rel.target,
                        kind=rel.type,
                    )
                    self.ctx.problem("corrupt", detail, self.prefix + rel.target)

    def _plain_text(self, data: bytes, name: str) -> Iterator[Segment]:
        try:
            root = parse_xml(data, self.prefix + name)
        except Unscannable as exc:
            self.ctx.problem(exc.reason, exc.detail, exc.part or self.prefix + name, exc.cause)
            return
        lines = [text.strip() for text in root.itertext() if text.strip()]
        lines += [value.strip() for element in root.iter() for value in _text_attributes(element)]
        if lines:
            yield Segment("\n".join(lines), self.prefix + name, Role.BODY)

    def descend_folder(self, folder: str) -> Iterator[Segment]:
        """Read every embedded file under `folder` (documents inside documents) through the dispatcher."""
        folder = folder.rstrip("/").lower() + "/"
        for name in self.names:
            if name.lower().startswith(folder):
                yield from self.descend(name)

    def descend(self, name: str, called: str | None = None) -> Iterator[Segment]:
        """Read part `name` as a file of its own (`called` that, if it has a better name) through the dispatcher."""
        data = self.read_or_report(name)
        if data is not None:
            yield from self.ctx.descend(data, called or name, self.prefix)

    def read_or_report(self, name: str) -> bytes | None:
        """Part `name`, or None when it is damaged or encrypted (a problem of its own; over a limit still raises)."""
        try:
            return self.read(name)
        except Unscannable as exc:
            if exc.reason not in ("corrupt", "encrypted"):
                raise
            self.ctx.problem(exc.reason, exc.detail, exc.part, exc.cause)
            return None


def _text_attributes(element: etree._Element) -> Iterator[str]:
    """Attribute values that hold text someone wrote: cached values (a pivot cache's <s v="...">), names, captions,
    titles and descriptions, and any value with characters past ASCII. Identifiers and numbers are left out."""
    for key, value in element.attrib.items():
        if value.strip() and (local(key) in _TEXT_ATTRIBUTES or not value.isascii()):
            yield value


def resolve(folder: str, target: str) -> str:
    """A relative part reference resolved against the folder of the part that makes it ('/x' is from the root)."""
    target = target.replace("\\", "/")
    path = target.lstrip("/") if target.startswith("/") else posixpath.join(folder, target)
    return posixpath.normpath(path).lstrip("/") if path else path


def text_of(element: etree._Element, names: frozenset[str] = frozenset({"t"})) -> str:
    """The text of the descendants of `element` with the given local names, concatenated in document order."""
    return "".join(node.text or "" for node in element.iter() if local(node.tag) in names)


def paragraphs(element: etree._Element) -> list[str]:
    """DrawingML text (a:p of a:r/a:t, a:br) as one line per paragraph: slides, shapes, charts, diagrams."""
    lines: list[str] = []
    current: list[str] = []
    for node in element.iter():
        name = local(node.tag)
        if name == "t" and node.text:
            current.append(node.text)
        elif name == "br":
            current.append("\n")
        elif name == "p" and current:
            # iter() visits a:p before its runs: a new paragraph flushes the previous one.
            lines.append("".join(current))
            current = []
    if current:
        lines.append("".join(current))
    return [line for line in lines if line.strip()]


PROPERTY_ROLES = {
    "title": Role.TITLE,
    "subject": Role.METADATA,
    "keywords": Role.METADATA,
    "description": Role.METADATA,
    "category": Role.METADATA,
    "contentStatus": Role.METADATA,
    "creator": Role.METADATA,
    "lastModifiedBy": Role.METADATA,
    "Company": Role.METADATA,
    "Manager": Role.METADATA,
}


def office_properties(package: Package) -> Iterator[Segment]:
    """Core, extended and custom document properties (title, subject, keywords, 密级 as a custom property)."""
    prefix = package.prefix
    package_rels = {rel.type: rel.target for rel in package.relationships("") if not rel.external}
    core = package.optional_xml(package_rels.get("core-properties", "docProps/core.xml"))
    app = package.optional_xml(package_rels.get("extended-properties", "docProps/app.xml"))
    for root in (core, app):
        if root is None:
            continue
        for child in root:
            name = local(child.tag)
            value = (child.text or "").strip() if name in PROPERTY_ROLES else ""
            if value:
                yield Segment(value, prefix + name, PROPERTY_ROLES[name])
    custom = package.optional_xml(package_rels.get("custom-properties", "docProps/custom.xml"))
    if custom is not None:
        for prop in custom:
            name = prop.get("name") or ""
            value = "".join(node.text or "" for node in prop.iter() if node is not prop).strip()
            if value or name:
                yield Segment(f"{name}: {value}", prefix + f"property:{name}", Role.METADATA)
