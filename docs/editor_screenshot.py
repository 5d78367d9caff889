"""Take docs/editor.png, the README's picture of the editors' page, with Debian's chromium against a real
`baomi serve`: a clean notice, a form with an ID number, a marked docx and an encrypted zip.

    .venv/bin/python docs/editor_screenshot.py [OUTPUT]
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import docx
from playwright.sync_api import expect, sync_playwright

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.web_service import launch_chromium, serve  # noqa: E402


def marked_docx() -> bytes:
    document = docx.Document()
    for text in ("关于调整二〇二六年度工作安排的通知", "机密★5年", "各部门：现将有关事项通知如下。"):
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def encrypted_zip(folder: Path) -> Path:
    (folder / "名单.txt").write_text("内部名单\n", encoding="utf-8")
    subprocess.run(
        ["7z", "a", "-tzip", "-pmima", "附件材料.zip", "名单.txt"], cwd=folder, check=True, capture_output=True
    )
    return folder / "附件材料.zip"


def main(output: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = [
            ("春季运动会通知.txt", "关于举办春季运动会的通知\n请各部门于三月十日前报名。\n".encode()),
            ("报名表.txt", "姓名：张三\n身份证号：11010519491231002X\n".encode()),
            ("工作安排.docx", marked_docx()),
            ("附件材料.zip", encrypted_zip(folder).read_bytes()),
        ]
        with serve(folder / "service") as service, sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            page = browser.new_page(viewport={"width": 1000, "height": 900}, locale="zh-CN", device_scale_factor=1)
            page.goto(service.url + "/")
            page.set_input_files(
                "#files", [{"name": n, "mimeType": "application/octet-stream", "buffer": d} for n, d in files]
            )
            expect(page.locator("#summary")).to_have_text(re.compile("。$"), timeout=60_000)
            page.screenshot(path=str(output), full_page=True)
            browser.close()
    print(output)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "editor.png")
