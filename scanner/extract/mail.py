"""E-mail: RFC 5322 messages (.eml, mbox, raw messages from the mail door) and Outlook .msg.

The subject is a title, every text part is read in its declared charset, HTML as text, and attachments and forwarded
messages go back through the dispatcher by content.
"""

from __future__ import annotations

import email
import email.header
import email.policy
import re
from collections.abc import Iterator
from email.message import Message
from typing import Any

from scanner.extract.base import Context, Unscannable
from scanner.extract.html import decode_declared, html_to_text
from scanner.extract.text import decode_text
from scanner.i18n import msg
from scanner.model import Role, Segment

_MBOX_SEPARATOR = re.compile(rb"^From [^\r\n]*\r?\n", re.MULTILINE)
_EXTENSIONS = {"text/html": ".html", "text/plain": ".txt", "message/rfc822": ".eml", "application/pdf": ".pdf"}


def read_eml(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    message = email.message_from_bytes(data, policy=email.policy.compat32)
    yield from _read_message(message, prefix, ctx)
    if message.defects and not message.get_payload():
        malformed = msg("A malformed message.")
        ctx.problem("corrupt", malformed, prefix.rstrip("!"), message.defects[0].__class__.__name__)


def read_mbox(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    """Each message of a Unix mailbox, as message1.eml, message2.eml, ..."""
    messages = [chunk for chunk in _MBOX_SEPARATOR.split(data) if chunk.strip()]
    for number, chunk in enumerate(messages, 1):
        yield from ctx.descend(chunk, f"message{number}.eml", prefix)


def read_msg(data: bytes, prefix: str, ctx: Context) -> Iterator[Segment]:
    import extract_msg

    try:
        message = extract_msg.openMsg(data)
    except Exception as exc:  # extract-msg raises many kinds of errors on damaged files
        unreadable = msg("This is not a readable Outlook message.")
        raise Unscannable("corrupt", unreadable, cause=f"{type(exc).__name__}: {exc}") from None
    try:
        yield from _read_outlook(message, prefix, ctx)
    finally:
        message.close()


def _read_message(message: Message, prefix: str, ctx: Context) -> Iterator[Segment]:
    subject = _header(message, "Subject")
    if subject:
        yield Segment(subject, f"{prefix}subject", Role.TITLE)
    for field in ("Keywords", "Comments"):
        value = _header(message, field)
        if value:
            yield Segment(value, f"{prefix}{field.lower()}", Role.METADATA)
    yield from _read_part(message, prefix, ctx, _Counter())


class _Counter:
    def __init__(self) -> None:
        self.bodies = 0
        self.parts = 0


def _read_part(part: Message, prefix: str, ctx: Context, counter: _Counter) -> Iterator[Segment]:
    counter.parts += 1
    content_type = part.get_content_type()
    filename = _filename(part)
    if content_type == "message/rfc822" or (part.get_content_maintype() == "message" and part.is_multipart()):
        inner = part.get_payload()
        for number, message in enumerate(inner if isinstance(inner, list) else [inner], 1):
            name = filename or f"message{counter.parts}-{number}.eml"
            yield from ctx.descend(_as_bytes(message), name, prefix)
        return
    if part.is_multipart():
        for child in part.get_payload():
            if isinstance(child, Message):
                yield from _read_part(child, prefix, ctx, counter)
        return
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    attached = part.get_content_disposition() == "attachment"
    if filename or attached or part.get_content_maintype() != "text":
        name = filename or f"part{counter.parts}{_EXTENSIONS.get(content_type, '')}"
        yield from ctx.descend(data, name, prefix)
        return
    counter.bodies += 1
    where = f"{prefix}body" if counter.bodies == 1 else f"{prefix}body{counter.bodies}"
    try:
        text = decode_declared(data, part.get_content_charset())
    except Unscannable as exc:
        ctx.problem(exc.reason, exc.detail, where, exc.cause)
        return
    if content_type == "text/html":
        text = html_to_text(text)[1]
    yield Segment(text, where)


def _as_bytes(message: Any) -> bytes:
    if isinstance(message, Message):
        try:
            return message.as_bytes(policy=email.policy.compat32)
        except (UnicodeError, LookupError, ValueError):
            return bytes(message.as_string(), "utf-8", "surrogateescape")
    return str(message).encode("utf-8", "surrogateescape")


def _filename(part: Message) -> str:
    """The attachment's name, RFC 2231 or RFC 2047 encoded (both are seen from Chinese mail clients), or raw GBK."""
    raw = part.get_filename()
    if raw is None:
        return ""
    return _decode_words(str(raw)).replace("\\", "/").rsplit("/", 1)[-1].strip()


def _header(message: Message, name: str) -> str:
    raw = message.get(name)
    if raw is None:
        return ""
    return " ".join(_decode_words(str(raw)).split())


def _decode_words(raw: str) -> str:
    """RFC 2047 encoded words in their charset (widened: gb2312 as gb18030, big5 as big5hkscs); raw 8-bit as found."""
    try:
        pieces = email.header.decode_header(raw)
    except (email.errors.HeaderParseError, ValueError):
        pieces = [(raw, None)]
    out = []
    for chunk, charset in pieces:
        if isinstance(chunk, str):
            chunk = chunk.encode("utf-8", "surrogateescape")
        try:
            out.append(decode_declared(chunk, charset))
        except Unscannable:
            out.append(chunk.decode("utf-8", "replace"))
    return "".join(out)


def _read_outlook(message: Any, prefix: str, ctx: Context) -> Iterator[Segment]:
    subject, body = _outlook_strings(message)
    if subject:
        yield Segment(subject, f"{prefix}subject", Role.TITLE)
    if body:
        yield Segment(body, f"{prefix}body")
    html = _safely(lambda: message.htmlBody)
    if html and not body:
        yield Segment(html_to_text(decode_text(html).text)[1], f"{prefix}body-html")
    for number, attachment in enumerate(_safely(lambda: message.attachments) or [], 1):
        name = str(_safely(lambda a=attachment: a.longFilename or a.shortFilename or a.name) or f"attachment{number}")
        content = _safely(lambda a=attachment: a.data)
        if isinstance(content, bytes):
            yield from ctx.descend(content, name, prefix)
        elif content is not None and hasattr(content, "subject"):  # an attached Outlook message
            yield Segment(name, prefix + name, Role.FILENAME)
            yield from _read_outlook(content, f"{prefix}{name}!", ctx)
        else:
            yield Segment(name, prefix + name, Role.FILENAME)
            ctx.problem(
                "unsupported", msg("An attachment whose bytes cannot be taken out of the message."), prefix + name
            )


def _outlook_strings(message: Any) -> tuple[str, str]:
    """Subject and body. Messages with 8-bit strings and no code page come out as Latin-1 mojibake from
    extract-msg; the raw streams, decoded together, give the encoding back (Big5 and GBK mail from Outlook)."""
    if _safely(lambda: message.areStringsUnicode) is False:
        raws = [_safely(lambda s=s: message.getStream(f"__substg1.0_{s}")) or b"" for s in ("0037001E", "1000001E")]
        raws = [raw.rstrip(b"\x00") for raw in raws]
        if any(raws):
            try:
                encoding = decode_text(b"\n".join(raws)).encoding
                return raws[0].decode(encoding, "replace"), raws[1].decode(encoding, "replace")
            except Unscannable:
                pass
    return str(_safely(lambda: message.subject) or ""), str(_safely(lambda: message.body) or "")


def _safely(getter: Any) -> Any:
    """extract-msg computes properties lazily and raises on damaged streams; a missing property is None."""
    try:
        return getter()
    except Exception:
        return None
