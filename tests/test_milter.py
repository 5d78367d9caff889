"""`baomi milter` end to end: a private Postfix on loopback, the milter as a real process, a sink as the next hop.

Each message is sent with smtplib and judged by what the SMTP conversation answered, what reached the sink, what
Postfix holds and what the audit log says.
"""

from __future__ import annotations

import base64
import functools
import io
import smtplib
import threading
import uuid
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from email.header import Header
from email.message import EmailMessage
from pathlib import Path

import pytest
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

from samples.make_samples import docx_bytes, pdf_bytes
from scanner.audit import AuditLog, Decision
from tests.conftest import require
from tests.postfix_fixture import Milter, PrivatePostfix, Sink, mail_gateway, postfix_missing_reason

MARK = "机密★5年"
INTERNAL = "baomi.example"  # the organisation's own domain in the milter's configuration
CONFIG = f"""
[mail]
internal_domains = ["{INTERNAL}"]
"""


class Gateway:
    def __init__(self, postfix: PrivatePostfix, milter: Milter, sink: Sink, audit: Path) -> None:
        self.postfix, self.milter, self.sink, self.audit = postfix, milter, sink, audit

    def send(self, message: EmailMessage | bytes, to: str = "someone@example.org", port: int | None = None) -> None:
        """Send over SMTP from an address of the organisation; refusals raise smtplib's exceptions."""
        with smtplib.SMTP("127.0.0.1", port or self.postfix.smtp_port, timeout=60) as smtp:
            if isinstance(message, EmailMessage):
                smtp.send_message(message, from_addr="author@baomi.example", to_addrs=[to])
            else:
                smtp.sendmail("author@baomi.example", [to], message)

    def decisions(self) -> list[Decision]:
        log = AuditLog(self.audit)
        try:
            return log.query(channel="mail", limit=None)
        finally:
            log.close()


@contextmanager
def started(folder: Path, config: str) -> Iterator[Gateway]:
    """A private Postfix and `baomi milter` with `config` as its TOML file, in `folder`."""
    reason = postfix_missing_reason()
    require(reason is None, f"a private Postfix ({reason})")
    (folder / "baomi.toml").write_text(config)
    with mail_gateway(folder / "audit.db", folder / "baomi.toml") as (postfix, milter, sink):
        yield Gateway(postfix, milter, sink, folder / "audit.db")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with started(tmp_path_factory.mktemp("milter"), CONFIG) as running:
        yield running


@pytest.fixture(scope="module")
def chinese_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """The gateway with [i18n] language = "zh_CN": the milter speaks Chinese where it can."""
    with started(tmp_path_factory.mktemp("milter-zh"), CONFIG + '[i18n]\nlanguage = "zh_CN"\n') as running:
        yield running


def message(body: str = "您好，会议改到周三下午三点。", subject: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "author@baomi.example"
    msg["To"] = "someone@example.org"
    msg["Subject"] = subject or f"test {uuid.uuid4().hex[:12]}"
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@baomi.example>"
    msg.set_content(body)
    return msg


def docx_with(text: str) -> bytes:
    """A Word document with one paragraph per line of `text` (python-docx, as samples/make_samples.py builds them)."""
    return docx_bytes(text.split("\n"))


def refused(gateway: Gateway, msg: EmailMessage | bytes, to: str = "someone@example.org") -> smtplib.SMTPDataError:
    with pytest.raises(smtplib.SMTPDataError) as caught:
        gateway.send(msg, to)
    return caught.value


def test_clean_mail_is_delivered_with_a_pass_header(gateway: Gateway) -> None:
    msg = message()
    gateway.send(msg)
    delivered = gateway.sink.wait_for(str(msg["Subject"]))
    assert delivered is not None
    assert delivered.message["X-Baomi-Verdict"] == "pass"


def test_docx_attachment_with_a_mark_is_refused_during_smtp_and_never_delivered(gateway: Gateway) -> None:
    msg = message("请查收附件。")
    msg.add_attachment(
        docx_with(f"{MARK}\n关于新型装备试验进度的报告\n试验数据见附表。"),
        maintype="application",
        subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
        filename="进度报告.docx",
    )
    error = refused(gateway, msg)
    assert error.smtp_code == 550
    reply = error.smtp_error.decode("utf-8", "replace")
    assert reply.startswith("5.7.1")
    assert "mark.state-secret" in reply and "an attachment" in reply
    assert reply.isascii()  # a Chinese attachment name is not sent to a client that did not ask for SMTPUTF8
    assert gateway.sink.wait_for(str(msg["Subject"]), seconds=2) is None


def test_a_refusal_in_chinese_reaches_the_client_as_ascii_the_rules_and_the_reference(
    chinese_gateway: Gateway,
) -> None:
    """What Postfix does with a non-ASCII reply (smtputf8_enable = yes: raw UTF-8 even to a client that did not ask
    for SMTPUTF8; = no: every such byte blanked) leaves no Chinese text a client can show: the reply needs none."""
    msg = message("请查收附件。")
    msg.add_attachment(
        docx_with(f"{MARK}\n试验数据见附表。"), maintype="application", subtype="octet-stream", filename="进度报告.docx"
    )
    error = refused(chinese_gateway, msg)
    [decision] = chinese_gateway.decisions()
    assert (error.smtp_code, error.smtp_error) == (550, f"5.7.1 baomi: mark.state-secret #{decision.id}".encode())


def test_refusal_quotes_no_secret_text(gateway: Gateway) -> None:
    msg = message(f"{MARK}\n\n新型装备试验数据如下。")
    reply = refused(gateway, msg).smtp_error.decode("utf-8", "replace")
    assert MARK not in reply and "机密" not in reply and "试验" not in reply


def test_zip_holding_a_pdf_with_a_mark_is_refused(gateway: Gateway) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:  # a PDF in STSong-Light (reportlab CID font)
        zf.writestr("材料/情况说明.pdf", pdf_bytes([MARK, "关于某项目情况的说明"]))
    msg = message("材料已打包。")
    msg.add_attachment(archive.getvalue(), maintype="application", subtype="zip", filename="materials.zip")
    error = refused(gateway, msg)
    assert error.smtp_code == 550
    assert "materials.zip" in error.smtp_error.decode("utf-8", "replace")
    assert gateway.sink.wait_for(str(msg["Subject"]), seconds=2) is None


def test_mark_in_a_gb2312_body_is_refused(gateway: Gateway) -> None:
    body = base64.encodebytes(f"{MARK}\r\n\r\n关于项目进度的通知，请各单位认真执行。\r\n".encode("gb2312")).decode()
    raw = (
        "From: author@baomi.example\r\nTo: someone@example.org\r\nSubject: notice\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=gb2312\r\nContent-Transfer-Encoding: base64\r\n\r\n" + body
    ).encode("ascii")
    assert refused(gateway, raw).smtp_code == 550


def test_mark_in_an_rfc2047_subject_is_refused(gateway: Gateway) -> None:
    subject = Header(MARK, "utf-8").encode()
    assert subject.startswith("=?utf-8?b?")
    raw = f"From: author@baomi.example\r\nTo: someone@example.org\r\nSubject: {subject}\r\n\r\nhello\r\n".encode()
    error = refused(gateway, raw)
    assert error.smtp_code == 550
    assert "the subject" in error.smtp_error.decode()


def test_mark_leading_a_longer_rfc2047_subject_is_refused(gateway: Gateway) -> None:
    subject = Header(f"{MARK} 关于新型装备试验进度的报告", "utf-8").encode()
    raw = f"From: author@baomi.example\r\nTo: someone@example.org\r\nSubject: {subject}\r\n\r\nhello\r\n".encode()
    assert refused(gateway, raw).smtp_code == 550


def test_flagged_message_is_held_in_the_hold_queue_and_not_delivered(gateway: Gateway) -> None:
    msg = message("请为新同事办理门禁卡，身份证号 11010519491231002X。")
    gateway.send(msg)
    held = [e for e in gateway.postfix.queue_entries() if e["queue_name"] == "hold"]
    assert any(e["sender"] == "author@baomi.example" for e in held)
    assert gateway.sink.wait_for(str(msg["Subject"]), seconds=2) is None


def test_held_message_released_with_postsuper_is_delivered_marked_flag(gateway: Gateway) -> None:
    msg = message("身份证号 11010519491231002X，请核对。")
    gateway.send(msg)
    decision = next(d for d in gateway.decisions() if d.source == msg["Message-ID"])
    gateway.postfix.release(decision.extra["queue_id"])
    delivered = gateway.sink.wait_for(str(msg["Subject"]))
    assert delivered is not None
    assert delivered.message["X-Baomi-Verdict"] == "flag"


def test_disclaimer_mentioning_commercial_secrets_does_not_block_ordinary_mail(gateway: Gateway) -> None:
    disclaimer = "本邮件及其附件可能包含商业秘密，仅供指定收件人使用。如您误收本邮件，请立即通知发件人并删除。"
    msg = message(f"您好，附件是周例会纪要，请查收。\n\n--\n{disclaimer}")
    gateway.send(msg)
    delivered = gateway.sink.wait_for(str(msg["Subject"]))
    assert delivered is not None and delivered.message["X-Baomi-Verdict"] == "pass"


def test_mail_from_the_sendmail_command_is_refused_and_bounced_with_its_headers_only(gateway: Gateway) -> None:
    subject = f"test {uuid.uuid4().hex[:12]}"
    data = f"Subject: {subject}\n\n{MARK}\n\n新型装备试验数据如下。\n".encode()
    gateway.postfix.sendmail("author@baomi.example", ["someone@example.org"], data)
    bounce = gateway.sink.wait_until(lambda item: item.sender == "<>" and subject.encode() in item.data)
    assert bounce is not None and bounce.recipients == ["author@baomi.example"]
    assert b"mark.state-secret" in bounce.data
    assert MARK.encode() not in bounce.data and "试验数据".encode() not in bounce.data
    assert gateway.sink.wait_for(subject, seconds=1) is None


def test_every_verdict_is_in_the_audit_log_with_envelope_and_attachments(gateway: Gateway) -> None:
    msg = message("请查收附件。")
    msg.add_attachment(docx_with(MARK), maintype="application", subtype="octet-stream", filename="附件一.docx")
    refused(gateway, msg)
    decision = next(d for d in gateway.decisions() if d.source == msg["Message-ID"])
    assert (decision.channel, decision.verdict, decision.action) == ("mail", "block", "refused")
    assert decision.rules == ["mark.state-secret"]
    assert decision.extra["sender"] == "author@baomi.example"
    assert decision.extra["recipients"] == ["someone@example.org"]
    assert decision.extra["attachments"] == ["附件一.docx"]


def test_verdict_header_sent_by_the_sender_is_replaced(gateway: Gateway) -> None:
    msg = message("身份证号 11010519491231002X")
    msg["X-Baomi-Verdict"] = "pass"
    gateway.send(msg)
    decision = next(d for d in gateway.decisions() if d.source == msg["Message-ID"])
    gateway.postfix.release(decision.extra["queue_id"])
    delivered = gateway.sink.wait_for(str(msg["Subject"]))
    assert delivered is not None
    assert delivered.message.get_all("X-Baomi-Verdict") == ["flag"]


def test_mail_to_internal_domains_only_gets_the_lenient_policy(gateway: Gateway) -> None:
    inside = message("身份证号 11010519491231002X，请办理入职。")
    gateway.send(inside, to=f"hr@mail.{INTERNAL}")
    delivered = gateway.sink.wait_for(str(inside["Subject"]))
    assert delivered is not None and delivered.message["X-Baomi-Verdict"] == "pass"


def test_classified_mail_is_refused_even_to_internal_domains(gateway: Gateway) -> None:
    assert refused(gateway, message(f"{MARK}\n\n会议纪要"), to=f"boss@{INTERNAL}").smtp_code == 550


def test_several_smtp_sessions_at_once_each_get_their_own_verdict(gateway: Gateway) -> None:
    messages = [message(f"{MARK}\n\n第{n}号文件") if n % 2 else message(f"第{n}封普通邮件") for n in range(8)]

    def outcome(msg: EmailMessage) -> int:
        try:
            gateway.send(msg)
        except smtplib.SMTPDataError as exc:
            return exc.smtp_code
        return 250

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(outcome, messages))
    assert codes == [250, 550] * 4


def test_with_the_milter_stopped_postfix_answers_451(gateway: Gateway, tmp_path: Path) -> None:
    # The instance's second smtpd talks to a milter of its own, which this test starts and then stops.
    spare = Milter(tmp_path / "audit.db", port=gateway.postfix.spare_milter_port).start()
    gateway.send(message(), port=gateway.postfix.spare_smtp_port)  # answered while it runs
    spare.stop()
    with pytest.raises(smtplib.SMTPResponseException) as caught:
        gateway.send(message(), port=gateway.postfix.spare_smtp_port)
    assert caught.value.smtp_code == 451


# Slow messages ----------------------------------------------------------------------------------------------------

SLOW_CONFIG = """
[mail]
scan_seconds = 5
slow_seconds = 1
"""


@functools.cache
def slow_attachment() -> bytes:
    """A PDF of 1,000 pages of text (600 KB): reading it takes longer than the test's 5 s (PDFium reads 50–150 pages
    a second a core), and the engine stops it a second after its message's deadline."""
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4)
    for page in range(1000):
        canvas.setFont("STSong-Light", 10)
        for row in range(60):
            canvas.drawString(40, 800 - 13 * row, f"第{page}页第{row}行：关于做好年度工作的通知，请认真落实。")
        canvas.showPage()
    canvas.save()
    return out.getvalue()


def slow_message() -> EmailMessage:
    msg = message("请查收会议材料。")
    msg.add_attachment(slow_attachment(), maintype="application", subtype="pdf", filename="会议材料.pdf")
    return msg


class Sending(threading.Thread):
    """One SMTP session in a thread of its own; `answer` is the reply to its data, once it came."""

    def __init__(self, gateway: Gateway, msg: EmailMessage) -> None:
        super().__init__(daemon=True)
        self.gateway, self.msg = gateway, msg
        self.answer: tuple[int, str] | None = None
        self.start()

    def run(self) -> None:
        try:
            self.gateway.send(self.msg)
            self.answer = (250, "")
        except smtplib.SMTPResponseException as exc:
            self.answer = (exc.smtp_code, exc.smtp_error.decode("utf-8", "replace"))


def test_two_slow_messages_get_their_own_tempfail_while_other_mail_goes_on(tmp_path: Path) -> None:
    require(postfix_missing_reason() is None, f"a private Postfix ({postfix_missing_reason()})")
    config = tmp_path / "baomi.toml"
    config.write_text(SLOW_CONFIG)
    with mail_gateway(tmp_path / "audit.db", config, ["--workers", "2"]) as (postfix, milter, sink):
        gateway = Gateway(postfix, milter, sink, tmp_path / "audit.db")
        slow = [Sending(gateway, slow_message()) for _ in range(2)]
        # Both are being scanned, in the places of both workers, when the rest of the mail arrives.
        assert milter.wait_for_log("set aside so that other mail goes on", times=2), milter.log.read_text()
        clean, marked = message(), message(f"{MARK}\n\n会议纪要")
        gateway.send(clean)
        assert refused(gateway, marked).smtp_code == 550
        assert sink.wait_for(str(clean["Subject"])) is not None
        assert all(s.answer is None for s in slow), "the slow messages were answered first: they are not slow"

        for sending in slow:
            sending.join(timeout=90)
            assert sending.answer is not None
            code, text = sending.answer
            assert (code, text) == (
                451,
                "4.7.1 Cannot check this message now; try again later. The scan took more than 5 s.",
            )
            assert "机密" not in text
        # Their scans run on, set aside, until the engine stops them; mail still goes through meanwhile.
        after = message()
        gateway.send(after)
        assert sink.wait_for(str(after["Subject"])) is not None
    records = {d.source: d for d in gateway.decisions()}
    for sending in slow:
        record = records[str(sending.msg["Message-ID"])]
        assert (record.action, record.reason) == ("tempfailed", "The scan took more than 5 s.")
