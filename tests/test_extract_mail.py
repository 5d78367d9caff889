"""E-mail: the subject is a title, text parts are read in their (widened) charsets, HTML as text, attachments and
forwarded messages through the dispatcher."""

from __future__ import annotations

import base64
from email.header import Header
from email.message import EmailMessage
from email.mime.application import MIMEApplication
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

from scanner.engine import Scanner
from scanner.extract import extract
from scanner.model import Role
from tests.conftest import SHARED, require
from tests.extract_fixtures import MARK, the_one, zip_of


def _message(body: str = "正文", charset: str = "utf-8", subject: str = "通知") -> MIMEMultipart:
    message = MIMEMultipart()
    message["From"] = "办公室 <office@example.cn>"
    message["To"] = "all@example.cn"
    message["Subject"] = Header(subject, "utf-8")
    message.attach(MIMEText(body, "plain", charset))
    return message


def test_an_rfc2047_gb2312_subject_is_the_title() -> None:
    subject = base64.b64encode(f"{MARK} 会议纪要".encode("gb18030")).decode()
    raw = f"From: office@example.cn\r\nSubject: =?gb2312?B?{subject}?=\r\n\r\n正文\r\n".encode()
    segment = the_one(extract(raw, "mail.eml"), MARK)
    assert (segment.role, segment.part, segment.text) == (Role.TITLE, "subject", f"{MARK} 会议纪要")


def test_a_body_declared_gb2312_is_read_as_gb18030() -> None:
    # 镕 is outside GB 2312 but mailers that say gb2312 send it anyway (in its GBK/GB18030 form).
    message = _message(f"{MARK} 朱镕基", "gb18030")
    message.get_payload(0).set_param("charset", "gb2312")
    segment = the_one(extract(message.as_bytes(), "mail.eml"), MARK)
    assert (segment.role, segment.part, segment.text) == (Role.BODY, "body", f"{MARK} 朱镕基")


def test_a_body_declared_big5_is_read_as_big5_hkscs() -> None:
    message = _message("機密★5年 香港用字：嘅", "big5hkscs")
    message.get_payload(0).set_param("charset", "big5")
    assert the_one(extract(message.as_bytes(), "mail.eml"), "機密").text == "機密★5年 香港用字：嘅"


def test_an_html_part_is_read_as_text() -> None:
    message = EmailMessage()
    message["Subject"] = "通知"
    message["From"] = "office@example.cn"
    message.set_content(f"<html><body><p><b>{MARK}</b></p><p>正文</p></body></html>", subtype="html")
    assert the_one(extract(message.as_bytes(), "mail.eml"), MARK).text == f"{MARK}\n正文"


def test_an_attachment_is_read_by_content_under_its_rfc2231_name() -> None:
    message = _message()
    attachment = MIMEApplication("附件正文".encode(), Name=None)
    attachment.add_header("Content-Disposition", "attachment", filename=("utf-8", "", f"{MARK}-名单.txt"))
    message.attach(attachment)
    extraction = extract(message.as_bytes(), "mail.eml")
    name = the_one(extraction, MARK)
    assert (name.role, name.part) == (Role.FILENAME, f"{MARK}-名单.txt")
    assert the_one(extraction, "附件正文").part == f"{MARK}-名单.txt!body"


def test_a_zip_attachment_is_opened_and_named_through_each_container() -> None:
    message = _message()
    attachment = MIMEApplication(zip_of({"内部/通知.txt": MARK.encode()}))
    attachment.add_header("Content-Disposition", "attachment", filename=("utf-8", "", "资料.zip"))
    message.attach(attachment)
    assert the_one(extract(message.as_bytes(), "mail.eml"), MARK).part == "资料.zip!内部/通知.txt!body"


def test_a_forwarded_message_is_read_with_its_own_subject() -> None:
    outer = _message(body="请看转发")
    outer.attach(MIMEMessage(_message(subject=f"{MARK} 原始邮件")))
    extraction = extract(outer.as_bytes(), "mail.eml")
    segment = the_one(extraction, MARK)
    assert segment.role == Role.TITLE
    assert segment.part.endswith(".eml!subject")


def test_every_message_of_an_mbox_is_read() -> None:
    one = _message(body=f"{MARK} 第一封").as_bytes()
    two = _message(body="第二封").as_bytes()
    mbox = (
        b"From a@example.cn Mon Jan  1 00:00:00 2024\n" + one + b"\nFrom b@example.cn Mon Jan  1 00:00:00 2024\n" + two
    )
    extraction = extract(mbox, "inbox.mbox")
    assert the_one(extraction, MARK).part == "message1.eml!body"
    assert the_one(extraction, "第二封").part == "message2.eml!body"


def test_an_outlook_msg_in_big5_without_a_code_page_is_decoded() -> None:
    path = SHARED / "corpora" / "peer" / "tika" / "tika-parser-microsoft-module" / "testMSG_chinese.msg"
    require(path.exists(), f"the peer corpus at {path.parents[2]} (no library writes .msg files)")
    extraction = extract(path.read_bytes(), "testMSG_chinese.msg")
    assert extraction.format == "msg"
    subject = extraction.segments[1]
    assert (subject.role, subject.text) == (Role.TITLE, "Alfresco MSG format testing ( MSG 格式測試 )")
    assert "保全課" in the_one(extraction, "模範勞工").text


def test_an_attachment_name_in_rfc2047_gb2312_as_chinese_clients_write_it() -> None:
    encoded = base64.b64encode(f"{MARK}-名单.txt".encode("gb18030")).decode()
    raw = (
        "From: office@example.cn\r\nSubject: 名单\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n见附件\r\n"
        f'--b\r\nContent-Type: text/plain; name="=?GB2312?B?{encoded}?="\r\n'
        f'Content-Disposition: attachment; filename="=?GB2312?B?{encoded}?="\r\n\r\n名单正文\r\n--b--\r\n'
    ).encode()
    extraction = extract(raw, "mail.eml")
    assert (the_one(extraction, MARK).role, the_one(extraction, "名单正文").part) == (
        Role.FILENAME,
        f"{MARK}-名单.txt!body",
    )


def test_a_message_is_known_by_its_header_block_however_long_a_field_is(scanner: Scanner) -> None:
    message = _message("请查收附件。")
    message["X-Padding"] = "x" * 5000  # one field longer than any look at the first KiB would see past
    attachment = MIMEApplication(f"{MARK}\n预算".encode(), Name="预算.txt")
    attachment["Content-Disposition"] = 'attachment; filename="budget.txt"'
    message.attach(attachment)
    raw = message.as_bytes()
    assert raw.index(b"\r\n\r\n" if b"\r\n" in raw else b"\n\n") > 1024
    report = scanner.scan_bytes(raw, "message")
    assert (report.format, str(report.verdict)) == ("eml", "block")
    assert [f.location.part for f in report.findings] == ["budget.txt!body"]


def test_a_note_that_opens_with_a_colon_is_no_message() -> None:
    assert extract("备注: 下周开会\n\n请准备材料。".encode(), "note.txt").format == "text"


def test_an_mbox_whose_first_line_is_long_is_an_mbox() -> None:
    message = _message(f"{MARK}\n预算")
    data = b"From office@example.cn " + b"x" * 2000 + b"\n" + message.as_bytes()
    extraction = extract(data, "inbox")
    assert extraction.format == "mbox"
    assert the_one(extraction, MARK).part == "message1.eml!body"
