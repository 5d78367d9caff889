"""Take docs/report-html.png and docs/report-docx.png, the README's pictures of the 检查报告: `baomi scan --report`
over a small shared folder (a marked docx, a handling phrase, an ID number, an encrypted zip, a clean notice) in
Chinese; the HTML shot in Debian's chromium, the Word file turned into PDF by LibreOffice and its first two pages
drawn side by side with PDFium.

    .venv/bin/python docs/report_screenshots.py [FOLDER]
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pypdfium2
from PIL import Image
from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scanner.cli import main as baomi  # noqa: E402
from tests.test_inspection_report import make_share  # noqa: E402
from tests.web_service import launch_chromium  # noqa: E402


def shoot_html(report: Path, output: Path) -> None:
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1000, "height": 900}, device_scale_factor=1)
        page.goto(report.as_uri())
        page.screenshot(path=str(output), full_page=True)
        browser.close()


def shoot_docx(report: Path, output: Path, work: Path) -> None:
    profile = (work / "libreoffice").as_uri()  # a profile of its own: another soffice may be running
    convert = ["--headless", "--convert-to", "pdf", "--outdir", str(work), str(report)]
    subprocess.run(
        ["soffice", f"-env:UserInstallation={profile}", *convert],
        env={**os.environ, "LANG": "C.UTF-8"},  # a locale the machine has, or soffice garbles Chinese file names
        check=True,
        capture_output=True,
        timeout=300,
    )
    pdf = pypdfium2.PdfDocument(str(work / (report.stem + ".pdf")))
    pages = [pdf[index].render(scale=1.2).to_pil() for index in range(min(2, len(pdf)))]
    sheet = Image.new("RGB", (sum(p.width for p in pages) + 30 * (len(pages) + 1), pages[0].height + 60), "#d0d0d0")
    for index, page in enumerate(pages):
        sheet.paste(page, (30 + index * (page.width + 30), 30))
    sheet.save(output, optimize=True)


def main(folder: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        share = make_share(work / "共享文件夹")
        html, word = work / "检查报告.html", work / "检查报告.docx"
        os.environ.update(LANG="zh_CN.UTF-8", TZ="Asia/Shanghai")
        os.environ.pop("LC_ALL", None)
        os.chdir(work)  # the report names the files as the command line did: 共享文件夹/人事/报名表.txt
        with contextlib.redirect_stdout(io.StringIO()):  # the verdicts; the reports are what is shot
            baomi(["scan", share.name, "--jobs", "1", "--report", str(html), "--report", str(word)])
        shoot_html(html, folder / "report-html.png")
        shoot_docx(word, folder / "report-docx.png", work)
    print(folder / "report-html.png", folder / "report-docx.png")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs")
