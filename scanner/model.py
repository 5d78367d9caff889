"""The domain's records: segments of extracted text, findings, verdicts and file reports.

Every other module speaks in these words; they are plain dataclasses with a JSON form.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from scanner.i18n import Message, msg, render


class Verdict(enum.IntEnum):
    """What a door does with a file. Ordered: the worst action of a file's findings is its verdict."""

    PASS = 0
    FLAG = 1
    BLOCK = 2

    @classmethod
    def parse(cls, word: str) -> Verdict:
        try:
            return cls[word.strip().upper()]
        except KeyError:
            raise ValueError(msg("Unknown action “{word}”: expected pass, flag or block.", word=word)) from None

    def __str__(self) -> str:
        return self.name.lower()


class Role(enum.StrEnum):
    """Where a segment sat in its document: a mark is judged by its position as much as by its words."""

    BODY = "body"  # running text, a page of a PDF, a plain-text file
    TITLE = "title"  # document title (core properties, PDF /Title, e-mail subject)
    HEADER = "header"  # page header
    FOOTER = "footer"  # page footer
    CELL = "cell"  # one table or spreadsheet cell
    WATERMARK = "watermark"  # VML/DrawingML text watermark, OFD watermark annotation
    FILENAME = "filename"  # the name of the file or of an archive member or attachment
    METADATA = "metadata"  # subject, keywords, author and other properties
    NOTE = "note"  # footnotes, endnotes, comments, speaker notes, annotations
    DELETED = "deleted"  # tracked deletions: still in the file, still leaving the office
    TEXTBOX = "textbox"  # text boxes and shapes


@dataclass(frozen=True)
class Segment:
    """A run of text from one part of a file, as it is in the original.

    `part` names the place in the file, nesting with `!` through containers
    (`资料.zip!内部/通知.docx!header1`). `page` is 1-based where the format has pages.
    """

    text: str
    part: str = "body"
    role: Role = Role.BODY
    page: int | None = None


@dataclass(frozen=True)
class Location:
    part: str
    line: int  # 1-based line inside the segment
    column: int  # 1-based column inside that line, in characters of the original
    page: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"part": self.part, "line": self.line, "column": self.column}
        if self.page is not None:
            out["page"] = self.page
        return out

    def __str__(self) -> str:
        page = f"p{self.page}:" if self.page is not None else ""
        return f"{self.part}:{page}{self.line}:{self.column}" if self.line else self.part


@dataclass(frozen=True)
class Finding:
    """One reason a file may not leave: what matched, where, under which rule, and what to do.

    Why the rule fired is `reason`: a Message (scanner.i18n.msg) holding the sentence's id and its values, shown in
    each reader's language as `message`. `explanation` is the same sentence in English, for logs and for tools that
    read it; a detector not yet giving a reason sets `explanation` alone, and it is shown as it is.
    """

    category: str  # state-secret, work-secret, a dictionary's name, personal-data, unscannable, ...
    rule: str  # the rule that fired, e.g. mark.state-secret, term.leak-phrases, id.resident-id
    action: Verdict
    text: str  # the matched text as it is in the original
    location: Location
    context: str = ""  # a short window around the match, never more
    explanation: str = ""  # why the rule fired, in an English sentence (from `reason` when there is one)
    reason: Message | None = None  # why the rule fired, as data: rendered per language

    def __post_init__(self) -> None:
        if self.reason is not None and not self.explanation:
            object.__setattr__(self, "explanation", render(self.reason, "en"))

    @property
    def message(self) -> str:
        """Why the rule fired, in the current reader's language (scanner.i18n.speaking)."""
        return render(self.reason) if self.reason is not None else self.explanation

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "rule": self.rule,
            "action": str(self.action),
            "text": self.text,
            "location": self.location.to_dict(),
            "context": self.context,
            "explanation": self.explanation,
            "message": self.message,
        }


@dataclass
class FileReport:
    """Everything baomi says about one file: the JSON contract every door relies on."""

    path: str
    verdict: Verdict
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    size: int = 0
    sha256: str = ""
    format: str = ""  # what the content was detected as: text, docx, pdf, zip, ...
    encoding: str | None = None  # for text, the encoding that was used
    rule_set: str = ""  # the fingerprint of the rules it was decided under (scanner.ruleset)
    reused: bool = False  # from the scan index: the file's content and the rule set are those of a report made before

    @property
    def rules(self) -> list[str]:
        return sorted({f.rule for f in self.findings})

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.path,
            "verdict": str(self.verdict),
            "findings": [f.to_dict() for f in self.findings],
            "errors": list(self.errors),
            "size": self.size,
            "sha256": self.sha256,
            "format": self.format,
            "rule_set": self.rule_set,
            "reused": self.reused,
        }
        if self.encoding is not None:
            out["encoding"] = self.encoding
        return out
