"""What "nothing a person reads is English" means in a test: the Latin-letter words left in a text once product
names, rule IDs, options, configuration keys, part names, file names, zone names and digests are set aside; and
whether a text has Chinese in it at all (under LANG=C nothing but data from files may)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Names that stay as they are in a Chinese sentence.
PRODUCT_NAMES = frozenset(
    "baomi Tesseract chi_sim SHA UTC PDF OCR ICAP SMTP HTTP XML HTML JSON CSV Word Excel PowerPoint WPS OFD zip "  # noqa: SIM905
    "docx xlsx pptx pdf txt Postfix Squid Nextcloud Seafile LibreOffice Chromium SQLite KB MB GB "
    "TOML Sendmail cron milter Debian catdoc unrar unar IRM DRM OLE RTF EMF WMF JPEG GBK Luhn API "
    "POST PUT GET REQMOD UTF tar rar Office Outlook OpenDocument FIB DTD NUL Latin XR WordDocument "
    "EncryptedPackage Ole Native Visa JCB Dask PostgreSQL psycopg distributed "
    "INSTREAM SCAN CONTSCAN RELOAD SELFCHECK FOUND OK Baomi StreamMaxLength".split()  # clamd's words, its virus names
)
# Machine words a reader types or quotes as they are.
MACHINE = re.compile(
    r"--[a-z][a-z-]*"  # options: --ocr
    r"|\$[A-Z_]+"  # environment variables: $BAOMI_AUDIT
    r"|\[[a-z0-9_.]+\]\s+[a-z_]+"  # configuration keys: [limits] max_ratio, [i18n] language
    r"|\[\[?[a-z0-9_.]+\]\]?"  # configuration tables: [limits], [[watch.outbox]]
    r"|\b[a-z]+(?:_[a-z0-9]+)+\b"  # names in code: max_bytes, running_prose (the rule that set a mention aside)
    r"|\b[A-Z][a-z]+(?:-[A-Z][a-z]+)+\b"  # header fields: Accept-Language, Content-Length
    r"|\b[a-z0-9]+:(?=\S)"  # address forms: inet:PORT@HOST, unix:/path
    r"|(?<![A-Za-z0-9_.])/[A-Za-z0-9_./{}-]+"  # paths and URL paths: /v1/scan, /tmp/share
    r"|(?<![A-Za-z0-9])\.[a-z]{2,5}\b"  # file name extensions: .html
    r"|\{[a-z0-9,-]+\}"  # choices: {text,json}
    r"|\b[a-z]+(?:[.-][a-z0-9_]+)+\b"  # rule IDs and categories: mark.state-secret, id.resident-id
    r"|\b[a-z]+\d+\b"  # part names: header1, page3
    r"|\b[A-Z][A-Za-z_]+/[A-Za-z_]+\b"  # zone names: Asia/Shanghai
    r"|[^\s（(]+\.[A-Za-z0-9]{2,5}\b"  # file names: 通知.docx
    r"|\b[0-9a-f]{8,}\b"  # digests
)
WORD = re.compile(r"[A-Za-z]{2,}")


def english_words(text: str, keep: Iterable[str] = ()) -> list[str]:
    """The words of `text` a Chinese reader would find English, less `keep` (names from the data shown)."""
    allowed = PRODUCT_NAMES | set(keep)
    return [word for word in WORD.findall(MACHINE.sub(" ", text)) if word not in allowed]


def has_han(text: str) -> bool:
    return bool(HAN.search(text))


def data_words(*texts: object) -> set[str]:
    """The Latin words of data a text shows as it is (paths, user and machine names), for english_words' `keep`."""
    return {word for text in texts for word in WORD.findall(str(text))}


def dictionary_names() -> set[str]:
    """baomi's dictionary categories (tender, personnel): names like rule IDs, shown beside their titles."""
    folder = Path(__file__).resolve().parent.parent / "scanner" / "data" / "dictionaries"
    return {path.stem for path in folder.glob("*.txt")}
