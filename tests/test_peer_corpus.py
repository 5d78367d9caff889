"""The peer corpus (../shared/corpora/peer/, files from other projects' test suites, many broken, encrypted or
hostile): every file gets a verdict in bounded time, nothing takes the scanner down, what could not be read never
passes, and the Chinese text that can be recovered is."""

from __future__ import annotations

import csv
import multiprocessing
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from scanner.engine import Scanner
from tests.conftest import require

PEER = Path(__file__).resolve().parents[1].parent / "shared" / "corpora" / "peer"
SECONDS_PER_FILE = 30.0
SECONDS_IN_ALL = 240.0
JOBS = 2

# The manifest's notes open with a tag for the group a file came in; these groups are unreadable by design.
UNREADABLE_GROUPS = {
    *("encrypted", "corrupt", "bomb", "bomb/corrupt", "bomb/xxe", "xxe/corrupt", "corrupt+encrypted"),
    "corrupt/encrypted",  # the fuzzed and password-protected .doc/.xls/.ppt of POI's test data
}
# Its automatic flags, per file: each means the content cannot be read completely.
UNREADABLE_FLAGS = ("pdf:/Encrypt", "EncryptedPackage", "BadZipFile", "encrypted-entries")
# Files in those groups whose text is all there, and why.
READABLE_DESPITE_GROUP = {
    "poi/spreadsheet/49609.xlsx": "part names with backslashes, in lower case; Excel opens it; every cell is read",
    "pdfminer/encryption/base.pdf": "the plaintext control of pdfminer's encryption tests",
    "qpdf/bad1.pdf": "five bytes of plain text ('oops'), read as the text they are",
    "defusedxml/dtd.xml": "XHTML naming the W3C DTD; nothing in it is an entity",
    "tika/tika-parser-xml-module/testXXE.xml": "an external DTD that nothing in the body refers to",
    "tika/tika-core/undeclared_entity.xml": "a reference to an undeclared entity: nothing is expanded, nothing missing",
    # Encrypted with an owner password only ("no extract" permissions): the text is all there to a reader.
    **dict.fromkeys(
        (
            "pdfjs/issue7665.pdf",
            "pdfminer/nonfree/kampo.pdf",
            "qpdf/V4-aes.pdf",
            "qpdf/V4-aes-clearmeta.pdf",
            "qpdf/metadata-crypt-filter.pdf",
            "tika/tika-parser-pdf-module/testPDF_no_extract_no_accessibility_owner_empty.pdf",
            "tika/tika-parser-pdf-module/testPDF_protected.pdf",
        ),
        "opens with the empty user password; all text read (every page, as pdfminer.six reads it too)",
    ),
    # Traps for renderers or for other parsers, in parts that hold no text; every byte of text is read.
    "pdfjs/ContentStreamCycleType3insideType3.pdf": "Type 3 glyphs that draw each other in a loop; ab is read",
    "pdfjs/bomb_giant.pdf": "a 100000x100000 JBIG2 image bomb: images are not decoded, the page's text is read",
    "pdfjs/franz_2.pdf": "a form's /BBox holds an object reference (a rendering trap); the page's line is read",
    "pdfjs/pdfjsbad1586.pdf": "the page dictionary lacks its closing >>; PDFium reads the page and its line of text",
    "pdfminer/contrib/issue-886-xref-stream-widths.pdf": "xref stream /W widths pdfminer.six misread; PDFium reads it",
    "qpdf/damaged-stream.pdf": "the damaged LZW stream is one the page names as /Other, not its content",
    "qpdf/direct-pages.pdf": "page dictionaries written inline in /Kids instead of by reference; both pages read",
    "qpdf/obj0.pdf": "an object numbered 0 (the free list's head) that nothing uses; the page is read",
    "qpdf/outlines-with-loop.pdf": "bookmarks in a loop, read once round; all 30 pages read",
    "qpdf/pages-loop.pdf": "a page tree that lists itself among its kids; the one page is read",
    "poi/document/51921-Word-Crash067.docx": "a blank document (one empty paragraph); every part parses",
    "poi/document/55733.docx": "a minimal package without styles or fonts (POI bug 55733); its one line, TEST, is read",
    "poi/document/zero-length.docx": "a blank page with a picture in its header; no part is empty or missing",
    "poi/slideshow/OverlappingRelations.pptx": "a slide related to another slide (POI could not read it); all 4 read",
    "poi/spreadsheet/MalformedSSTCount.xlsx": "a shared-string count of 8876876876876 for 8 strings; all 8 are read",
    "poi/spreadsheet/style-alternate-content.xlsx": "styles in mc:AlternateContent (POI failed on them); cells read",
    "tika/tika-parser-miscoffice-module/testODTnotaZipFile.odt": "one line of plain text named .odt, read as text",
    "tika/tika-parsers-standard-integration-tests/testTika4424.zip": "the two members unzip and 7z list, read whole",
    # Fuzzed legacy files whose text the structures that locate it still locate completely.
    "poi/document/Fuzzed.doc": (
        "FIB and piece table hold: three pieces place all 8915 characters of its stories inside the stream, and its "
        "embedded Excel sheet is read; the fuzzing broke formatting (catdoc misread a piece, POI choked)"
    ),
    "poi/document/clusterfuzz-testcase-minimized-POIHWPFFuzzer-6610789829836800.doc": (
        "FIB and piece table hold: the one piece places all 3494 characters of the one story inside the stream; "
        "the fuzzing broke formatting records (what POI choked on), which hold no text"
    ),
    "poi/spreadsheet/poi-fuzz.xls": (
        "every BIFF record whole, each sheet's BOF where its BoundSheet says, every substream ended; one shared "
        "string, shown by the one cell that cites it"
    ),
}
# Files the manifest calls Chinese whose Chinese is not text a reader sees, and where it is.
CHINESE_OUTSIDE_THE_TEXT = {
    "poi-tl/template/sdt.docx": "shape names (矩形, 组), style and font names",
    "poi-tl/template/template_textbox.docx": "shape names (文本框, 椭圆形标注) and font names",
    "mineru/demo/office_docs/xlsx_01.xlsx": "drawing shape names (文本框) and font names; the cells are English",
    "pdfjs/file_pdfjs_test.pdf": "nowhere in the text layer (pdfium reads the same English)",
}
HAN = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True)
class Outcome:
    path: str
    verdict: str
    format: str
    errors: list[str]
    seconds: float
    text: str


def _manifest() -> list[dict[str, str]]:
    with (PEER / "MANIFEST.tsv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


_scanner: Scanner | None = None


def _start_worker() -> None:
    """In each scanning process (started fresh by the forkserver: the test process may have threads)."""
    global _scanner
    _scanner = Scanner()


def _scan(path: str) -> Outcome:
    assert _scanner is not None
    started = time.monotonic()
    data = (PEER / path).read_bytes()
    scanned = _scanner.examine(data, path)
    text = "\n".join(s.text for s in scanned.extraction.segments)
    report = scanned.report
    return Outcome(path, str(report.verdict), report.format, report.errors, time.monotonic() - started, text)


@pytest.fixture(scope="module")
def outcomes() -> dict[str, Outcome]:
    require(PEER.is_dir(), f"the peer corpus at {PEER}")
    paths = [row["path"] for row in _manifest()]
    # Workers started by a fork server, not forked from pytest: a fork inherits the signal handlers, threads and
    # locks earlier tests left in this process, and a worker that ignores terminate() hangs the suite.
    with multiprocessing.get_context("forkserver").Pool(JOBS, initializer=_start_worker) as pool:
        pending = pool.map_async(_scan, paths, chunksize=2)
        results = pending.get(timeout=SECONDS_IN_ALL)  # a hang anywhere fails here instead of stalling the suite
    return {outcome.path: outcome for outcome in results}


pytestmark = pytest.mark.slow


def test_every_file_gets_a_verdict_in_bounded_time(outcomes: dict[str, Outcome]) -> None:
    assert len(outcomes) == len(_manifest())
    slow = {o.path: round(o.seconds, 1) for o in outcomes.values() if o.seconds > SECONDS_PER_FILE}
    assert slow == {}
    assert {o.verdict for o in outcomes.values()} <= {"pass", "flag", "block"}


def test_no_file_is_an_internal_error(outcomes: dict[str, Outcome]) -> None:
    faults = {o.path: o.errors for o in outcomes.values() if any(e.startswith("internal-error") for e in o.errors)}
    assert faults == {}


def test_files_known_to_be_encrypted_broken_or_hostile_never_pass(outcomes: dict[str, Outcome]) -> None:
    unreadable = [
        row["path"]
        for row in _manifest()
        if (row["notes"].split(";")[0] in UNREADABLE_GROUPS or any(f in row["auto_flags"] for f in UNREADABLE_FLAGS))
        and row["path"] not in READABLE_DESPITE_GROUP
    ]
    assert len(unreadable) > 100
    passed = sorted(path for path in unreadable if outcomes[path].verdict == "pass")
    assert passed == []


def test_ofd_watermarks_in_annotations_are_read(outcomes: dict[str, Outcome]) -> None:
    for path in ("ofdrw/ofdrw-tool/hello_watermark.ofd", "ofdrw/ofdrw-converter/ano.ofd"):
        assert "保密资料" in outcomes[path].text, path


def test_poi_tl_nested_table_cells_are_read(outcomes: dict[str, Outcome]) -> None:
    text = outcomes["poi-tl/issue/161.docx"].text
    assert "工程名称" in text and "工点（系统）设计单位" in text
    assert len(HAN.findall(text)) >= 80


def test_chinese_files_read_without_problems_yield_chinese(outcomes: dict[str, Outcome]) -> None:
    chinese = [
        row["path"]
        for row in _manifest()
        if row["notes"].startswith("chinese") and row["path"] not in CHINESE_OUTSIDE_THE_TEXT
    ]
    silent = sorted(path for path in chinese if not outcomes[path].errors and not HAN.search(outcomes[path].text))
    assert silent == []


def test_an_excel_sheet_embedded_in_a_word_97_document_is_read(outcomes: dict[str, Outcome]) -> None:
    assert "January,February,March,April" in outcomes["poi/document/Fuzzed.doc"].text
