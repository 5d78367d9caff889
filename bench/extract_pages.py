"""Pages per second of the docx and PDF readers, and PDFium against pdfminer.six on the same PDFs.

    .venv/bin/python bench/extract_pages.py [--pages 50] [--rounds 3] [--peer ../shared/corpora/peer]

Prints Markdown: a generated 50-page Chinese docx and PDF, then every PDF of the peer corpus read by both libraries.
"""

from __future__ import annotations

import argparse
import io
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docx
import pypdfium2 as pdfium
from docx.enum.text import WD_BREAK
from pdfminer.high_level import extract_text
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

from scanner.extract import Limits, Reading
from scanner.extract.base import Context, Reader, Unscannable
from scanner.extract.ooxml import read_docx
from scanner.extract.pdf import read_pdf, read_pdf_with_pdfminer
from scanner.model import Segment

LINE = "关于进一步加强保密管理工作的通知要求各单位认真落实责任制度"  # 29 characters
LINES_PER_PAGE = 36
HAN = re.compile(r"[\u4e00-\u9fff]")


def chinese_pdf(pages: int) -> bytes:
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4)
    for page in range(pages):
        canvas.setFont("STSong-Light", 12)
        for row in range(LINES_PER_PAGE):
            canvas.drawString(60, 780 - 20 * row, f"{page + 1}.{row + 1} {LINE}")
        canvas.showPage()
    canvas.save()
    return out.getvalue()


def chinese_docx(pages: int) -> bytes:
    document = docx.Document()
    document.sections[0].header.paragraphs[0].text = "内部资料"
    for page in range(pages):
        for row in range(LINES_PER_PAGE - 6):
            document.add_paragraph(f"{page + 1}.{row + 1} {LINE}")
        table = document.add_table(rows=2, cols=3)
        for cell in table._cells:
            cell.text = LINE[:8]
        document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def pdfium_text_only(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    """The library alone: each page's text, nothing else (no annotations, metadata or checks)."""
    document = pdfium.PdfDocument(data)
    for index in range(len(document)):
        page = document[index]
        textpage = page.get_textpage()
        yield Segment(textpage.get_text_range(), f"page{index + 1}", page=index + 1)
        textpage.close()
        page.close()
    document.close()


def pdfminer_text_only(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    """The library alone: pdfminer.six's extract_text over the whole file."""
    yield Segment(extract_text(io.BytesIO(data)))


def timed(reader: Reader, data: bytes, rounds: int) -> tuple[float, list[Segment]]:
    """The best of `rounds` runs, in seconds, and the segments."""
    best, segments = float("inf"), []
    for _ in range(rounds):
        start = time.perf_counter()
        segments = list(reader(data, "", Reading(Limits(), False, "bench")))
        best = min(best, time.perf_counter() - start)
    return best, segments


def han(segments: list[Segment]) -> int:
    return sum(len(HAN.findall(s.text)) for s in segments)


def generated(pages: int, rounds: int) -> list[str]:
    rows = ["| file | reader | pages/s | ms/page | Chinese characters out |", "|---|---|---:|---:|---:|"]
    pdf, word = chinese_pdf(pages), chinese_docx(pages)
    for name, data, reader, label in (
        (f"{pages}-page Chinese docx", word, read_docx, "baomi read_docx (lxml)"),
        (f"{pages}-page Chinese PDF", pdf, read_pdf, "baomi read_pdf (pypdfium2)"),
        (f"{pages}-page Chinese PDF", pdf, read_pdf_with_pdfminer, "baomi read_pdf_with_pdfminer"),
        (f"{pages}-page Chinese PDF", pdf, pdfium_text_only, "pypdfium2 alone (page text)"),
        (f"{pages}-page Chinese PDF", pdf, pdfminer_text_only, "pdfminer.six alone (extract_text)"),
    ):
        seconds, segments = timed(reader, data, rounds)
        rows.append(f"| {name} | {label} | {pages / seconds:.0f} | {1000 * seconds / pages:.1f} | {han(segments)} |")
    return rows


class _Timeout(Exception):
    pass


def _alarm(*_: Any) -> None:
    raise _Timeout


def peer(root: Path, seconds: int) -> list[str]:
    """Both libraries over every PDF of the corpus: how many each opens, how much Chinese each reads, how fast."""
    signal.signal(signal.SIGALRM, _alarm)
    totals = {name: {"opened": 0, "han": 0, "seconds": 0.0, "pages": 0, "more": 0} for name in ("pdfium", "pdfminer")}
    files = sorted(root.rglob("*.pdf"))
    for path in files:
        data = path.read_bytes()
        found = {}
        for name, reader in (("pdfium", read_pdf), ("pdfminer", read_pdf_with_pdfminer)):
            start = time.perf_counter()
            signal.alarm(seconds)
            try:
                segments = list(reader(data, "", Reading(Limits(), False, path.name)))
                totals[name]["opened"] += 1
            except (Unscannable, _Timeout):
                segments = []
            finally:
                signal.alarm(0)
            totals[name]["seconds"] += time.perf_counter() - start
            totals[name]["pages"] += len({s.page for s in segments if s.page})
            found[name] = han(segments)
            totals[name]["han"] += found[name]
        if found["pdfium"] != found["pdfminer"]:
            totals[max(found, key=lambda k: found[k])]["more"] += 1
    rows = [
        f"{len(files)} PDFs of the peer corpus, each read whole by each reader (metadata, pages, annotations):",
        "",
        "| reader | files read | pages with text | Chinese characters | files where it reads more Chinese | total s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, label in (("pdfium", "read_pdf (pypdfium2)"), ("pdfminer", "read_pdf_with_pdfminer")):
        t = totals[name]
        rows.append(f"| {label} | {t['opened']} | {t['pages']} | {t['han']} | {t['more']} | {t['seconds']:.2f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--peer", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "corpora" / "peer"
    )
    parser.add_argument("--timeout", type=int, default=60, help="seconds per file and reader on the corpus")
    args = parser.parse_args()
    print("\n".join(generated(args.pages, args.rounds)))
    if args.peer.exists():
        print()
        print("\n".join(peer(args.peer, args.timeout)))


if __name__ == "__main__":
    main()
