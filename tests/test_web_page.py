"""The editors' page in a real browser: Debian's chromium, driven by Playwright, against a real `baomi serve`.

Files are chosen with the page's file input or dropped on its drop box (a drop event carrying real File objects),
and each test checks what the editor sees.
"""

from __future__ import annotations

import base64
import io
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docx
import pytest

from tests.language import english_words, has_han
from tests.web_service import Service, chromium, serve

try:
    from playwright import sync_api
except ImportError:  # a failure in CI (require, in the browser fixture), a skip elsewhere
    sync_api = None

CLEAN = "关于举办春季运动会的通知\n请各部门于三月十日前报名。\n".encode()
TOKEN = "page-token-0123456789abcdef"


def marked_docx() -> bytes:
    document = docx.Document()
    document.add_paragraph("关于调整工作安排的通知")
    document.add_paragraph("机密★5年")
    document.add_paragraph("各部门：现将有关事项通知如下。")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def encrypted_zip(folder: Path) -> bytes:
    """A zip whose only member is encrypted with a password (ZipCrypto, as `zip -e` and most tools make it)."""
    (folder / "名单.txt").write_bytes(CLEAN)
    subprocess.run(
        ["7z", "a", "-tzip", "-pmima123", str(folder / "资料.zip"), "名单.txt"],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    return (folder / "资料.zip").read_bytes()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with serve(tmp_path_factory.mktemp("page")) as running:
        yield running


@pytest.fixture
def page(browser: Any, service: Service) -> Iterator[Any]:
    context = browser.new_context(locale="zh-CN")
    opened = context.new_page()
    opened.goto(service.url + "/")
    yield opened
    context.close()


def choose(page: Any, *files: tuple[str, bytes]) -> None:
    page.set_input_files("#files", [{"name": n, "mimeType": "application/octet-stream", "buffer": d} for n, d in files])


def drop(page: Any, *files: tuple[str, bytes]) -> None:
    """Drop files on the drop box as the browser does when an editor drags them there from the desktop."""
    payload = [{"name": n, "data": base64.b64encode(d).decode()} for n, d in files]
    transfer = page.evaluate_handle(
        """(files) => {
            const transfer = new DataTransfer();
            for (const f of files) {
                const bytes = Uint8Array.from(atob(f.data), (c) => c.charCodeAt(0));
                transfer.items.add(new File([bytes], f.name));
            }
            return transfer;
        }""",
        payload,
    )
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})


def card(page: Any, name: str) -> Any:
    """The result card of the file `name`, once its check has finished."""
    found = page.locator("#results > li.file", has=page.locator(".name", has_text=name))
    found.and_(page.locator(":not(.pending)")).wait_for(timeout=30_000)
    return found


def test_chosen_clean_file_may_be_published(page: Any) -> None:
    choose(page, ("运动会通知.txt", CLEAN))
    result = card(page, "运动会通知.txt")
    assert result.locator(".head .verdict").inner_text() == "可以发布"
    assert "未发现" in result.inner_text()


def test_dropped_marked_docx_must_not_be_published_and_shows_where_the_mark_is(page: Any) -> None:
    drop(page, ("工作安排.docx", marked_docx()))
    result = card(page, "工作安排.docx")
    assert result.locator(".head .verdict").inner_text() == "禁止发布"
    finding = result.locator(".finding").first
    assert finding.locator(".category").inner_text() == "国家秘密标志"
    assert finding.locator("mark").inner_text() == "机密★5年"
    assert finding.locator(".where").inner_text() == "正文 · 第 2 行第 1 列"
    assert "关于调整工作安排的通知" in finding.locator(".context").inner_text()


def test_dropped_encrypted_zip_says_it_could_not_be_checked_and_why(page: Any, tmp_path: Path) -> None:
    drop(page, ("资料.zip", encrypted_zip(tmp_path)))
    result = card(page, "资料.zip")
    assert result.locator(".head .verdict").inner_text() == "禁止发布"
    assert result.locator(".finding .category").first.inner_text() == "无法检查"
    assert "加密" in result.locator(".why").first.inner_text()
    assert result.locator(".explanation").first.inner_text() == "设有密码的压缩包成员。"


def test_several_files_chosen_at_once_each_get_a_verdict(page: Any) -> None:
    choose(page, ("一.txt", CLEAN), ("二.txt", "机密★5年\n正文\n".encode()), ("三.txt", CLEAN))
    verdicts = {
        name: card(page, name).locator(".head .verdict").inner_text() for name in ("一.txt", "二.txt", "三.txt")
    }
    assert verdicts == {"一.txt": "可以发布", "二.txt": "禁止发布", "三.txt": "可以发布"}
    sync_api.expect(page.locator("#summary")).to_have_text(re.compile("。$"))
    assert "已检查 3 个文件" in page.inner_text("#summary")


def test_an_id_number_needs_review_and_is_highlighted_though_masked(page: Any) -> None:
    choose(page, ("报名表.txt", "姓名：张三\n身份证号：11010519491231002X\n".encode()))
    result = card(page, "报名表.txt")
    assert result.locator(".head .verdict").inner_text() == "需人工审核"
    assert result.locator(".finding .category").inner_text() == "个人信息"
    highlighted = result.locator(".context mark").inner_text()
    assert len(highlighted) == 18 and highlighted.endswith("002X") and "*" in highlighted


def test_names_and_contexts_from_an_upload_are_shown_as_text_never_as_markup(page: Any) -> None:
    name = '<img src=x onerror="window.owned=1">.txt'
    choose(page, (name, "机密★5年\n<script>window.owned=2</script><b>粗体</b>\n".encode()))
    result = card(page, "<img")
    assert result.locator(".name").inner_text() == name
    assert "<script>" in result.locator(".context").first.inner_text()
    assert page.locator("#results img, #results script, #results b").count() == 0
    assert page.evaluate("window.owned") is None


def test_an_empty_file_is_reported_as_not_checked(page: Any) -> None:
    choose(page, ("空白.txt", b""))
    result = card(page, "空白.txt")
    assert result.locator(".head .verdict").inner_text() == "未检查"
    assert "文件是空的" in result.inner_text()


def test_a_guarded_service_asks_for_the_token_and_then_checks_the_file(browser: Any, tmp_path: Path) -> None:
    with serve(tmp_path, f'[[web.token]]\nname = "editors"\ntoken = "{TOKEN}"\n') as guarded:
        context = browser.new_context(locale="zh-CN")
        page = context.new_page()
        page.goto(guarded.url + "/")
        choose(page, ("通知.txt", CLEAN))
        page.locator("#token-form").wait_for(state="visible")
        page.fill("#token", TOKEN)
        page.click("#token-form button")
        assert card(page, "通知.txt").locator(".head .verdict").inner_text() == "可以发布"
        context.close()


# -- the page in the browser's language (Playwright's locale sets navigator.language and Accept-Language)

UPLOADS = {
    "marked.docx": marked_docx(),
    "form.txt": "姓名：张三\n身份证号：11010519491231002X\n".encode(),
    "empty.txt": b"",
}


def results_of(browser: Any, service: Service, locale: str, tmp_path: Path) -> tuple[Any, Any, str]:
    """The page opened by a browser speaking `locale` after checking a marked document, an ID number, an encrypted
    zip and an empty file: the context, the page and everything the page says."""
    context = browser.new_context(locale=locale)
    opened = context.new_page()
    opened.goto(service.url + "/")
    choose(opened, *UPLOADS.items(), ("locked.zip", encrypted_zip(tmp_path)))
    for name in (*UPLOADS, "locked.zip"):
        card(opened, name)
    sync_api.expect(opened.locator("#summary")).not_to_contain_text("…")
    return context, opened, opened.locator("body").inner_text()


def shown_of_the_files(page: Any) -> list[str]:
    """What the page shows of the uploads themselves: names, contexts, places, the marks quoted in reasons."""
    shown = page.locator(".name, .context, .where").all_inner_texts()  # .where: parts named after members
    for text in page.locator(".explanation").all_inner_texts():
        shown += re.findall(r"“[^”]*”", text)
    return sorted(shown, key=len, reverse=True)


def test_the_page_speaks_chinese_to_a_chinese_browser(browser: Any, service: Service, tmp_path: Path) -> None:
    context, page, text = results_of(browser, service, "zh-CN", tmp_path)
    assert page.locator("html").get_attribute("lang") == "zh-CN" and page.title() == "发布前保密检查 · baomi"
    assert "国家秘密标志“机密★5年”位于行首。" in text
    assert "有效的居民身份证号码：校验位正确；已遮蔽显示。" in text
    assert "文件是空的：empty.txt。此文件未经检查，不能视为可以发布。" in text
    assert english_words(text, keep={"docx", "txt"}) == []
    context.close()


def test_the_page_speaks_english_to_an_english_browser(browser: Any, service: Service, tmp_path: Path) -> None:
    context, page, text = results_of(browser, service, "en-US", tmp_path)
    assert page.locator("html").get_attribute("lang") == "en" and page.title() == "Check before publishing · baomi"
    assert "State-secret mark “机密★5年” opens its line." in text
    assert "Must not be published" in text and "The file is empty: empty.txt." in text
    assert "4 files checked" not in text and "3 files checked" in text  # the empty one was not checked
    for shown in shown_of_the_files(page):
        text = text.replace(shown, " ")
    assert not has_han(text)
    context.close()
