"""Classification marks (密级标志): 绝密/机密/秘密★期限, 工作秘密, 商业秘密, 内部资料 — found by form and position.

A keyword hit is only a candidate. Each named predicate below sets aside one shape of *mention* (a quotation, an
example, a quiz option, ...) by the characters right next to the form; what is left is a mark if it stands where
marks stand (opening a line, a cell, a title or a name; in a header; alone near the top of a page).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date
from functools import cache

from scanner.detect.budget import Budget
from scanner.detect.view import Judged, SegmentView
from scanner.i18n import N_, Message, msg
from scanner.model import Finding, Role, Segment, Verdict
from scanner.normalize import STRIKE, lookalikes, spellings

# Every finding's action is set by the policy (policy.apply_policy, per category and channel); until then a finding
# holds its file for a person, never more and never less.
PENDING = Verdict.FLAG

STAR_SIGNS = "★☆*※✩✪✫✬✭✮✯✰⭐✱✲✳✴✵✶✷✸✹✺✻✼✽✦✧⋆∗⁎﹡"
_STAR = "[" + re.escape(STAR_SIGNS) + "]"
_NUM = r"(?:\d{1,3}|[一二三四五六七八九十两百〇零]{1,4})"
_PERIOD = rf"(?:{_NUM}(?:年|个月|月|周|天|日)|长期|永久|无限期)"
DATE = r"(?:(\d{4})年(\d{1,2})月(?:(\d{1,2})日)?|(\d{4})[-./](\d{1,2})[-./](\d{1,2}))"
_DATED = rf"(?:{_PERIOD}|{DATE}(?:前|止|为止)?)"
_CONDITION = r"(?:解密条件[:：]?.{1,30}|[\u4e00-\u9fff]{1,10}(?:之前|以前|前|后|为止))"
_TERM_LABEL = r"(?:(?:保密期限|期限|解密时间|解密日期)[:：]?)?"
_TERM = rf"{_TERM_LABEL}(?:{_DATED}|{_CONDITION})"
# Without a star, only a period or a date (机密5年), or a condition that says it is one (解密条件：…).
_BARE_TERM = rf"(?:{_TERM_LABEL}{_DATED}|解密条件[:：]?.{{1,30}})"
_OPEN = r"[【\[(（〔]"
_CLOSE = r"[】\])）〕]"
_COPY = r"(?:份号[:：]?)?(?:\d{6})?"  # GB/T 9704: the six-digit copy number may share the mark's line
_URGENCY = r"(?:特急|加急|特提|平急)?"
_HANDLING = (
    r"(?:[,;，；]?(?:注意保存|妥善保管|严禁外传|请勿外传|不得外传|不得扩散|仅供内部使用|内部使用|阅后收回|用后收回))?"
)

# Each kind of mark and its levels, longest first: 工作秘密 is not also 秘密, 公司机密 not also 机密.
KINDS = (
    ("work-secret", ("工作秘密",)),
    ("commercial-secret", ("商业秘密", "公司机密", "公司秘密", "核心商密", "普通商密", "商密")),
    ("state-secret", ("绝密", "机密", "秘密")),
    ("internal", ("内部资料", "内部文件", "内部材料", "内部刊物", "保密资料", "保密文件", "内部")),
)
STATE_LEVELS = ("绝密", "机密", "秘密")
_LEVEL_WORDS = "|".join(("工作秘密", "商业秘密", *STATE_LEVELS, "内部"))
_LISTED_LEVEL = rf"(?:{_LEVEL_WORDS})(?:{_STAR}|级)?[”\"」』’']?"

_WINDOW = 16  # characters on each side of a form that the predicates see
_TOP_LINES = 8  # a bare mark (no star, no period) counts only this near the top of its page or part
_NAMED_ROLES = {Role.FILENAME, Role.TITLE}  # judged by how they open, not as lines of prose
_REPLY_PREFIXES = r"(?i)^(?:(?:re|fw|fwd|aw|回复|答复|转发)[:：])+"
_STRONG_ROLES = {Role.HEADER, Role.FOOTER, Role.WATERMARK, Role.TITLE, Role.CELL, Role.TEXTBOX, Role.METADATA}
# What may stand between a mark and the edge of its field without making it part of a sentence: markdown and HTML
# emphasis, list and quote markers, a 解密 stamp, CSV separators of empty fields, closing brackets and full stops.
_LEAD = re.compile(r"(?:[#>*_~=|+\-]|<[A-Za-z][^<>]{0,40}>|(?:已经?)?解密[:：]?)*")
_TRAIL = re.compile(r"(?:[*_~=|+\-,;，；:：。.!！】\])）〕]|</?[A-Za-z][^<>]{0,40}>)*")
_SPACE = re.compile(r"\s")


def _written(word: str) -> str:
    """A pattern for `word` written with any of its characters' look-alikes."""
    alike = lookalikes()
    return "".join(f"[{re.escape(ch + alike[ch])}]" if ch in alike else re.escape(ch) for ch in word)


@cache
def _form(ocr: bool) -> re.Pattern[str]:
    """One pattern for every kind of mark. In text read by OCR any one character may stand where the star does, if
    a period or date follows (Tesseract reads ★ as 文)."""
    levels = "|".join(_written(word) for _, words in KINDS for word in words)
    star = rf"(?:(?P<star>{_STAR})(?P<term>{_TERM})?|(?P<bare>{_BARE_TERM})"
    star += r"|(?P<misread>.)(?P<ocrterm>" + _DATED + "))?" if ocr else ")?"
    return re.compile(
        rf"{_COPY}(?P<open>{_OPEN})?(?P<label>密级[:：]?)?(?P<level>{levels})(?P<close>{_CLOSE})?"
        rf"{star}{_CLOSE}?{_URGENCY}{_HANDLING}"
    )


@cache
def _canonical() -> dict[str, tuple[str, str]]:
    """A level as written (look-alikes and all) → (its category, the level word it imitates)."""
    return {written: (category, word) for category, words in KINDS for word in words for written in spellings(word)}


@dataclass(slots=True)
class Candidate:
    """A mark's form found on a line, with what stands right next to it."""

    category: str
    form: str  # as normalised, whitespace removed
    before: str  # up to _WINDOW characters before it on its line, whitespace removed
    after: str  # up to _WINDOW characters after it
    opens: bool  # nothing but markup before it in its line, cell or field (a field ends at a tab or a wide gap)
    closes: bool  # nothing but markup, separators or closing punctuation after it in its field
    full: bool  # has a star or a period (机密★5年), or is framed (【机密】) or labelled (密级：机密)
    role: Role
    rank: int = _TOP_LINES  # non-blank lines above it on its page or part (counted only when needed; until then, many)


# --- Mentions: each predicate names one shape of text that carries mark words but is no mark. ---


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _search(pattern: str, text: str) -> re.Match[str] | None:
    return _compiled(pattern).search(text)


def _match(pattern: str, text: str) -> re.Match[str] | None:
    return _compiled(pattern).match(text)


def in_quotation(c: Candidate) -> bool:
    """例如“机密★5年”, 标注「秘密」: a mark quoted is a mark talked about."""
    return bool(_search(r"[“\"「『‘'《]$", c.before)) and bool(_match(r"[”\"」』’'》]", c.after))


def introduced_as_example(c: Candidate) -> bool:
    """例如: 机密★5年 / 标注为秘密 / 应当标明机密★等字样: explanations of how to mark show the marks they explain."""
    return bool(
        _search(r"(?:例如|比如|譬如|示例|如下|形如|格式|标注为?|标明|标识为?|标志为?|写明|注明|样式)[:：]?$", c.before)
        or _match(r"[”\"」』’'》]?(?:等|的)?字样", c.after)
    )


def listed_with_other_levels(c: Candidate) -> bool:
    """绝密、机密、秘密 / 绝密★、机密★和秘密★: the levels listed one after another are the levels talked about."""
    return bool(
        _search(rf"{_LISTED_LEVEL}[、，,/和或及与～~]$", c.before)
        or _match(rf"[、，,/和或及与～~][“\"「『‘']?{_LISTED_LEVEL}", c.after)
    )


def quiz_option(c: Candidate) -> bool:
    """A.绝密 B.机密 C.秘密 / 答案：C: answer options and answers in a confidentiality quiz."""
    return bool(_search(r"(?:^|[^A-Za-z])[(（]?[A-Da-dＡ-Ｄ][.．、)）]$|答案[:：]?[A-D]?[.．、]?$", c.before))


def contract_clause(c: Candidate) -> bool:
    """乙方对甲方的商业秘密负有保密义务: a party's secrets, named in a contract's confidentiality clause."""
    return bool(_search(r"(?:甲方|乙方|丙方|双方|对方|本合同|本协议)(?:的|之|所有的|所属的?)?$", c.before))


def email_disclaimer(c: Candidate) -> bool:
    """本邮件及其附件可能含有商业秘密: the footer every company mail carries."""
    return bool(_search(r"(?:邮件|附件|信息)[^，。]{0,6}?(?:含有|包含|载有|涉及|属于)$", c.before))


def table_of_contents_entry(c: Candidate) -> bool:
    """第三章 机密文件管理……12: a contents line, the level inside an entry's title, leader dots and a page."""
    return not c.opens and bool(_search(r"(?:\.{3,}|…+|·{3,}|-{3,}|_{3,})\d{1,4}$", c.after))


def not_opening_a_name_or_title(c: Candidate) -> bool:
    """关于加强机密文件管理的通知.docx, 机密文件管理办法 (a title): a name or title that mentions a level instead of
    opening with its mark. 机密★5年-预算.docx and 【机密】会议纪要 open with theirs; so does 机密★5年 关于…的报告 as
    an e-mail subject, after any Re:/Fw: the mail client added."""
    if c.role not in _NAMED_ROLES:
        return False
    before = re.sub(_REPLY_PREFIXES, "", c.before) if len(c.before) < _WINDOW else c.before
    opens = not before or _match(f"{_OPEN}$", before)
    closes = not c.after or c.full or c.form[-1] in "】])）〕" or _match(r"[-_.、:：】\])）〕~+]", c.after)
    return not (opens and closes)


def running_prose(c: Candidate) -> bool:
    """国家秘密的密级分为绝密、机密、秘密三级 / 机密文件应当…: the words inside a sentence, not opening their line, cell
    or field, or a bare level that runs on into the next word."""
    return c.role not in _NAMED_ROLES and (not c.opens or not (c.closes or c.full))


MENTIONS: tuple[Callable[[Candidate], bool], ...] = (
    in_quotation,
    introduced_as_example,
    listed_with_other_levels,
    quiz_option,
    contract_clause,
    email_disclaimer,
    table_of_contents_entry,
    not_opening_a_name_or_title,
    running_prose,
)


def stands_where_marks_stand(c: Candidate) -> bool:
    """Headers, footers, cells, titles, watermarks and names carry marks; in running text, a full mark (★ or a
    period) opening its line anywhere, a bare level only near the top of its page or part."""
    return c.role in _STRONG_ROLES or c.role == Role.FILENAME or c.full or c.rank < _TOP_LINES


# --- Withdrawn marks: declassified is not public, so a person confirms before it goes. ---


def declassified_by_date(c: Candidate, today: date) -> date | None:
    """秘密★2020年12月31日, 机密★5年（解密时间：2021年1月1日）: a mark whose declassification date has passed."""
    text = c.form + (m.group() if (m := re.match(rf"[(（]?(?:解密时间|解密日期)[:：]?{DATE}", c.after)) else "")
    for found in re.finditer(DATE, text):
        year, month, *day = [int(g) for g in found.groups() if g is not None]
        try:
            when = date(year, month, day[0] if day else 1)
        except ValueError:
            continue
        if when < today:
            return when
    return None


def stamped_declassified(c: Candidate) -> bool:
    """机密★5年（已解密） / 解密 秘密★1年: a declassification stamp beside the mark."""
    stamp = r"(?:已解密|已经解密|解密)(?!条件|时间|日期)"
    return bool(re.search(rf"{stamp}[:：)）】\]]?$", c.before) or re.match(rf"[(（【\[]?{stamp}", c.after))


def struck_through(original: str, begin: int, end: int) -> bool:
    """机̶密̶★̶5̶年̶, ~~机密★5年~~, <del>机密★5年</del>, a Word run struck through: a mark crossed out."""
    return (
        any(ch in STRIKE for ch in original[begin:end])
        or bool(re.search(r"~~\s*$", original[max(0, begin - 4) : begin]) and re.match(r"\s*~~", original[end:]))
        or bool(re.search(r"<(?:del|s|strike)\b[^<>]{0,40}>\s*$", original[max(0, begin - 48) : begin]))
    )


# --- The detector ---


@dataclass(frozen=True)
class Line:
    """A line of the normalised text with its whitespace taken out (机密 ★ 5 年 is one form), and the way back to
    where each of its characters stood, to see the gaps that separate fields."""

    view: SegmentView
    text: str
    start: int  # where the line starts in the normalised text
    keep: Sequence[int]  # where each character of `text` stands in the line as normalised

    @classmethod
    def of(cls, view: SegmentView, start: int, end: int) -> Line:
        raw = view.normal.text[start:end]
        view.work.characters += len(raw)
        if not _SPACE.search(raw):
            return cls(view, raw, start, range(len(raw)))
        keep = [i for i, ch in enumerate(raw) if not ch.isspace()]
        return cls(view, "".join(raw[i] for i in keep), start, keep)

    def at(self, k: int) -> int:
        """The index in the normalised text of character k of the line."""
        return self.start + self.keep[k]

    def gap(self, k: int) -> str:
        """What stood in the original between characters k-1 and k of the line: spaces, tabs, what folding cut."""
        original = self.view.normal.original
        return self.view.segment.text[original(self.at(k - 1)) + 1 : original(self.at(k))]

    def gapless(self, a: int, b: int) -> bool:
        """Whether characters a to b of the line stood side by side in the original, nothing between them."""
        if a >= b:
            return True
        return self.keep[b] - self.keep[a] == b - a and not self.view.normal.cut_within(self.at(a), self.at(b))


def judge(view: SegmentView, hits: Iterable[tuple[int, int]], budget: Budget | None = None) -> Iterator[Judged]:
    """Judge every line that holds a mark keyword, each line once; yield what was decided about each form there."""
    budget = budget or Budget(work=view.work)
    starts = [start for start, _ in hits]  # in order of their end, so of their lines
    i = 0
    while i < len(starts):
        line_start, line_end = view.line_of(starts[i])
        yield from _judge_line(view, line_start, line_end, budget)
        i = bisect_left(starts, line_end, i + 1)  # the other hits on this line were judged with it


def _judge_line(view: SegmentView, line_start: int, line_end: int, budget: Budget) -> Iterator[Judged]:
    line = Line.of(view, line_start, line_end)
    role = view.segment.role
    for match in _form(read_by_ocr(view.segment)).finditer(line.text):
        start, end = match.span()
        if end == start:
            continue
        budget.judging(view.segment.part)
        view.work.characters += 2 * _WINDOW
        at = (line.at(start), line.at(end - 1) + 1)  # the form's span in the normalised text
        category, imitated = _canonical()[match.group("level")]
        groups = match.groupdict()
        candidate = Candidate(
            category=category,
            form=match.group(),
            before=line.text[max(0, start - _WINDOW) : start],
            after=line.text[end : end + _WINDOW],
            opens=_opens(line, start),
            closes=_closes(line, end),
            full=bool(groups["star"] or groups["bare"] or groups["label"] or groups.get("ocrterm"))
            or bool(groups["open"] and groups["close"]),
            role=role,
        )
        mention = next((p.__name__ for p in MENTIONS if p(candidate)), None)
        if mention is None and not stands_where_marks_stand(candidate):
            # Counting the lines above is the costly part: only for what is left after the mentions.
            candidate = replace(candidate, rank=view.lines_above(line_start, _TOP_LINES))
            if not stands_where_marks_stand(candidate):
                mention = "not_where_marks_stand"
        if mention:
            yield Judged(f"mark.{category}", at, f"mention ({mention})", None)
            continue
        rule, finding_category, why = _classify(view, candidate, match.group("level"), imitated, at)
        if not budget.admit(rule, match.group()):
            yield Judged(rule, at, "finding (counted, not listed)", None, match.group())
            continue
        text = view.text(*at)
        finding = Finding(
            category=finding_category,
            rule=rule,
            action=PENDING,
            text=text,
            location=view.location(*at),
            context=view.context(*at),
            reason=explain(category, text, candidate, why),
        )
        yield Judged(rule, at, "finding", finding, match.group())


def _classify(
    view: SegmentView, c: Candidate, written: str, imitated: str, at: tuple[int, int]
) -> tuple[str, str, Message | None]:
    """(rule, category, why) of a mark: as it is, disguised with look-alikes, or withdrawn (declassified)."""
    if written != imitated:
        why = msg(
            "It is written with look-alike characters (“{written}” for “{imitated}”).",
            written=written,
            imitated=imitated,
        )
        return "mark.disguised", "disguised-mark", why
    begin, end = view.original(*at)
    if struck_through(view.segment.text, begin, end):
        return "mark.declassified", "declassified", msg("It is struck through: declassified is not the same as public.")
    if stamped_declassified(c):
        why = msg("A declassification stamp stands beside it: declassified is not the same as public.")
        return "mark.declassified", "declassified", why
    passed = declassified_by_date(c, date.today())
    if passed is not None:
        why = msg(
            "Its declassification date {date} has passed: declassified is not the same as public.",
            date=passed.isoformat(),
        )
        return "mark.declassified", "declassified", why
    return f"mark.{c.category}", c.category, None


def _opens(line: Line, start: int) -> bool:
    """Nothing but markup between the form and the start of its line or field (a tab or a wide gap ends a field)."""
    low = max(0, start - _WINDOW)
    if not line.gapless(low, start):
        for k in range(start, low, -1):
            if _wide(line.gap(k)):
                return bool(_LEAD.fullmatch(line.text[k:start]))
    return low == 0 and bool(_LEAD.fullmatch(line.text[:start]))


def _closes(line: Line, end: int) -> bool:
    """Nothing but markup, separators or closing punctuation between the form and the end of its field."""
    high = min(len(line.text), end + _WINDOW)
    if not line.gapless(end - 1, high - 1):
        for k in range(end, high):
            if _wide(line.gap(k)):
                return bool(_TRAIL.fullmatch(line.text[end:k]))
    return high == len(line.text) and bool(_TRAIL.fullmatch(line.text[end:]))


def _wide(gap: str) -> bool:
    """A gap that separates fields: a tab, an ideographic space, or two spaces or more."""
    return "\t" in gap or "\u3000" in gap or (gap.count(" ") + gap.count("\xa0")) >= 2


def read_by_ocr(segment: Segment) -> bool:
    """Text Tesseract read from an image: the extractors name its part `ocr` (an image) or `pageN.ocr` (a page)."""
    last = segment.part.rsplit("!", 1)[-1]
    return last == "ocr" or last.endswith(".ocr")


# What each kind of mark is called in an explanation, and where a segment of each role stands in its file.
KIND_NAMES = {
    "state-secret": N_("State-secret mark"),
    "work-secret": N_("Work-secret mark"),
    "commercial-secret": N_("Commercial-secret mark"),
    "internal": N_("Internal-material mark"),
}
ROLE_PLACES = {
    Role.HEADER: N_("page header"),
    Role.FOOTER: N_("page footer"),
    Role.CELL: N_("table cell"),
    Role.WATERMARK: N_("watermark"),
    Role.METADATA: N_("document properties"),
    Role.NOTE: N_("notes or comments"),
    Role.DELETED: N_("text deleted with changes tracked"),
    Role.TEXTBOX: N_("text box"),
}


def _where(c: Candidate, kind: Message, mark: str) -> Message:
    """Where the mark stands, said of this kind of mark as written: the reason it counts as a mark."""
    if c.role == Role.FILENAME:
        return msg("{kind} “{mark}” opens the file name.", kind=kind, mark=mark)
    if c.role == Role.TITLE:
        return msg("{kind} “{mark}” opens the title.", kind=kind, mark=mark)
    if c.role != Role.BODY:
        return msg("{kind} “{mark}” stands in the {place}.", kind=kind, mark=mark, place=msg(ROLE_PLACES[c.role]))
    if c.full and c.opens:
        return msg("{kind} “{mark}” opens its line.", kind=kind, mark=mark)
    if c.full:
        return msg("{kind} “{mark}” stands at the end of its line.", kind=kind, mark=mark)
    return msg("{kind} “{mark}” stands alone on line {line} of its page.", kind=kind, mark=mark, line=c.rank + 1)


def explain(category: str, text: str, c: Candidate, why: Message | None) -> Message:
    """The reason a report gives for a mark: what kind, as written, where it stands, and why it counts so."""
    sentence = _where(c, msg(KIND_NAMES[category]), text)
    return msg("{sentence} {more}", sentence=sentence, more=why) if why is not None else sentence


# --- A table that lists the levels ---

_CELL = re.compile(r"(?P<table>.+)\.r(?P<row>\d+)c(?P<col>\d+)$|(?P<sheet>.+!)(?P<letters>[A-Z]{1,3})(?P<number>\d+)$")


def lone_level(segment: Segment) -> str | None:
    """The level a cell holds when it holds nothing else (绝密, 机密级), else None."""
    if segment.role != Role.CELL:
        return None
    text = "".join(segment.text.split())
    found = re.fullmatch(rf"({'|'.join(STATE_LEVELS)})级?", text)
    return found.group(1) if found else None


def table_of_levels(cells: Iterable[tuple[str, str]]) -> set[str]:
    """绝密 | 机密 | 秘密, each alone in a cell of one column or row beside what each means: a regulation's table of
    the levels, not marks. Takes (part, level) of the cells that hold only a level; returns the parts that are
    mentions. A lone level cell, as in a document's header row (密级 | 机密), is still a mark."""
    lines: dict[tuple[str, str, str], set[str]] = {}
    where: dict[str, list[tuple[str, str, str]]] = {}
    for part, level in cells:
        found = _CELL.fullmatch(part)
        if not found:
            continue
        table = found.group("table") or found.group("sheet")
        row = found.group("row") or found.group("number")
        col = found.group("col") or found.group("letters")
        keys = [(table, "row", row), (table, "col", col)]
        where[part] = keys
        for key in keys:
            lines.setdefault(key, set()).add(level)
    return {part for part, keys in where.items() if any(len(lines[key]) >= 2 for key in keys)}
