"""The dispatcher's table: which reader reads each format. Used where binary formats are parsed (the worker), so that
the scanning process itself loads only the text and HTML readers."""

from __future__ import annotations

import importlib

from scanner.extract.base import Reader

# Each format's reader, as the function's name in its module of scanner.extract, imported the first time a file of
# the format comes: the imports are most of a worker's start (0.18 s), and a worker that parses Word files need not
# load the mail, picture, archive and PDF readers (pypdfium2 alone is 0.1 s).
READERS: dict[str, str] = {
    "text": "text:read_text",
    "html": "html:read_html",
    "docx": "ooxml:read_docx",
    "xlsx": "ooxml:read_xlsx",
    "pptx": "ooxml:read_pptx",
    "pdf": "pdf:read_pdf",
    "ofd": "ofd:read_ofd",
    "odf": "odf:read_odf",
    "ooxml-encrypted": "legacy:read_encrypted_ooxml",
    "ole-doc": "legacy:read_ole",
    "ole-xls": "legacy:read_ole",
    "ole-ppt": "legacy:read_ole",
    "wps": "legacy:read_ole",
    "ole": "embedded:read_ole_object",
    "rtf": "rtf:read_rtf",
    "sqlite": "sqlite:read_sqlite",
    "zip": "archive:read_zip",
    "tar": "archive:read_tar",
    "gzip": "archive:read_gzip",
    "bzip2": "archive:read_bzip2",
    "xz": "archive:read_xz",
    "lzma": "archive:read_lzma",
    "7z": "archive:read_7z",
    "rar": "archive:read_rar",
    "eml": "mail:read_eml",
    "mbox": "mail:read_mbox",
    "msg": "mail:read_msg",
    **dict.fromkeys(("png", "jpeg", "gif", "tiff", "bmp", "webp"), "image:read_image"),
    **dict.fromkeys(("emf", "wmf", "jxr"), "image:read_other_picture"),
}


def reader_of(fmt: str) -> Reader | None:
    """The reader of `fmt`, its module imported if it was not yet; None for a format no reader reads."""
    where = READERS.get(fmt)
    if where is None:
        return None
    module, function = where.split(":")
    found: Reader = getattr(importlib.import_module(f"scanner.extract.{module}"), function)
    return found
