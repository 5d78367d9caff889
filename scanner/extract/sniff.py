"""What a file is, judged by its content: magic bytes first, then the structure inside containers (zip, OLE).

The name only refines what the content already says (an OLE word-processing file called .wps is WPS's flavour).
"""

from __future__ import annotations

import io
import re
import zipfile

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x5d\x00\x00", "lzma"),  # the "alone" format of lzma-utils
    (b"\x1f\x9d", "compress"),  # Unix compress (.Z)
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"\xd7\xcd\xc6\x9a", "wmf"),  # a placeable metafile
    (b"\x01\x00\x09\x00\x00\x03", "wmf"),
    (b"\x02\x00\x09\x00\x00\x03", "wmf"),
    (b"II\xbc\x01", "jxr"),
    (b"SQLite format 3\x00", "sqlite"),
)
_MAGIC_PREFIXES = tuple(magic for magic, _ in _MAGIC)
_WPS_SUFFIXES = (".wps", ".wpt", ".et", ".ett", ".dps", ".dpt")
# A mail message opens with header fields; these are the ones that show it is one rather than a note with a colon.
_MAIL_HEADERS = re.compile(
    rb"^(received|return-path|from|to|cc|subject|date|message-id|mime-version|content-type|delivered-to|"
    rb"reply-to|x-[a-z0-9-]+|dkim-signature|authentication-results|sender|in-reply-to|references|thread-topic)"
    rb"[ \t]*:",
    re.IGNORECASE,
)
_FIELD = re.compile(rb"^[!-9;-~]+:")
# A PDF that lost its header still opens with its objects or its trailer; readers recover such files.
_PDF_OBJECT = re.compile(rb"^\s*(%[^\n]*\n\s*)*(\d+\s+\d+\s+obj\s*<<|trailer\s*<<)")
_PDF_HEADER = re.compile(rb"%PDF-\d\.\d")
_PDF_OBJECT_ANYWHERE = re.compile(rb"\d+[ \t\r\n]+\d+[ \t\r\n]+obj\b")
# How far into a file its header block is followed, at most (mail servers limit a header to far less).
_MAIL_HEAD = 16 << 20
_HTML = re.compile(rb"<(!doctype\s+html|html[\s>]|head[\s>]|body[\s>])", re.IGNORECASE)


def sniff(data: bytes, name: str = "") -> str:
    """A format name: text, html, eml, mbox, docx, xlsx, pptx, ooxml-encrypted, ole-doc, ole-xls, ole-ppt, msg,
    wps, odf, ole, rtf, pdf, ofd,
    zip, tar, gzip, bzip2, xz, lzma, compress, 7z, rar, png, jpeg, gif, tiff, bmp, webp, emf, wmf, jxr,
    sqlite."""
    head = data[:1024]
    if data.startswith(_OLE):
        return _ole_format(data, name)
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return _zip_format(data)
    if data.startswith(_MAGIC_PREFIXES):  # one test for all of them first: most files are none of these
        return next(fmt for magic, fmt in _MAGIC if data.startswith(magic))
    if data[:16].lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{\\rtf"):
        return "rtf"
    if _looks_like_pdf(data):
        return "pdf"
    if len(data) > 262 and data[257:262] == b"ustar":
        return "tar"
    if data.startswith(b"\x01\x00\x00\x00") and data[40:44] == b" EMF":
        return "emf"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith(b"BM") and len(data) > 14 and int.from_bytes(data[2:6], "little") == len(data):
        return "bmp"
    if data.startswith(b"From ") and (newline := data.find(b"\n", 0, _MAIL_HEAD)) > 0:
        return "mbox" if _MAIL_HEADERS.match(data[newline + 1 : newline + 256]) else "text"
    if _looks_like_mail(data):
        return "eml"
    if _looks_like_html(head):
        return "html"
    return "text"


def _looks_like_html(head: bytes) -> bool:
    """An html, head or body tag or an HTML doctype first, after any byte-order mark, blanks and comments."""
    rest = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    while rest.startswith(b"<!--"):
        end = rest.find(b"-->")
        if end < 0:
            return False
        rest = rest[end + 3 :].lstrip()
    return _HTML.match(rest) is not None


def _looks_like_pdf(data: bytes) -> bool:
    """A PDF header at the start; or further into the first KiB (readers skip what comes before it) of a file that has
    PDF objects; or, with the header lost, objects or a trailer first. A text that only mentions %PDF- is a text."""
    head = data[:1024]
    if data.startswith(b"%PDF-") or _PDF_OBJECT.match(head):
        return True
    # The literal part of the header looked for first (memchr), the pattern only where it stands: most text has none.
    return b"%PDF-" in head and _PDF_HEADER.search(head) is not None and _PDF_OBJECT_ANYWHERE.search(data) is not None


def _looks_like_mail(data: bytes) -> bool:
    """An RFC 5322 header block: fields (a name and a colon, continued on lines that open with a blank) up to an empty
    line, one of them a field mail has; or two of them when the block goes on past what we look at. However long a
    field is: a message whose Subject fills the first KiB is still a message."""
    if not _FIELD.match(data):
        return False
    known = 0
    start = 0
    while start < min(len(data), _MAIL_HEAD):
        end = data.find(b"\n", start)
        if end < 0:
            return False
        line = data[start:end].rstrip(b"\r")
        start = end + 1
        if not line:
            return known >= 1
        if line[:1] in (b" ", b"\t"):
            continue
        if _MAIL_HEADERS.match(line):
            known += 1
        elif not _FIELD.match(line):
            return False
    return known >= 2


def _zip_format(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            listed = zf.namelist()
            mimetype = zf.read("mimetype")[:100] if "mimetype" in listed else b""
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError):
        return _broken_zip_format(data)
    # Some generators write part names with backslashes and in lower case (POI 49609); Office opens them anyway.
    names = {n.replace("\\", "/").lower() for n in listed}
    if "[content_types].xml" in names:
        for folder, fmt in (("word/", "docx"), ("xl/", "xlsx"), ("ppt/", "pptx")):
            if any(n.startswith(folder) for n in names):
                return fmt
    if "ofd.xml" in names:
        return "ofd"
    if mimetype.startswith(b"application/vnd.oasis.opendocument."):
        return "odf"
    return "zip"


def _broken_zip_format(data: bytes) -> str:
    """A zip without a readable directory still names its members in the local headers."""
    head = data[:65536]
    if b"[Content_Types].xml" in head:
        for folder, fmt in ((b"word/", "docx"), (b"xl/", "xlsx"), (b"ppt/", "pptx")):
            if folder in head:
                return fmt
    if b"OFD.xml" in head:
        return "ofd"
    return "zip"


def _ole_format(data: bytes, name: str) -> str:
    import olefile

    try:
        with olefile.OleFileIO(data) as ole:
            streams = {"/".join(entry).lower() for entry in ole.listdir(streams=True, storages=True)}
    except Exception:  # olefile raises assorted errors on damaged containers
        return "ole"
    if "encryptioninfo" in streams and "encryptedpackage" in streams:
        return "ooxml-encrypted"
    if any(s.startswith("__substg1.0_") for s in streams) or "__properties_version1.0" in streams:
        return "msg"
    kind = ""
    if "worddocument" in streams:
        kind = "ole-doc"
    elif "workbook" in streams or "book" in streams:
        kind = "ole-xls"
    elif "powerpoint document" in streams:
        kind = "ole-ppt"
    if kind and (name.lower().endswith(_WPS_SUFFIXES) or any("wps" in s or "kso" in s for s in streams)):
        return "wps"
    return kind or "ole"
