"""Personal identifiers as people write them (in groups, with spaces or dashes): resident ID (GB 11643, check digit),
bank card (a real issuer's prefix and length, Luhn), mobile number (the mainland numbering plan), unified social
credit code (GB 32100: registration authority, region, check character). A number that fails its checks is not one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date

from scanner.detect.budget import Budget
from scanner.detect.view import Judged, SegmentView, mask
from scanner.i18n import N_, Message, msg
from scanner.model import Finding, Verdict

PENDING = Verdict.FLAG  # the policy sets the action (policy.apply_policy); see marks.PENDING

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# The first two digits of an administrative division code (GB/T 2260): provinces, and 71/81/82/83 for Taiwan, Hong
# Kong, Macao and the residence permits of their people. 10 stands for the central level in credit codes only.
PROVINCES = frozenset(f"{n}" for n in (*range(11, 16), 21, 22, 23, *range(31, 38), *range(41, 47), *range(50, 55)))
PROVINCES |= frozenset(f"{n}" for n in (*range(61, 66), 71, 81, 82, 83))
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# GB 32100-2015: registration authority (first character) → the kinds of organisation it registers (second).
_USCC_AUTHORITIES = {
    "1": "1239",  # 机构编制: organs, public institutions, mass organisations, other
    "2": "19",  # 外交
    "3": "1234559",  # 司法行政: law firms, notaries, legal services, forensic institutes, arbitration
    "4": "19",  # 文化
    "5": "1239",  # 民政: social organisations, private non-enterprise units, foundations
    "6": "129",  # 旅游
    "7": "129",  # 宗教
    "8": "19",  # 工会
    "9": "123",  # 工商 (market regulation): enterprises, individual businesses, farmers' cooperatives
    "A": "19",  # 中央军委改革和编制办公室
    "N": "1239",  # 农业: rural collective economic organisations
    "Y": "1",  # other
}
# Card issuers whose cards are used in China: the prefixes and the lengths they issue.
_CARD_SCHEMES = (
    ("UnionPay", re.compile(r"62"), range(16, 20)),
    ("Visa", re.compile(r"4"), (13, 16, 19)),
    ("Mastercard", re.compile(r"5[1-5]|222[1-9]|22[3-9]\d|2[3-6]\d\d|27[01]\d|2720"), (16,)),
    ("JCB", re.compile(r"35(?:2[89]|[3-8]\d)"), range(16, 20)),
    ("American Express", re.compile(r"3[47]"), (15,)),
)


def valid_resident_id(value: str) -> bool:
    """18 characters: a province and region, a birth date, a sequence, and a check character over the first 17."""
    if not re.fullmatch(r"[1-9]\d{16}[\dX]", value) or value[:2] not in PROVINCES:
        return False
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    if not (1900 <= born.year <= date.today().year):
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == value[17]


def card_scheme(value: str) -> str | None:
    """The issuer of a card number (UnionPay 62, Visa 4, Mastercard 51–55 and 2221–2720, JCB 3528–3589, American
    Express 34/37) when its prefix and length are one it issues and the Luhn check holds; else None."""
    if not value.isdigit():
        return None
    scheme = next(
        (name for name, prefix, lengths in _CARD_SCHEMES if prefix.match(value) and len(value) in lengths), None
    )
    return scheme if scheme and _luhn(value) else None


def valid_bank_card(value: str) -> bool:
    return card_scheme(value) is not None


def _luhn(value: str) -> bool:
    total = 0
    for i, digit in enumerate(reversed(value)):
        d = int(digit)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def valid_mobile(value: str) -> bool:
    """Mainland mobile numbers: 11 digits, 1 then 3-9 (the numbering plan; mobile numbers have no check digit)."""
    return bool(re.fullmatch(r"1[3-9]\d{9}", value))


def valid_credit_code(value: str) -> bool:
    """18 characters: a registration authority and the kind of body it registers, a division code starting with a
    province (or 10, the central level), an organisation code, and a check character (mod 31)."""
    if not re.fullmatch(r"[0-9A-Y]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}", value):
        return False
    if value[1] not in _USCC_AUTHORITIES.get(value[0], "") or value[2:4] not in PROVINCES | {"10"}:
        return False
    total = sum(_USCC_ALPHABET.index(ch) * w for ch, w in zip(value[:17], _USCC_WEIGHTS, strict=True))
    return _USCC_ALPHABET[(31 - total % 31) % 31] == value[17]


@dataclass(frozen=True)
class Kind:
    name: str
    shapes: tuple[tuple[int, ...], ...]  # the lengths of the digit groups people write it in
    valid: Callable[[str], bool]
    keep: tuple[int, int]  # characters shown at the start and end; the rest is masked in reports
    checked: str  # what was verified, for the explanation (marked for translation)


_CARD_SHAPES = (*((n,) for n in (19, 18, 17, 16, 15, 13)), (4, 4, 4, 4, 3), (4, 4, 4, 4, 2), (4, 4, 4, 4, 1))
_CARD_SHAPES += ((4, 4, 4, 4), (6, 13), (4, 6, 5))  # 6222 0212 0483 5716 256, 622202 1204835716256, 3782 822463 10005
# In order of precedence: an 18-digit run that is a valid resident ID is not also a card.
KINDS = (
    Kind("resident-id", ((18,), (6, 8, 4), (6, 4, 4, 4)), valid_resident_id, (6, 4), N_("its check digit is right")),
    Kind(
        "bank-card",
        _CARD_SHAPES,
        valid_bank_card,
        (6, 4),
        N_("an issuer's prefix and length, and the Luhn check passes"),
    ),
    Kind(
        "mobile",
        ((11,), (3, 4, 4), (3, 8), (2, 11), (2, 3, 4, 4), (13,)),
        valid_mobile,
        (3, 4),
        N_("it fits the mainland numbering plan"),
    ),
)
_CREDIT = Kind(
    "credit-code",
    ((18,),),
    valid_credit_code,
    (8, 2),
    N_("its registration authority, region and check character are right"),
)
# Where an identifier could be at all: a run of eleven or more digits, capitals, spaces and dashes. One cheap pass
# over the text; groups are looked at only inside these runs.
_RUN = re.compile(r"[0-9A-Za-z][0-9A-Za-z +\-\u3000－]{9,}[0-9A-Za-z]")
# The same run as the matcher can look for it in the text's UTF-16 code units (big-endian: an ASCII character is a NUL
# byte and itself), during its one pass: a text it says has none is not read again for identifiers.
RUN_PROBE = rb"\x00[0-9A-Za-z](?:\x00[0-9A-Za-z +\-]|\x30\x00|\xff\x0d){9,}\x00[0-9A-Za-z]"
_SEPARATOR = re.compile(r" {1,2}|[\-\u3000－]")
_GROUP = re.compile(r"\d+[Xx]?")
_CREDIT_CODE = re.compile(r"(?<![0-9A-Z])[0-9A-Y]{18}(?![0-9A-Z])")


def part_of_a_decimal(text: str, start: int, end: int) -> bool:
    """1981.1963643646 in a spreadsheet: digits after (or before) a decimal point are a fraction, not a number."""
    before = text[max(0, start - 2) : start]
    after = text[end : end + 2]
    return bool(re.fullmatch(r"\d\.", before) or re.fullmatch(r"\.\d", after))


@dataclass(frozen=True)
class Identifier:
    value: str  # kind:the identifier in canonical form (digits only, upper case)
    judged: Judged


def find(view: SegmentView, budget: Budget | None = None) -> Iterator[Identifier]:
    budget = budget or Budget(work=view.work)
    text = view.normal.text
    for run in _RUN.finditer(text):
        budget.judging(view.segment.part)
        view.work.characters += run.end() - run.start()
        taken: list[tuple[int, int]] = []
        for kind, start, end, value in _in_run(text, run.start(), run.end()):
            if any(s < end and start < e for s, e in taken) or part_of_a_decimal(text, start, end):
                continue
            taken.append((start, end))
            yield _identifier(view, kind, start, end, value, budget)


def _in_run(text: str, run_start: int, run_end: int) -> Iterator[tuple[Kind, int, int, str]]:
    """(kind, start, end, value) of each valid identifier in a run, the digit groups taken left to right."""
    for match in _CREDIT_CODE.finditer(text, run_start, run_end):
        if valid_credit_code(match.group()):
            yield _CREDIT, match.start(), match.end(), match.group()
    for chain in _chains(text, run_start, run_end):
        i = 0
        while i < len(chain):
            found = _at(text, chain, i)
            if found is None:
                i += 1
                continue
            kind, count, value = found
            yield kind, chain[i][0], chain[i + count - 1][1], value
            i += count


def _chains(text: str, run_start: int, run_end: int) -> list[list[tuple[int, int]]]:
    """The digit groups of a run, split where anything but one separator (a space or two, a dash) stands between
    two of them. Groups glued to letters (an order number SO6222…) belong to no chain."""
    chains: list[list[tuple[int, int]]] = []
    for group in _GROUP.finditer(text, run_start, run_end):
        start, end = group.span()
        glued = (start > 0 and text[start - 1].isalpha() and text[start - 1].isascii()) or (
            end < len(text) and text[end].isascii() and text[end].isalnum()
        )
        if glued:
            chains.append([])
            continue
        if chains and chains[-1] and _SEPARATOR.fullmatch(text[chains[-1][-1][1] : start]):
            chains[-1].append((start, end))
        else:
            chains.append([(start, end)])
    return [chain for chain in chains if chain]


def _at(text: str, chain: list[tuple[int, int]], i: int) -> tuple[Kind, int, str] | None:
    """The first kind whose shape the groups from the i-th on have and whose checks the digits pass."""
    lengths = [end - start for start, end in chain[i:]]
    for kind in KINDS:
        for shape in kind.shapes:
            if tuple(lengths[: len(shape)]) != shape:
                continue
            groups = chain[i : i + len(shape)]
            value = "".join(text[s:e] for s, e in groups).upper()
            if kind.name == "mobile" and len(value) == 13:  # with the country code: 86 139 1234 5678
                if not value.startswith("86"):
                    continue
                value = value[2:]
            if kind.valid(value):
                return kind, len(shape), value
    return None


def _identifier(view: SegmentView, kind: Kind, start: int, end: int, value: str, budget: Budget) -> Identifier:
    rule = f"id.{kind.name}"
    if not budget.admit(rule, value):
        return Identifier(
            f"{kind.name}:{value}", Judged(rule, (start, end), "finding (counted, not listed)", None, value)
        )
    masked = mask(view.text(start, end), *kind.keep)
    finding = Finding(
        category="personal-data",
        rule=rule,
        action=PENDING,
        text=masked,
        location=view.location(start, end),
        context=view.context(start, end, shown=masked),
        reason=explain(kind, value),
    )
    return Identifier(f"{kind.name}:{value}", Judged(rule, (start, end), "finding", finding, value))


# What each kind is called in an explanation, and the card issuers whose names are said in the reader's language.
KIND_NAMES = {
    "resident-id": N_("resident ID number"),
    "bank-card": N_("bank card number"),
    "mobile": N_("mobile phone number"),
    "credit-code": N_("unified social credit code"),
}
ISSUERS = {"UnionPay": N_("UnionPay"), "American Express": N_("American Express"), "Mastercard": N_("Mastercard")}


def explain(kind: Kind, value: str) -> Message:
    """The reason a report gives for an identifier: which kind, what was checked, and that it is shown masked."""
    name, checked = msg(KIND_NAMES[kind.name]), msg(kind.checked)
    issuer = card_scheme(value) if kind.name == "bank-card" else None
    if issuer:
        issued = msg(ISSUERS[issuer]) if issuer in ISSUERS else issuer
        return msg("A valid {kind} ({issuer}): {checked}; shown masked.", kind=name, issuer=issued, checked=checked)
    return msg("A valid {kind}: {checked}; shown masked.", kind=name, checked=checked)
