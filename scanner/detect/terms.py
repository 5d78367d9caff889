"""Dictionary terms: an automaton hit counts only where jieba agrees the term is a word there, and where it is not
only named (a list of examples, a definition, a record cited, a law's prohibition).

有机密封圈 holds no 机密 and 便秘密切 no 秘密; jieba (scanner/detect/segmenter.py) segments a small window around each
hit, never a whole document. The mention predicates, like the marks', look only at the characters next to the term.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from itertools import accumulate
from typing import NamedTuple

from scanner.detect.budget import Budget
from scanner.detect.segmenter import Segmenter, load_segmenter
from scanner.detect.view import Judged, SegmentView
from scanner.dictionaries import Term
from scanner.i18n import Message, msg, render
from scanner.model import Finding

_WINDOW = 8  # characters of context on each side that jieba sees
_NEAR = 24  # characters on each side that the mention predicates see
_CLAUSE_END = re.compile(r"[，。；;！？!?：:\n]")
_JOINERS = ("、", "和", "及", "或者", "或", "以及", "与")  # what joins the items of a list
_JOINER = f"(?:{'|'.join(_JOINERS)})"


class TermCandidate(NamedTuple):
    """A dictionary term where jieba found it a word, with what stands next to it on its line."""

    term: str  # as normalised
    before: str  # up to _NEAR characters before it on its line
    after: str  # up to _NEAR characters after it


# --- Mentions: each predicate names one shape of text that names a term without being what it names. ---


def listed_among_examples(c: TermCandidate) -> bool:
    """商业秘密包括技术方案、工艺参数、客户名单等 / 提供工资表、财务报表等资料 / 披露源代码等专有信息: one item of a
    list of examples, as a contract's definition of 商业秘密 or a law names them; the records themselves are not
    there. A list of the records themselves (附件：客户名单、报价底线) has no 等 and no 包括 and still counts."""
    item = c.before.endswith(_JOINERS) or _JOINED_AFTER.match(c.after)
    if not item:
        return False
    clause_after = _CLAUSE_END.split(c.after, maxsplit=1)[0]
    clause_before = _CLAUSE_END.split(c.before)[-1]
    return "等" in clause_after or bool(_INTRODUCES_EXAMPLES.search(clause_before))


_JOINED_AFTER = re.compile(rf"{_JOINER}|等(?!级|待|候|到)")
_INTRODUCES_EXAMPLES = re.compile(r"包括|包含|例如|诸如|比如|是指|涉及")


def defined_term(c: TermCandidate) -> bool:
    """商业秘密中的客户名单，一般是指… / 本条例所称工资表: a law or contract defining the word, not the record."""
    return bool(_DEFINITION_AFTER.match(c.after) or c.before.endswith(("所称", "所称的")))


_DEFINITION_AFTER = re.compile(r"[，,]?(?:一般|通常)?(?:是指|系指|指的是)")


def cited_as_a_source(c: TermCandidate) -> bool:
    """人民政府常务会议纪要中指出 / 调取的工资表上的考勤记录 / 该工资表显示: a record a judgment or report cites."""
    return bool(_CITED.match(c.after))


_CITED = re.compile(r"(?:中|上)?(?:指出|显示|载明|记载|写明|表明|所载)|上的|中的")


def prohibition_naming_its_object(c: TermCandidate) -> bool:
    """不得复制音像制品 / 禁止复制、下载、汇编、摘抄绝密级文件: a law's prohibition names what it covers. A handling
    instruction on a document ends its clause where it stands (此件不得复制。严禁复制、外传) or names the document
    itself (不得复制本文件), and still counts."""
    if not c.term.startswith(("不得", "禁止", "严禁", "请勿")):
        return False
    rest = _CLAUSE_END.split(c.after, maxsplit=1)[0]
    rest = re.sub(rf"^(?:{_JOINER}[\u4e00-\u9fff]{{2}})+", "", rest)  # other acts forbidden with it
    return bool(re.match(r"[\u4e00-\u9fff]", rest)) and not re.match(r"[本此该这给向于至到]", rest)


MENTIONS: tuple[Callable[[TermCandidate], bool], ...] = (
    listed_among_examples,
    defined_term,
    cited_as_a_source,
    prohibition_naming_its_object,
)


class TermChecker:
    """Owns its own segmenter, loaded on the first hit, so a file without hits never pays for it.

    A word made known changes the segmenter's totals, and so how it may cut any text after: every term of the
    dictionary (`words`, one a line) is taught to it at once, in one order, when it is loaded, so that a file is cut
    the same whatever the process judged before it (a scanning process, a door's thread)."""

    def __init__(self, words: str = "", segmenter: Callable[[], Segmenter] = load_segmenter) -> None:
        self._words = words
        self._new_segmenter = segmenter
        self._segmenter: Segmenter | None = None
        self._known: set[str] = set()
        self._reasons: dict[Term, tuple[Message, str]] = {}

    def judge(
        self,
        view: SegmentView,
        hits: Iterable[tuple[int, int, tuple[Term, ...]]],
        budget: Budget | None = None,
    ) -> Iterator[Judged]:
        budget = budget or Budget(work=view.work)
        text = view.normal.text
        for start, end, terms in hits:
            key, rule = text[start:end], f"term.{terms[0].category}"
            if budget.full(rule, key):  # listed often enough: what comes after is only counted
                budget.step(view.segment.part)
                budget.admit(rule, key)
                yield Judged(rule, (start, end), "not examined (repeats of it are counted)", None, key)
                continue
            budget.judging(view.segment.part)
            mention = None if self.is_word_here(text, start, end) else "not_a_word_here"
            if mention is None:
                view.work.characters += 2 * _NEAR
                candidate = _candidate(text, start, end)
                mention = next((p.__name__ for p in MENTIONS if p(candidate)), None)
            if mention:
                yield Judged(rule, (start, end), f"mention ({mention})", None, key)
                continue
            budget.admit(rule, key)
            location = view.location(start, end)
            original = view.text(start, end)
            context = view.context(start, end)
            for each in terms:
                reason, english = self._reason(each)
                finding = Finding(
                    category=each.category,
                    rule=f"term.{each.category}",
                    action=each.action,
                    text=original,
                    location=location,
                    context=context,
                    explanation=english,
                    reason=reason,
                )
                yield Judged(finding.rule, (start, end), "finding", finding, key)

    def _reason(self, term: Term) -> tuple[Message, str]:
        """The reason a finding of `term` gives and its English sentence: the same at every hit, so made once."""
        made = self._reasons.get(term)
        if made is None:
            reason = explain(term.text, term.source)
            made = self._reasons[term] = (reason, render(reason, "en"))
        return made

    def is_word_here(self, text: str, start: int, end: int) -> bool:
        """True when segmenting the window around [start, end) cuts at both ends of the hit."""
        term = text[start:end]
        if _latin(term[0]) or _latin(term[-1]):
            return _ascii_bounded(text, start, end)
        lo = max(0, start - _WINDOW, text.rfind("\n", max(0, start - _WINDOW), start) + 1)
        hi = min(len(text), end + _WINDOW)
        newline = text.find("\n", end, hi)
        hi = newline if newline != -1 else hi
        cuts = self._cuts(text[lo:hi], term)
        return (start - lo) in cuts and (end - lo) in cuts

    def _cuts(self, window: str, term: str) -> set[int]:
        if self._segmenter is None:
            self._segmenter = self._new_segmenter()
            taught = self._words.split("\n") if self._words else []
            for word in taught:
                self._segmenter.know(word)
            self._known.update(taught)
        if term not in self._known:
            self._known.add(term)
            self._segmenter.know(term)
        return {0, *accumulate(map(len, self._segmenter.cut(window)))}


def _candidate(text: str, start: int, end: int) -> TermCandidate:
    lo = max(0, start - _NEAR)
    lo = max(lo, text.rfind("\n", lo, start) + 1)
    hi = min(len(text), end + _NEAR)
    newline = text.find("\n", end, hi)
    return TermCandidate(text[start:end], text[lo:start], text[end : newline if newline != -1 else hi])


def explain(term: str, source: str) -> Message:
    """The reason a report gives for a term: which term, from which dictionary line."""
    return msg("Dictionary term “{term}” ({source}).", term=term, source=source)


def _latin(ch: str) -> bool:
    """A Latin letter or a digit (what a Latin word is made of)."""
    return ch.isascii() and ch.isalnum()


def _ascii_bounded(text: str, start: int, end: int) -> bool:
    """A Latin term (a codename such as K-7) must not be part of a longer Latin word."""
    before = text[start - 1] if start else " "
    after = text[end] if end < len(text) else " "
    return not (_latin(before) and _latin(text[start])) and not (_latin(after) and _latin(text[end - 1]))
