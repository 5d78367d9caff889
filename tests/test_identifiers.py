"""Personal identifiers count only when their check digits hold; a roster of them blocks."""

from __future__ import annotations

import pytest

from scanner.detect.identifiers import (
    card_scheme,
    valid_bank_card,
    valid_credit_code,
    valid_mobile,
    valid_resident_id,
)

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


def _ids(n: int, region: str = "110105") -> list[str]:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    out = []
    for seq in range(n):
        body = f"{region}19800101{seq:03d}"
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


# --- Identifiers as people write them ---


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("卡号 6222 0212 0483 5716 256", "id.bank-card"),
        ("卡号 6222-0212-0483-5716-256", "id.bank-card"),
        ("卡号 ６２２２０２１２０４８３５７１６２５６", "id.bank-card"),
        ("身份证 110105 19880423 104X", "id.resident-id"),
        ("身份证 110105-1988-0423-104X", "id.resident-id"),
        ("身份证 １１０１０５１９８８０４２３１０４Ｘ", "id.resident-id"),
        ("手机 139 1234 5678", "id.mobile"),
        ("手机 139-1234-5678", "id.mobile"),
        ("电话 +86 139 1234 5678", "id.mobile"),
        ("Amex 3782 822463 10005", "id.bank-card"),
    ],
)
def test_identifiers_written_in_groups_are_found(scan_text, text: str, rule: str) -> None:
    assert scan_text(text).rules == [rule]


def test_a_grouped_number_followed_by_a_year_is_still_the_number(scan_text) -> None:
    assert scan_text("电话 139 1234 5678 2024年").rules == ["id.mobile"]


@pytest.mark.parametrize(
    ("value", "scheme"),
    [
        ("6222021204835716256", "UnionPay"),
        ("4111111111111111", "Visa"),
        ("5500000000000004", "Mastercard"),
        ("2221000000000009", "Mastercard"),
        ("3530111333300000", "JCB"),
        ("378282246310005", "American Express"),
    ],
)
def test_a_card_needs_a_real_issuer_prefix_and_length(value: str, scheme: str) -> None:
    assert card_scheme(value) == scheme


@pytest.mark.parametrize(
    "value",
    ["4111111111111111" + "0", "60110000000000000000"[:16], "378282246310005" + "0", "5600000000000003", "9" * 16],
)
def test_a_number_passing_luhn_without_an_issuers_prefix_and_length_is_no_card(value: str) -> None:
    luhn_ok = value[:-1] + next(d for d in "0123456789" if _luhn_ok(value[:-1] + d))
    assert card_scheme(luhn_ok) is None


def _luhn_ok(value: str) -> bool:
    total = sum(
        int(d) if i % 2 == 0 else (int(d) * 2 - 9 if int(d) > 4 else int(d) * 2) for i, d in enumerate(value[::-1])
    )
    return total % 10 == 0


def test_an_eighteen_digit_resident_id_is_not_also_a_card(scan_text) -> None:
    # Gansu's IDs start with 62, as UnionPay cards do: one whose digits also pass Luhn is an ID, not a card.
    value = next(v for v in _ids(500, region="620102") if v.isdigit() and _luhn_ok(v))
    assert card_scheme(value) == "UnionPay" and valid_resident_id(value)
    assert scan_text(f"号码 {value}").rules == ["id.resident-id"]


def test_a_resident_id_needs_a_province(scan_text) -> None:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    body = "99010519800101001"
    value = body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]
    assert not valid_resident_id(value)


@pytest.mark.parametrize("value", ["91350100M000100Y43", "91110000710935732K", "12100000400000624D"])
def test_a_credit_code_with_a_real_authority_and_province_is_valid(value: str) -> None:
    assert valid_credit_code(_with_check(value[:17]))


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("B1350100M000100Y4", "no such authority"),
        ("97350100M000100Y4", "9 registers no kind 7"),
        ("91990100M000100Y4", "no province 99"),
    ],
)
def test_a_credit_code_with_a_good_check_but_no_real_authority_or_province_is_not(value: str, why: str) -> None:
    assert not valid_credit_code(_with_check(value)), why


def _with_check(body: str) -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    total = sum(alphabet.index(ch) * w for ch, w in zip(body, weights, strict=True))
    return body + alphabet[(31 - total % 31) % 31]


def test_the_mobile_explanation_does_not_speak_of_a_check_digit(scan_text) -> None:
    [finding] = scan_text("手机 13912345678").findings
    assert "check" not in finding.explanation and "numbering plan" in finding.explanation


def test_an_order_number_glued_to_letters_is_no_card(scan_text) -> None:
    assert scan_text("订单 SO6222021204835716256").rules == []


def test_identifier_findings_take_their_action_from_the_policy(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from scanner.engine import Scanner
    from scanner.policy import load_config

    config_file = tmp_path / "baomi.toml"
    config_file.write_text('[actions]\npersonal-data = "block"\n', encoding="utf-8")
    assert str(Scanner(load_config(config_file)).scan_bytes(b"13912345678", "a.txt").verdict) == "block"
