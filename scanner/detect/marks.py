"""Classification marks (密级标志): 绝密/机密/秘密★期限, 工作秘密, 商业秘密, 内部资料 — found by form and position.

A keyword hit is only a candidate. Each named predicate below sets aside one shape of *mention* (a quotation, an
example, a quiz option, ...); what is left is a mark if it stands where marks stand (a header, a cell, a standalone
line near the top of a page).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

from scanner.detect.view import Judged, SegmentView
from scanner.model import Finding, Role, Verdict

_STAR = r"[★☆*✩✪✫✬✭✮✯✰⭐]"
_NUM = r"(?:\d{1,3}|[一二三四五六七八九十两百〇零]{1,4})"
_PERIOD = rf"(?:{_NUM}(?:年|个月|月|周|天|日)|长期|永久|无限期)"
_DATE = r"(?:\d{4}年\d{1,2}月(?:\d{1,2}日)?|\d{4}[-./]\d{1,2}[-./]\d{1,2})"
_CONDITION = r"(?:解密条件[:：]?.{1,30}|[\u4e00-\u9fff]{1,10}(?:之前|以前|前|后|为止))"
_TERM = rf"(?:(?:保密期限|期限)[:：]?)?(?:{_PERIOD}|{_DATE}|{_CONDITION})"
_OPEN = r"[【\[(（〔]?"
_CLOSE = r"[】\])）〕]?"
_COPY = r"(?:份号[:：]?)?(?:\d{6})?"  # GB/T 9704: the six-digit copy number may share the mark's line
_URGENCY = r"(?:特急|加急|特提|平急)?"
_HANDLING = (
    r"(?:[,;，；]?(?:注意保存|妥善保管|严禁外传|请勿外传|不得外传|不得扩散|仅供内部使用|内部使用|阅后收回|用后收回))?"
)

# Each kind of mark: its category, its levels, and whether it takes a period (★5年).
_KINDS = (
    ("work-secret", "工作秘密", True),
    ("commercial-secret", "商业秘密|公司机密|公司秘密|核心商密|普通商密|商密", True),
    ("state-secret", "绝密|机密|秘密", True),
    ("internal", "内部资料|内部文件|内部材料|内部刊物|保密资料|保密文件|内部", False),
)
_FORMS = [
    (
        category,
        re.compile(
            rf"{_COPY}{_OPEN}(?:密级[:：]?)?(?P<level>{levels}){_CLOSE}"
            + (rf"(?:(?P<star>{_STAR})(?P<term>{_TERM})?|(?P<bare>{_TERM}))?" if dated else rf"(?P<star>{_STAR})?")
            + rf"{_CLOSE}{_URGENCY}{_HANDLING}"
        ),
    )
    for category, levels, dated in _KINDS
]
_SPACE = re.compile(r"\s")
_TOP_LINES = 8  # a bare mark (no star, no period) counts only this near the top of its page or part
_NAMED_ROLES = {Role.FILENAME, Role.TITLE}  # judged by how they open, not as lines of prose
_REPLY_PREFIXES = r"(?i)^(?:(?:re|fw|fwd|aw|回复|答复|转发)[:：])+"
_STRONG_ROLES = {Role.HEADER, Role.FOOTER, Role.WATERMARK, Role.TITLE, Role.CELL, Role.TEXTBOX, Role.METADATA}


@dataclass(frozen=True)
class Candidate:
    """A mark's form found on a line, with what surrounds it."""

    category: str
    line: str  # the normalised line, whitespace removed
    start: int  # the form's span in `line`
    end: int
    full: bool  # has a star or a period: 机密★5年, not a bare 机密
    role: Role
    rank: int  # how many non-blank lines stand above it on its page or part

    @property
    def form(self) -> str:
        return self.line[self.start : self.end]

    @property
    def before(self) -> str:
        return self.line[: self.start]

    @property
    def after(self) -> str:
        return self.line[self.end :]


# --- Mentions: each predicate names one shape of text that carries mark words but is no mark. ---


def in_quotation(c: Candidate) -> bool:
    """例如“机密★5年”, 标注「秘密」: a mark quoted is a mark talked about."""
    return bool(re.search(r"[“\"「『‘'《]$", c.before)) and bool(re.match(r"[”\"」』’'》]", c.after))


def introduced_as_example(c: Candidate) -> bool:
    """例如: 机密★5年 / 标注为秘密 / 格式如下: explanations of how to mark show the marks they explain."""
    return bool(
        re.search(
            r"(例如|比如|譬如|示例|如下|形如|格式|标注为?|标明|标识为?|标志为?|写明|注明|字样|样式)[:：]?$", c.before
        )
    ) or ("字样" in c.after or "等字样" in c.line)


def quiz_option(c: Candidate) -> bool:
    """A.绝密 B.机密 C.秘密: answer options in a confidentiality quiz."""
    labels = re.findall(r"(?:^|[^A-Za-z])[A-Da-dＡ-Ｄ][.．、)）]", c.line)
    return bool(re.match(r"[(（]?[A-Da-dＡ-Ｄ][.．、)）]", c.line)) or len(labels) >= 2 or "答案" in c.line


def contract_clause(c: Candidate) -> bool:
    """乙方对甲方的商业秘密负有保密义务, 保密期限为五年: a contract's confidentiality clause."""
    return bool(re.search(r"甲方|乙方|丙方|本合同|本协议|双方|违约", c.line))


def email_disclaimer(c: Candidate) -> bool:
    """本邮件及其附件可能含有商业秘密: the footer every company mail carries."""
    return bool(re.search(r"本邮件|此邮件|该邮件|邮件及其附件|收件人|免责|disclaimer|intended recipient", c.line, re.I))


def table_of_contents_entry(c: Candidate) -> bool:
    """第三章 机密文件管理……12: a contents line, leader dots and a page number."""
    return bool(re.search(r"(\.{3,}|…+|·{3,}|-{3,}|_{3,})\d{1,4}$", c.line))


def running_prose(c: Candidate) -> bool:
    """国家秘密的密级分为绝密、机密、秘密三级: the words inside a sentence, with other text on the line."""
    return bool(c.before or c.after) and c.role not in _NAMED_ROLES


def not_opening_a_name_or_title(c: Candidate) -> bool:
    """关于加强机密文件管理的通知.docx, 机密文件管理办法 (a title): a name or title that mentions a level instead of
    opening with its mark. 机密★5年-预算.docx and 【机密】会议纪要 open with theirs; so does 机密★5年 关于…的报告 as
    an e-mail subject, after any Re:/Fw: the mail client added."""
    if c.role not in _NAMED_ROLES:
        return False
    opens = not re.sub(_REPLY_PREFIXES, "", c.before) or re.fullmatch(r"[【\[(（〔]", c.before)
    closes = not c.after or c.full or c.form[-1] in "】])）〕" or re.match(r"[-_.、:：】\])）〕~+]", c.after)
    return not (opens and closes)


MENTIONS: tuple[Callable[[Candidate], bool], ...] = (
    in_quotation,
    introduced_as_example,
    quiz_option,
    contract_clause,
    email_disclaimer,
    table_of_contents_entry,
    not_opening_a_name_or_title,
    running_prose,
)


def stands_where_marks_stand(c: Candidate) -> bool:
    """Headers, footers, cells, titles, watermarks and names carry marks; in running text, a full mark (★ or a
    period) on its own line anywhere, a bare level only near the top of its page or part."""
    return c.role in _STRONG_ROLES or c.role == Role.FILENAME or c.full or c.rank < _TOP_LINES


# --- The detector ---


def judge(view: SegmentView, hits: Iterable[tuple[int, int]]) -> Iterator[Judged]:
    """Judge every line that holds a mark keyword; yield what was decided about each form found there."""
    seen_lines: set[int] = set()
    for start, _ in hits:
        line_start, line_end = view.line_of(start)
        if line_start in seen_lines:
            continue
        seen_lines.add(line_start)
        yield from _judge_line(view, line_start, line_end)


def _judge_line(view: SegmentView, line_start: int, line_end: int) -> Iterator[Judged]:
    raw = view.normal.text[line_start:line_end]
    keep: Sequence[int] = range(len(raw))  # where each character of the squeezed line stands in the raw one
    line = raw
    if _SPACE.search(raw):
        keep = [i for i, ch in enumerate(raw) if not ch.isspace()]
        line = "".join(raw[i] for i in keep)
    for category, (start, end, full) in _forms(line):
        candidate = Candidate(category, line, start, end, full, view.segment.role, rank=0)
        span = (line_start + keep[start], line_start + keep[end - 1] + 1)
        rule = f"mark.{category}"
        mention = next((p.__name__ for p in MENTIONS if p(candidate)), None)
        if mention is None:
            # Counting the lines above is the costly part: only for what is left after the mentions.
            candidate = replace(candidate, rank=_rank(view.normal.text, line_start))
            if not stands_where_marks_stand(candidate):
                mention = "not_where_marks_stand"
        if mention:
            yield Judged(rule, span, f"mention ({mention})", None)
            continue
        text = view.text(*span)
        finding = Finding(
            category=category,
            rule=rule,
            action=Verdict.BLOCK,
            text=text,
            location=view.location(*span),
            context=view.context(*span),
            explanation=_explain(candidate, text),
        )
        yield Judged(rule, span, "finding", finding)


def _forms(line: str) -> Iterator[tuple[str, tuple[int, int, bool]]]:
    """The longest mark form at each place on the line, each place once (工作秘密 is not also 秘密)."""
    taken: list[tuple[int, int]] = []
    for category, form in _FORMS:
        for match in form.finditer(line):
            start, end = match.start(), match.end()
            if end == start or any(s < end and start < e for s, e in taken):
                continue
            taken.append((start, end))
            groups = match.groupdict()
            yield category, (start, end, bool(groups.get("star") or groups.get("term") or groups.get("bare")))


def _rank(text: str, line_start: int) -> int:
    """Non-blank lines above this one on its page (a form feed starts a page)."""
    page_start = text.rfind("\f", 0, line_start) + 1
    above = text[page_start:line_start]
    return sum(1 for line in above.split("\n") if line.strip())


def _explain(c: Candidate, text: str) -> str:
    where = {
        Role.FILENAME: "opens the file name",
        Role.BODY: f"stands alone on line {c.rank + 1} of its page" if not c.full else "stands alone on its line",
    }.get(c.role, f"stands in the {c.role.value}")
    return f"{c.category} mark {text!r} {where}"
