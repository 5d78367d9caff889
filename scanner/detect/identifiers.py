"""Personal identifiers, validated by their check digits: resident ID (GB 11643), bank card (Luhn), mobile number,
unified social credit code (GB 32100). A number whose check fails is not an identifier.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date

from scanner.detect.view import SegmentView, mask
from scanner.model import Finding, Verdict

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def valid_resident_id(value: str) -> bool:
    """18 characters: region, birth date, sequence, and a check character over the first 17 (mod 11)."""
    if not re.fullmatch(r"[1-9]\d{16}[\dX]", value):
        return False
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    if not (1900 <= born.year <= date.today().year):
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == value[17]


def valid_bank_card(value: str) -> bool:
    """16 to 19 digits of a card scheme used in China (UnionPay 62, Visa 4, Mastercard 5, ...) passing Luhn."""
    if not re.fullmatch(r"(?:62|4|5[1-5]|3[47]|35|60|9)\d{14,18}", value):
        return False
    total = 0
    for i, digit in enumerate(reversed(value)):
        d = int(digit)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def valid_mobile(value: str) -> bool:
    """Mainland mobile numbers: 11 digits, 1 then 3-9."""
    return bool(re.fullmatch(r"1[3-9]\d{9}", value))


def valid_credit_code(value: str) -> bool:
    """18 characters over a 31-letter alphabet, the last a check character (mod 31)."""
    if not re.fullmatch(r"[1-9ANY][1-5]\d{6}[0-9A-HJ-NPQRTUWXY]{10}", value):
        return False
    total = sum(_USCC_ALPHABET.index(ch) * w for ch, w in zip(value[:17], _USCC_WEIGHTS, strict=True))
    return _USCC_ALPHABET[(31 - total % 31) % 31] == value[17]


@dataclass(frozen=True)
class Kind:
    name: str
    pattern: re.Pattern[str]
    valid: Callable[[str], bool]
    keep: tuple[int, int]  # characters shown at the start and end; the rest is masked in reports


KINDS = (
    Kind("resident-id", re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])"), valid_resident_id, (6, 4)),
    Kind("credit-code", re.compile(r"(?<![0-9A-Z])[0-9A-Y]{18}(?![0-9A-Z])"), valid_credit_code, (8, 2)),
    Kind("bank-card", re.compile(r"(?<![\d-])\d{4}(?:[ -]?\d{4}){3}(?:\d{1,3})?(?![\d-])"), valid_bank_card, (6, 4)),
    Kind("mobile", re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d(?:[- ]?\d{4}){2}(?!\d)"), valid_mobile, (3, 4)),
)
# Where an identifier could be at all: a run of eleven or more digits, capitals, spaces and dashes. One cheap pass
# over the text; the kinds' own patterns run only inside these runs.
_RUN = re.compile(r"[0-9A-Za-z][0-9A-Za-z +\-]{9,}[0-9A-Za-z]")


def part_of_a_decimal(text: str, start: int, end: int) -> bool:
    """1981.1963643646 in a spreadsheet: digits after (or before) a decimal point are a fraction, not a number."""
    before = text[max(0, start - 2) : start]
    after = text[end : end + 2]
    return bool(re.fullmatch(r"\d\.", before) or re.fullmatch(r"\.\d", after))


@dataclass(frozen=True)
class Identifier:
    value: str  # the identifier in canonical form (digits only, upper case)
    finding: Finding


def find(view: SegmentView) -> Iterator[Identifier]:
    text = view.normal.text
    runs = [m.span() for m in _RUN.finditer(text)]
    taken: list[tuple[int, int]] = []
    for kind, (run_start, run_end) in ((k, r) for r in runs for k in KINDS):
        for match in kind.pattern.finditer(text, run_start, run_end):
            start, end = match.span()
            if any(s < end and start < e for s, e in taken) or part_of_a_decimal(text, start, end):
                continue
            value = re.sub(r"[^0-9A-Z]", "", match.group().upper())
            if kind.name == "mobile":
                value = value[-11:]
            if not kind.valid(value):
                continue
            taken.append((start, end))
            original = view.text(start, end)
            masked = mask(original, *kind.keep)
            yield Identifier(
                f"{kind.name}:{value}",
                Finding(
                    category="personal-data",
                    rule=f"id.{kind.name}",
                    action=Verdict.FLAG,
                    text=masked,
                    location=view.location(start, end),
                    context=view.context(start, end, shown=masked),
                    explanation=f"a valid {kind.name.replace('-', ' ')} (check digit verified); shown masked",
                ),
            )
