"""The dispatcher's table: which reader reads each format. Imported where binary formats are parsed (the worker),
so that the scanning process itself loads only the text and HTML readers."""

from __future__ import annotations

from collections.abc import Iterator

from scanner.extract import archive, embedded, html, image, legacy, mail, odf, ofd, ooxml, rtf, sqlite, text
from scanner.extract.base import Context, Reader
from scanner.model import Segment


def read_pdf(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    """PDF, through pypdfium2: its import is half a worker's start-up (0.1 s), which one that never meets a PDF
    should not pay."""
    from scanner.extract import pdf

    return pdf.read_pdf(data, prefix, ctx)


READERS: dict[str, Reader] = {
    "text": text.read_text,
    "html": html.read_html,
    "docx": ooxml.read_docx,
    "xlsx": ooxml.read_xlsx,
    "pptx": ooxml.read_pptx,
    "pdf": read_pdf,
    "ofd": ofd.read_ofd,
    "odf": odf.read_odf,
    "ooxml-encrypted": legacy.read_encrypted_ooxml,
    "ole-doc": legacy.read_ole,
    "ole-xls": legacy.read_ole,
    "ole-ppt": legacy.read_ole,
    "wps": legacy.read_ole,
    "ole": embedded.read_ole_object,
    "rtf": rtf.read_rtf,
    "sqlite": sqlite.read_sqlite,
    "zip": archive.read_zip,
    "tar": archive.read_tar,
    "gzip": archive.read_gzip,
    "bzip2": archive.read_bzip2,
    "xz": archive.read_xz,
    "lzma": archive.read_lzma,
    "7z": archive.read_7z,
    "rar": archive.read_rar,
    "eml": mail.read_eml,
    "mbox": mail.read_mbox,
    "msg": mail.read_msg,
    **dict.fromkeys(("png", "jpeg", "gif", "tiff", "bmp", "webp"), image.read_image),
    **dict.fromkeys(("emf", "wmf", "jxr"), image.read_other_picture),
}
