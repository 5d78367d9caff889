"""`baomi milter`: the mail door. Postfix hands each message over the milter protocol; the engine scans it whole
under the mail channel's policy; a block is refused with 550 5.7.1, a flag held in the hold queue, a pass marked.

It fails closed: a message too large, a scan too slow or any fault answers a temporary failure (or a rejection).
Every message has its own deadline, and scans that run long are set aside so that the rest of the mail goes on.

An SMTP reply's text is ASCII: a client that did not ask for SMTPUTF8 may not be sent anything else, and Postfix
blanks every other byte where SMTPUTF8 is off. So a reply says its sentence in [i18n] language where that sentence is
ASCII (English), and otherwise only what needs no language: the rule IDs and the audit reference.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from email import policy as email_policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any, TypeVar

from scanner import i18n
from scanner.audit import Action, AuditLog, Decision, audit_location
from scanner.command import UsageError, build_scanner, count, logging_to, reloadable
from scanner.config import AuditTable, MailTable
from scanner.detect import Deadline
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
from scanner.i18n import _, msg, msg_n, render, speaking
from scanner.model import FileReport, Finding, Verdict
from scanner.reloading import Rules
from scanner.titles import action_title, os_error

log = logging.getLogger("baomi.milter")
T = TypeVar("T")

CHANNEL = "mail"
# Mail whose every recipient is inside the organisation ([mail] internal_domains) is judged by this channel's
# lighter policy (scanner/data/default.toml); classified marks still block there.
INTERNAL_CHANNEL = "mail-internal"
VERDICT_HEADER = "X-Baomi-Verdict"
ACTIONS = {Verdict.BLOCK: Action.REFUSED, Verdict.FLAG: Action.HELD, Verdict.PASS: Action.ALLOWED}
SCANNED_NAME = "message.eml"
PROGRESS_SECONDS = 10.0  # tell the MTA we are still working this often during a long scan


_GRACE = 1.0  # seconds a scan may run past its message's deadline before the engine stops it


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


class Overdue(Exception):
    """A message's deadline passed before its scan gave a verdict; `why` goes into its temporary failure."""

    def __init__(self, why: i18n.Message) -> None:
        super().__init__(render(why, "en"))
        self.why = why


@dataclass(eq=False)
class Place:
    """One running scan's claim on the gateway's capacity."""

    label: str  # the message, for the log
    started: float = field(default_factory=time.monotonic)
    aside: bool = False


class Places:
    """Where scans run. `workers` places take mail as it comes; a scan still running after `slow_seconds` is set
    aside among as many places kept for slow scans, and its own place goes to the next message. So a few messages
    built to be slow hold only the places set aside, and no more than 2 × workers scans ever run at once."""

    def __init__(self, workers: int, slow_seconds: float) -> None:
        self.workers = workers
        self.slow_seconds = slow_seconds
        self.running: list[Place] = []  # oldest first
        self.changed = threading.Condition()

    def take(self, label: str, until: float) -> Place | None:
        """A place for a new scan, waiting for one until the monotonic time `until` at the latest (else None)."""
        with self.changed:
            while True:
                self._set_aside_slow_scans()
                if sum(not p.aside for p in self.running) < self.workers:
                    place = Place(label)
                    self.running.append(place)
                    return place
                now = time.monotonic()
                if now >= until:
                    return None
                self.changed.wait(min(until, self._next_to_turn_slow()) - now)

    def give_back(self, place: Place) -> None:
        with self.changed:
            self.running.remove(place)
            self.changed.notify_all()

    def tidy(self) -> None:
        """Set aside the scans that have turned slow, now rather than when the next message asks for a place."""
        with self.changed:
            if self._set_aside_slow_scans():
                self.changed.notify_all()

    def _set_aside_slow_scans(self) -> bool:
        now = time.monotonic()
        moved = False
        for place in self.running:
            if sum(p.aside for p in self.running) >= self.workers:
                break
            if not place.aside and now - place.started >= self.slow_seconds:
                place.aside = True
                moved = True
                waited = now - place.started
                slow = msg(
                    "{message}: still scanning after {seconds} s; set aside so that other mail goes on",
                    message=place.label,
                    seconds=f"{waited:.0f}",
                )
                log.info(render(slow))
        return moved

    def _next_to_turn_slow(self) -> float:
        """When the oldest scan still holding a place turns slow, if there is room to set it aside."""
        if sum(p.aside for p in self.running) >= self.workers:
            return float("inf")  # only a scan ending frees a place now, and give_back says so
        return min(p.started for p in self.running if not p.aside) + self.slow_seconds


class Scan:
    """One message's scan, in a daemon thread of its own, given the message's deadline (the engine stops there, or
    at [limits] seconds if that comes first). A scan that outlasts it is left to end by itself and keeps its place
    until then; neither the door nor the process's exit waits for it."""

    def __init__(
        self, scanner: Scanner, raw: bytes, channel: str, place: Place, places: Places, deadline: Deadline
    ) -> None:
        self.place = place
        self.done = threading.Event()
        self.report: FileReport | None = None
        self.error: BaseException | None = None
        self.ended = float("inf")  # when, by the monotonic clock
        thread = threading.Thread(
            target=self._run, args=(scanner, raw, channel, places, deadline), name="scan", daemon=True
        )
        thread.start()

    def _run(self, scanner: Scanner, raw: bytes, channel: str, places: Places, deadline: Deadline) -> None:
        try:
            # Scanned under a neutral name: a file name is text to the detectors, and a queue ID of eleven digits
            # (17173219174) is a valid mobile number.
            self.report = scanner.scan_bytes(raw, SCANNED_NAME, channel, deadline=deadline)
        except BaseException as exc:  # handed to the waiting door, which answers it as an internal error
            self.error = exc
        finally:
            self.ended = time.monotonic()
            places.give_back(self.place)
            self.done.set()

    def result(self, until: float) -> FileReport | None:
        """The report if the scan ended by the monotonic time `until`, waiting for it until then (else None)."""
        if not self.done.wait(max(0.0, until - time.monotonic())) or self.ended > until:
            return None
        if self.error is not None:
            raise self.error
        assert self.report is not None
        return self.report


class Gateway:
    """Shared by every connection: the rules, the audit log, the policy and the places that bound scans."""

    def __init__(self, rules: Rules, audit: AuditLog, mail: MailTable, workers: int) -> None:
        self.rules = rules
        self.audit = audit
        self.mail = mail
        self.places = Places(workers, mail.slow_seconds)

    def decide(self, message: Message, macros: dict[str, str], progress: Callable[[], None]) -> Outcome:
        """Scan the message and turn the verdict into the SMTP answer, in [i18n] language; any fault becomes a failure
        reply. The rules in force now judge this message, whatever a reload does meanwhile."""
        scanner = self.rules.scanner
        with speaking(scanner.config.language):
            return self._decide(scanner, message, macros, progress)

    def _decide(
        self, scanner: Scanner, message: Message, macros: dict[str, str], progress: Callable[[], None]
    ) -> Outcome:
        started = time.monotonic()
        deadline = started + self.mail.scan_seconds
        queue_id = macros.get("i", "")
        name = f"{queue_id or 'message'}.eml"  # as the audit log names it
        message_id = message.header("Message-ID") or name
        facts = {"sender": message.sender, "recipients": message.recipients, "queue_id": queue_id}
        internal = is_internal(message.recipients, self.mail.internal_domains)
        channel = INTERNAL_CHANNEL if internal else CHANNEL
        if message.oversize:
            why = msg("The message is over {limit} bytes.", limit=self.mail.max_message_bytes)
            return self._failure(
                scanner, message, name, message_id, facts, Problem("too-large", why), self.mail.on_oversize, channel
            )
        try:
            raw = message.raw()
            report = replace(self._scan(scanner, raw, queue_id or message_id, channel, deadline, progress), path=name)
            attachments = attachment_names(raw)
            action = ACTIONS[report.verdict]
            ref = self.audit.record(
                Decision.of(report, channel, message_id, action, attachments=attachments, internal=internal, **facts)
            )
            outcome = self._act(report, message, ref)
        except Overdue as late:
            return self._failure(
                scanner, message, name, message_id, facts, Problem("seconds", late.why), self.mail.on_error, channel
            )
        except Exception as exc:  # fail closed: a fault is a refusal, never an accept
            log.exception(render(msg("internal error on {message}", message=message_id)))
            problem = Problem("internal-error", msg("baomi failed while checking it."), cause=type(exc).__name__)
            return self._failure(scanner, message, name, message_id, facts, problem, self.mail.on_error, channel)
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

    def _scan(
        self, scanner: Scanner, raw: bytes, label: str, channel: str, deadline: float, progress: Callable[[], None]
    ) -> FileReport:
        """The message's report by its deadline, telling the MTA every PROGRESS_SECONDS that we are still at it;
        Overdue when no place came free or the scan did not end in time."""
        seconds = self.mail.scan_seconds
        busy = msg("No scanner was free within {seconds} s.", seconds=f"{seconds:g}")
        place = _by(deadline, progress, busy, lambda t: self.places.take(label, t))
        # The scan stops a moment after the message's answer, so a scan cut short is never taken for its verdict.
        scan = Scan(scanner, raw, channel, place, self.places, Deadline(deadline + _GRACE, seconds + _GRACE))
        turns_slow = place.started + self.mail.slow_seconds

        def result(until: float) -> FileReport | None:
            if until > turns_slow:
                report = scan.result(turns_slow)
                if report is not None:
                    return report
                self.places.tidy()  # set aside now, so that its place goes to waiting mail without delay
            return scan.result(until)

        return _by(deadline, progress, msg("The scan took more than {seconds} s.", seconds=f"{seconds:g}"), result)

    def _act(self, report: FileReport, message: Message, ref: int) -> Outcome:
        cleanup: list[Modification] = _forged_verdicts(message.headers)
        if report.verdict == Verdict.BLOCK:
            blocking = sorted({f.rule for f in report.findings if f.action == Verdict.BLOCK})
            return Outcome(Reply.smtp(550, "5.7.1", ascii_reply(refusal(report, ref), blocking, ref)))
        if report.verdict == Verdict.FLAG:
            reason = f"baomi ref {ref}: {', '.join(report.rules)}"
            return Outcome(ACCEPT, [*cleanup, AddHeader(VERDICT_HEADER, "flag"), Quarantine(reason)])
        added = [AddHeader(VERDICT_HEADER, "pass")] if self.mail.pass_header else []
        return Outcome(ACCEPT, [*cleanup, *added])

    def _failure(
        self,
        scanner: Scanner,
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
        report = scanner.unscanned(name, problem, channel, size=message.size)
        action = Action.TEMPFAILED if answer == "tempfail" else Action.REFUSED
        why = problem.detail
        ref: int | str = "-"
        try:
            decision = Decision.of(report, channel, message_id, action, **facts)
            decision.reason = render(why, "en")  # the log is read by tools and by readers of any language
            ref = self.audit.record(decision)
        except Exception:  # the refusal stands even when the log cannot be written
            log.exception(render(msg("cannot write the audit log")))
        answered = msg(
            "{queue_id} {message}: {why} Answered {action} (ref {ref}).",
            queue_id=facts.get("queue_id") or "-",
            message=message_id,
            why=why,
            action=action_title(action),
            ref=ref,
        )
        log.warning(answered)
        rules = report.rules
        if answer == "tempfail":
            later = msg("Cannot check this message now; try again later. {why}", why=why)
            return Outcome(Reply.smtp(451, "4.7.1", ascii_reply(later, rules, ref)))
        refused = msg("Message refused without being checked (ref {ref}). {why}", why=why, ref=ref)
        return Outcome(Reply.smtp(550, "5.7.1", ascii_reply(refused, rules, ref)))


def ascii_reply(text: i18n.Message, rules: list[str], ref: int | str) -> str:
    """An SMTP reply's text, which must be ASCII: `text` in the current language where it is ASCII, else the rule
    IDs and the audit reference alone, which need no language (README, "Languages and times")."""
    said = render(text)
    return said if said.isascii() else f"baomi: {' '.join(rules)} #{ref}"


def _by(deadline: float, progress: Callable[[], None], why: i18n.Message, attempt: Callable[[float], T | None]) -> T:
    """What `attempt(until)` gives before `deadline`, retried with a progress packet every PROGRESS_SECONDS;
    Overdue(why) once the deadline has passed without it."""
    while True:
        now = time.monotonic()
        value = attempt(min(deadline, now + PROGRESS_SECONDS))
        if value is not None:
            return value
        if time.monotonic() >= deadline:
            raise Overdue(why)
        progress()


def refusal(report: FileReport, ref: int | str) -> i18n.Message:
    """Why a message is refused, naming the rule and where it fired but quoting nothing of the text."""
    blocking = [f for f in report.findings if f.action == Verdict.BLOCK]
    if not blocking:
        return msg("Message refused by the confidentiality check (ref {ref}).", ref=ref)
    first = blocking[0]
    more = len({f.rule for f in blocking}) - 1
    if more > 0:
        return msg_n(
            "Message refused by the confidentiality check: {rule} in {place} and {count} more rule (ref {ref}).",
            "Message refused by the confidentiality check: {rule} in {place} and {count} more rules (ref {ref}).",
            more,
            rule=first.rule,
            place=place(first),
            ref=ref,
        )
    return msg(
        "Message refused by the confidentiality check: {rule} in {place} (ref {ref}).",
        rule=first.rule,
        place=place(first),
        ref=ref,
    )


def place(finding: Finding) -> i18n.Message:
    """Where in the message a finding sits, in a reader's words: an attachment by name, the subject or the body.

    The mail extractor names an attachment's parts after it (`报告.docx!word/document.xml`) and the message's own
    parts plainly (`subject`, `keywords`, `body`, `body2`)."""
    part = finding.location.part
    first = part.split("!", 1)[0]
    if first == "subject":
        return msg("the subject")
    if first in ("keywords", "comments"):
        return msg("the headers")
    if "!" not in part and (re.fullmatch(r"body[\w-]*", first) or first in ("file", "filename", "")):
        return msg("the message")
    name = _short(first)
    return msg("attachment {name}", name=name) if name.isascii() else msg("an attachment")


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
        log.warning(render(msg("cannot list the attachments of a malformed message")))
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
        help=_("mail gateway: a Postfix or Sendmail milter that refuses classified mail at SMTP time"),
        description=_(
            "Scan every message Postfix accepts: block → 550 5.7.1 (refused), flag → the hold queue, pass → a header."
        ),
    )
    parser.add_argument(
        "--listen",
        metavar=_("SOCKET"),
        help=_("inet:PORT@HOST or unix:/path (default %s)") % MailTable.listen,
    )
    parser.add_argument("--audit", type=Path, metavar=_("PATH"), help=_("the decision log (default: [audit] path)"))
    parser.add_argument(
        "--workers",
        type=count,
        default=os.cpu_count() or 2,
        metavar="N",
        help=_("messages scanned at once (default: cores)"),
    )
    parser.add_argument("--quiet", "-q", action="store_true", help=_("log only failures, not every message's verdict"))
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    level = logging.WARNING if args.quiet else logging.INFO
    # First, so that a SIGTERM while the scanner loads still ends in an orderly stop (status 0).
    with StopSignal() as stop, logging_to("baomi milter: %(message)s", level):
        scanner = build_scanner(args)
        mail = scanner.config.table(MailTable)
        audit = AuditLog(audit_location(scanner.config.table(AuditTable), args.audit))
        rules = reloadable(args, scanner, audit, CHANNEL)
        gateway = Gateway(rules, audit, mail, args.workers)
        listen = args.listen or mail.listen
        try:
            server = MilterServer(listen, lambda: MailHandler(gateway))
        except (OSError, ValueError) as exc:
            audit.close()
            why = os_error(exc) if isinstance(exc, OSError) else exc.args[0]
            raise UsageError(msg("Cannot listen on {address}: {error}.", address=listen, error=why)) from None
        with rules.watching():
            log.info(render(msg("listening on {address} (rules {rules})", address=listen, rules=rules.fingerprint)))
            # Sessions in progress end with the process; Postfix answers them per milter_default_action (tempfail).
            server.serve_until(stop.wait, "milter-listener")
        audit.close()
        log.info(render(msg("stopped")))
    return 0
