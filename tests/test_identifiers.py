"""Personal identifiers count only when their check digits hold; a roster of them blocks."""

from __future__ import annotations

import pytest

from scanner.detect.identifiers import valid_bank_card, valid_credit_code, valid_mobile, valid_resident_id

VALID_IDS = ["11010519491231002X", "110101199003074477"]


@pytest.mark.parametrize("value", VALID_IDS)
def test_resident_id_with_a_good_check_digit_is_valid(value: str) -> None:
    assert valid_resident_id(value)


@pytest.mark.parametrize("value", ["110105194912310021", "11010519491331002X", "010105194912310020"])
def test_resident_id_with_a_bad_check_digit_or_date_is_not(value: str) -> None:
    assert not valid_resident_id(value)


def test_bank_card_passes_luhn() -> None:
    assert valid_bank_card("4111111111111111")
    assert not valid_bank_card("4111111111111112")


def test_mobile_number_shape() -> None:
    assert valid_mobile("13912345678")
    assert not valid_mobile("12912345678")


def test_unified_social_credit_code_check() -> None:
    assert valid_credit_code("91350100M000100Y43")
    assert not valid_credit_code("91350100M000100Y44")


def test_valid_identifier_flags_and_is_masked(scan_text) -> None:
    report = scan_text("联系人身份证：11010519491231002X")
    assert str(report.verdict) == "flag"
    finding = report.findings[0]
    assert finding.rule == "id.resident-id"
    assert "19491231" not in finding.text and "19491231" not in finding.context
    assert finding.text in finding.context


def test_number_with_a_failing_check_digit_does_not_count(scan_text) -> None:
    assert str(scan_text("编号：110105194912310021").verdict) == "pass"


def test_digits_of_a_decimal_fraction_are_not_a_mobile_number(scan_text) -> None:
    assert str(scan_text("<v>1981.1963643646</v> 合计 13912345678.5").verdict) == "pass"


def test_identifier_after_a_comma_in_a_csv_row_counts(scan_text) -> None:
    assert "id.resident-id" in scan_text("员工0,11010519491231002X").rules


def test_card_number_written_in_groups_is_found(scan_text) -> None:
    assert "id.bank-card" in scan_text("卡号 4111 1111 1111 1111").rules


def _ids(n: int) -> list[str]:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    out = []
    for seq in range(n):
        body = f"11010519800101{seq:03d}"
        out.append(body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11])
    return out


def test_a_roster_of_ten_distinct_identifiers_blocks(scan_text) -> None:
    report = scan_text("\n".join(f"张{i} {value}" for i, value in enumerate(_ids(10))))
    assert str(report.verdict) == "block"
    assert "id.roster" in report.rules


def test_nine_identifiers_only_flag(scan_text) -> None:
    assert str(scan_text("\n".join(_ids(9))).verdict) == "flag"


def test_one_identifier_repeated_is_not_a_roster(scan_text) -> None:
    assert str(scan_text("\n".join([VALID_IDS[0]] * 12)).verdict) == "flag"
