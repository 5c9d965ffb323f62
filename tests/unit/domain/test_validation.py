"""Format validators: each refusal names the field and the rule."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import ValidationFailed
from domain.validation import (
    age_on,
    mask_tax_id,
    normalize_email,
    validate_date_of_birth,
    validate_phone,
    validate_region,
    validate_tax_id,
    validate_zip,
)

TODAY = date(2026, 11, 30)


def rule_of(fn, *args) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationFailed) as caught:
        fn(*args)
    return caught.value.field, caught.value.rule


def test_email_when_mixed_case_then_lowercased_and_trimmed() -> None:
    assert normalize_email("  Ada.Lovelace+x@Example.COM ") == "ada.lovelace+x@example.com"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "a",
        "a@b",
        "@example.com",
        "a@@example.com",
        "a b@example.com",
        "a..b@x.com",
        ".a@x.com",
        "a@x.c",
        "x" * 65 + "@example.com",
        "a@" + "b" * 250 + ".com",
    ],
)
def test_email_when_malformed_then_email_format(bad: str) -> None:
    assert rule_of(normalize_email, bad) == ("email", "email-format")


@pytest.mark.parametrize("good", ["+12125550100", "+447911123456", "+8613800138000"])
def test_phone_when_e164_then_accepted(good: str) -> None:
    assert validate_phone(good) == good


@pytest.mark.parametrize(
    "bad", ["2125550100", "+0125550100", "+1 212 555 0100", "+1234567", "+1" + "2" * 15]
)
def test_phone_when_not_e164_then_e164_format(bad: str) -> None:
    assert rule_of(validate_phone, bad) == ("phone", "e164-format")


def test_tax_id_when_valid_ssn_without_dashes_then_canonical() -> None:
    assert validate_tax_id("123456789") == "123-45-6789"
    assert validate_tax_id("665-01-0001") == "665-01-0001"


@pytest.mark.parametrize(
    ("bad", "rule"),
    [
        ("000-12-3456", "ssn-area"),
        ("666-12-3456", "ssn-area"),
        ("123-00-4567", "ssn-group"),
        ("123-45-0000", "tax-id-serial"),
        ("12-345-6789", "tax-id-format"),
        ("1234567890", "tax-id-format"),
        ("abc-de-fghi", "tax-id-format"),
        ("900-49-1234", "itin-group"),
        ("999-66-1234", "itin-group"),
        ("912-89-1234", "itin-group"),
        ("912-93-1234", "itin-group"),
        ("912-70-0000", "tax-id-serial"),
    ],
)
def test_tax_id_when_impossible_then_named_rule(bad: str, rule: str) -> None:
    assert rule_of(validate_tax_id, bad, "tax_id") == ("tax_id", rule)


@pytest.mark.parametrize(
    "itin",
    [
        "900-50-1234",
        "912-65-1234",
        "999-70-1234",
        "950-88-0001",
        "900-90-1234",
        "900-92-1234",
        "900-94-1234",
        "900-99-1234",
    ],
)
def test_tax_id_when_valid_itin_then_accepted(itin: str) -> None:
    assert validate_tax_id(itin) == itin


@given(st.integers(1, 899), st.integers(1, 99), st.integers(1, 9999))
def test_tax_id_ssn_property_when_in_issued_ranges_then_accepted(a: int, g: int, s: int) -> None:
    value = f"{a:03d}-{g:02d}-{s:04d}"
    if a == 666:
        assert rule_of(validate_tax_id, value)[1] == "ssn-area"
    else:
        assert validate_tax_id(value) == value


def test_mask_tax_id_then_last_four_only() -> None:
    assert mask_tax_id("123-45-6789") == "***-**-6789"
    assert mask_tax_id("12") == "***-**-****"


@pytest.mark.parametrize("good", ["62701", "62701-1234"])
def test_zip_when_zip_or_zip4_then_accepted(good: str) -> None:
    assert validate_zip(good) == good


@pytest.mark.parametrize("bad", ["6270", "627011", "62701-12", "62701 1234", "ABCDE", "00000"])
def test_zip_when_malformed_then_zip_format(bad: str) -> None:
    assert rule_of(validate_zip, bad) == ("postal_code", "zip-format")


def test_region_when_lowercase_state_then_upper_and_unknown_refused() -> None:
    assert validate_region("il") == "IL"
    assert rule_of(validate_region, "ZZ") == ("region", "us-state")


def test_age_on_when_birthday_tomorrow_then_not_yet_older() -> None:
    assert age_on(date(2008, 12, 1), TODAY) == 17
    assert age_on(date(2008, 11, 30), TODAY) == 18
    assert age_on(date(2008, 2, 29), date(2026, 2, 28)) == 17
    assert age_on(date(2008, 2, 29), date(2026, 3, 1)) == 18


@pytest.mark.parametrize("kind", ["individual", "joint", "ira"])
def test_dob_when_adult_account_and_17_then_adult_required(kind: str) -> None:
    assert validate_date_of_birth(date(2008, 11, 30), kind, TODAY) == date(2008, 11, 30)
    assert rule_of(validate_date_of_birth, date(2008, 12, 1), kind, TODAY) == (
        "date_of_birth",
        "adult-required",
    )


def test_dob_when_custodial_and_adult_then_minor_required() -> None:
    assert validate_date_of_birth(date(2008, 12, 1), "custodial", TODAY)
    assert rule_of(validate_date_of_birth, date(2008, 11, 30), "custodial", TODAY)[1] == (
        "minor-required"
    )


def test_dob_when_future_or_ancient_or_unknown_type_then_refused() -> None:
    assert (
        rule_of(validate_date_of_birth, date(2027, 1, 1), "custodial", TODAY)[1] == "not-in-future"
    )
    assert (
        rule_of(validate_date_of_birth, date(1899, 12, 31), "individual", TODAY)[1] == "dob-range"
    )
    assert rule_of(validate_date_of_birth, date(1990, 1, 1), "trust", TODAY) == (
        "account_type",
        "account-type",
    )
