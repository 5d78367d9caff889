"""`baomi milter`: the mail door. Postfix hands each message over the milter protocol; the engine scans it whole
under the mail channel's policy; a block is refused with 550 5.7.1, a flag held in the hold queue, a pass marked.

It fails closed: a message too large, a scan too slow or any fault answers a temporary failure (or a rejection).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from email import policy as email_policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from scanner.audit import Action, AuditLog, Decision, default_audit_path
from scanner.command import UsageError, build_scanner, logging_to
from scanner.config import AuditTable, MailTable
from scanner.doors.milter_protocol import (
    ACCEPT,
    AddHeader,
    DeleteHeader,
    Handler,
    MilterServer,
    Modification,
    Outcome,
    Quarantine,
    Reply,
)
from scanner.doors.stopping import StopSignal
from scanner.engine import Scanner
from scanner.extract.base import Problem
from scanner.model import FileReport, Finding, Verdict

log = logging.getLogger("baomi.milter")

CHANNEL = "mail"
# Mail whose every recipient is inside the organisation ([mail] internal_domains) is judged by this channel's
# lighter policy (scanner/data/default.toml); classified marks still block there.
INTERNAL_CHANNEL = "mail-internal"
VERDICT_HEADER = "X-Baomi-Verdict"
ACTIONS = {Verdict.BLOCK: Action.REFUSED, Verdict.FLAG: Action.HELD, Verdict.PASS: Action.ALLOWED}
SCANNED_NAME = "message.eml"
PROGRESS_SECONDS = 10.0  # tell the MTA we are still working this often during a long scan


def is_internal(recipients: Iterable[str], domains: Iterable[str]) -> bool:
    """Every recipient in one of the organisation's domains (or a subdomain of one)."""
    ours = [d.strip().strip(".").lower() for d in domains]
    found = [_domain(r) for r in recipients]
    return bool(found) and bool(ours) and all(any(d == o or d.endswith("." + o) for o in ours) for d in found)


def _domain(address: str) -> str:
    return address.strip().strip("<>").rpartition("@")[2].rstrip(".").lower()


@dataclass
class Message:
    """What the MTA has told us so far about the message in progress."""

    sender: str = ""
    recipients: list[str] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: list[bytes] = field(default_factory=list)
    size: int = 0
    oversize: bool = False

    def raw(self) -> bytes:
        lines = [f"{name}:{value}" if value[:1] in (" ", "\t") else f"{name}: {value}" for name, value in self.headers]
        head = "\r\n".join(line.replace("\r\n", "\n").replace("\n", "\r\n") for line in lines)
        return head.encode("utf-8", "surrogateescape") + b"\r\n\r\n" + b"".join(self.body)

    def header(self, name: str) -> str:
        return next((v.strip() for n, v in self.headers if n.lower() == name.lower()), "")


class Gateway:
    """Shared by every connection: the scanner, the audit log, the policy and the pool that bounds scans."""

    def __init__(self, scanner: Scanner, audit: AuditLog, mail: MailTable, workers: int) -> None:
        self.scanner = scanner
        self.audit = audit
        self.mail = mail
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scan")

    def decide(self, message: Message, macros: dict[str, str], progress: Callable[[], None]) -> Outcome:
        """Scan the message and turn the verdict into the SMTP answer; any fault becomes a failure reply."""
        started = time.monotonic()
        queue_id = macros.get("i", "")
        name = f"{queue_id or 'message'}.eml"  # as the audit log names it
        message_id = message.header("Message-ID") or name
        facts = {"sender": message.sender, "recipients": message.recipients, "queue_id": queue_id}
        internal = is_internal(message.recipients, self.mail.internal_domains)
        channel = INTERNAL_CHANNEL if internal else CHANNEL
        if message.oversize:
            why = f"message over {self.mail.max_message_bytes} bytes"
            return self._failure(
                message, name, message_id, facts, Problem("too-large", why), self.mail.on_oversize, channel
            )
        try:
            raw = message.raw()
            # Scanned under a neutral name: a file name is text to the detectors, and a queue ID of eleven digits
            # (17173219174) is a valid mobile number.
            report = replace(self._scan(raw, SCANNED_NAME, channel, progress), path=name)
            attachments = attachment_names(raw)
            action = ACTIONS[report.verdict]
            ref = self.audit.record(
                Decision.of(report, channel, message_id, action, attachments=attachments, internal=internal, **facts)
            )
            outcome = self._act(report, message, ref)
        except FutureTimeout:
            why = f"scan took more than {self.mail.scan_seconds:g} s"
            return self._failure(message, name, message_id, facts, Problem("seconds", why), self.mail.on_error, channel)
        except Exception as exc:  # fail closed: a fault is a refusal, never an accept
            log.exception("internal error on %s", message_id)
            why = f"internal error: {type(exc).__name__}"
            return self._failure(
                message, name, message_id, facts, Problem("internal-error", why), self.mail.on_error, channel
            )
        log.info(
            "%s %s from=%s to=%s verdict=%s action=%s rules=%s ref=%s %.0f ms",
            queue_id or "-",
            message_id,
            message.sender,
            ",".join(message.recipients),
            report.verdict,
            action,
            ",".join(report.rules) or "-",
            ref,
            1000 * (time.monotonic() - started),
        )
        return outcome

    def _scan(self, raw: bytes, name: str, channel: str, progress: Callable[[], None]) -> FileReport:
        future: Future[FileReport] = self.pool.submit(self.scanner.scan_bytes, raw, name, channel)
        deadline = time.monotonic() + self.mail.scan_seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                future.cancel()
                raise FutureTimeout
            try:
                return future.result(timeout=min(left, PROGRESS_SECONDS))
            except FutureTimeout:
                if time.monotonic() < deadline:
                    progress()

    def _act(self, report: FileReport, message: Message, ref: int) -> Outcome:
        cleanup: list[Modification] = _forged_verdicts(message.headers)
        if report.verdict == Verdict.BLOCK:
            return Outcome(Reply.smtp(550, "5.7.1", f"{refusal(report)} (ref {ref})"))
        if report.verdict == Verdict.FLAG:
            reason = f"baomi ref {ref}: {', '.join(report.rules)}"
            return Outcome(ACCEPT, [*cleanup, AddHeader(VERDICT_HEADER, "flag"), Quarantine(reason)])
        added = [AddHeader(VERDICT_HEADER, "pass")] if self.mail.pass_header else []
        return Outcome(ACCEPT, [*cleanup, *added])

    def _failure(
        self,
        message: Message,
        name: str,
        message_id: str,
        facts: dict[str, Any],
        problem: Problem,
        answer: str,
        channel: str,
    ) -> Outcome:
        """The message could not be judged: a temporary failure (or a rejection), and a line in the audit log whose
        verdict the policy gives what nobody read."""
        report = self.scanner.unscanned(name, problem, channel, size=message.size)
        action = Action.TEMPFAILED if answer == "tempfail" else Action.REFUSED
        why = problem.detail
        ref: int | str = "-"
        try:
            decision = Decision.of(report, channel, message_id, action, **facts)
            decision.reason = why
            ref = self.audit.record(decision)
        except Exception:  # the refusal stands even when the log cannot be written
            log.exception("cannot write the audit log")
        log.warning("%s %s: %s; answered %s (ref %s)", facts.get("queue_id") or "-", message_id, why, action, ref)
        if answer == "tempfail":
            return Outcome(Reply.smtp(451, "4.7.1", f"Cannot check this message now ({why}); try again later"))
        return Outcome(Reply.smtp(550, "5.7.1", f"Message refused: {why} (ref {ref})"))

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def refusal(report: FileReport) -> str:
    """Why a message is refused, naming the rule and where it fired but quoting nothing of the text."""
    blocking = [f for f in report.findings if f.action == Verdict.BLOCK]
    if not blocking:
        return "Message refused by the confidentiality check"
    first = blocking[0]
    more = len({f.rule for f in blocking}) - 1
    extra = f" and {more} more rule{'s' if more > 1 else ''}" if more > 0 else ""
    return f"Message refused by the confidentiality check: {first.rule} in {place(first)}{extra}"


def place(finding: Finding) -> str:
    """Where in the message a finding sits, in a reader's words: an attachment by name, the subject or the body.

    The mail extractor names an attachment's parts after it (`报告.docx!word/document.xml`) and the message's own
    parts plainly (`subject`, `keywords`, `body`, `body2`)."""
    part = finding.location.part
    first = part.split("!", 1)[0]
    if first == "subject":
        return "the subject"
    if first in ("keywords", "comments"):
        return "the headers"
    if "!" not in part and (re.fullmatch(r"body[\w-]*", first) or first in ("file", "filename", "")):
        return "the message"
    return f"attachment {_short(first)}"


def _short(name: str, limit: int = 60) -> str:
    name = re.sub(r"\s+", " ", name)
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _forged_verdicts(headers: list[tuple[str, str]]) -> list[Modification]:
    """A verdict header that came with the message is the sender's word, not ours: remove every copy."""
    count = sum(1 for name, _ in headers if name.lower() == VERDICT_HEADER.lower())
    return [DeleteHeader(VERDICT_HEADER, index) for index in range(count, 0, -1)]


def attachment_names(raw: bytes) -> list[str]:
    """The file names of the message's attachments, nested messages included, as the sender named them."""
    names = []
    try:
        for part in BytesParser(policy=email_policy.default).parsebytes(raw).walk():
            filename = None if part.is_multipart() else part.get_filename()
            if filename:
                names.append(str(filename))
    except Exception:  # the list is for the log; the verdict came from the engine's own reading
        log.warning("cannot list the attachments of a malformed message")
    return names


class MailHandler(Handler):
    """One MTA connection: collects the envelope, headers and body of each message, then asks the gateway."""

    def __init__(self, gateway: Gateway) -> None:
        super().__init__()
        self.gateway = gateway
        self.message = Message()

    def mail(self, sender: str, arguments: list[str]) -> None:
        self.message = Message(sender=sender.strip("<>"))

    def rcpt(self, recipient: str, arguments: list[str]) -> None:
        self.message.recipients.append(recipient.strip("<>"))

    def header(self, name: str, value: str) -> None:
        self.message.headers.append((name, value))
        self._count(len(name) + len(value) + 4)

    def body(self, chunk: bytes) -> None:
        if self._count(len(chunk)):
            self.message.body.append(chunk)

    def end_of_message(self, progress: Callable[[], None]) -> Outcome:
        try:
            return self.gateway.decide(self.message, self.macros, progress)
        finally:
            self.message = Message()

    def abort(self) -> None:
        self.message = Message()

    def _count(self, size: int) -> bool:
        """Add to the message's size; False (and the body dropped) once it is over the limit."""
        message = self.message
        message.size += size
        if message.size > self.gateway.mail.max_message_bytes:
            message.oversize = True
            message.body.clear()
        return not message.oversize


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "milter",
        parents=[common],
        help="mail gateway: a Postfix/Sendmail milter that refuses classified mail at SMTP time",
        description="Scan every message Postfix accepts: block → 550 5.7.1, flag → hold queue, pass → header.",
    )
    parser.add_argument("--listen", metavar="SOCKET", help=f"inet:PORT@HOST or unix:/path (default {MailTable.listen})")
    parser.add_argument("--audit", type=Path, metavar="PATH", help="the decision log (default: [audit] path)")
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 2,
        metavar="N",
        help="messages scanned at once (default: cores)",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="log only failures, not every message's verdict")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.workers < 1:
        raise UsageError("--workers takes a number, 1 or more")
    level = logging.WARNING if args.quiet else logging.INFO
    # First, so that a SIGTERM while the scanner loads still ends in an orderly stop (status 0).
    with StopSignal() as stop, logging_to("baomi milter: %(message)s", level):
        scanner = build_scanner(args)
        mail = scanner.config.table(MailTable)
        audit = AuditLog(args.audit or default_audit_path(scanner.config.table(AuditTable)))
        gateway = Gateway(scanner, audit, mail, args.workers)
        listen = args.listen or mail.listen
        try:
            server = MilterServer(listen, lambda: MailHandler(gateway))
        except (OSError, ValueError) as exc:
            gateway.close()
            audit.close()
            raise UsageError(f"cannot listen on {listen}: {exc}") from None
        server.serve_in_thread()
        log.info("listening on %s", listen)
        stop.wait()
        # Sessions still in progress end with the process; Postfix answers them per milter_default_action (tempfail).
        server.shutdown()
        server.server_close()
        gateway.close()
        audit.close()
        log.info("stopped")
    return 0
