from __future__ import annotations

import pickle
from decimal import Decimal

import pytest

from domain.errors import ValidationFailed
from domain.ids import ClientOrderId, Symbol, parse_execution_id, parse_order_id
from domain.money import (
    Money,
    Price,
    Quantity,
    decimal_text,
    decimals_of,
    money_text,
    to_decimal,
)


def _rule(exc: pytest.ExceptionInfo[ValidationFailed]) -> tuple[str, str]:
    return exc.value.field, exc.value.rule


# -- shared input rules ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        (1.5, "float-not-allowed"),
        (True, "bool-not-allowed"),
        ("NaN", "not-a-number"),
        ("sNaN", "not-a-number"),
        (Decimal("NaN"), "not-a-number"),
        ("Infinity", "not-finite"),
        ("-inf", "not-finite"),
        (Decimal("Infinity"), "not-finite"),
        ("1e15", "out-of-range"),
        ("abc", "decimal-format"),
        ("", "decimal-format"),
        ("1" * 65, "decimal-format"),
        (None, "decimal-type"),
        ([1], "decimal-type"),
    ],
)
@pytest.mark.parametrize("parse", [Price.parse, Quantity.parse, Money.parse])
def test_parse_when_input_is_not_a_finite_decimal_then_names_field_and_rule(
    parse: object, value: object, rule: str
) -> None:
    with pytest.raises(ValidationFailed) as exc:
        parse(value, "the_field")  # type: ignore[operator]
    assert _rule(exc) == ("the_field", rule)


def test_to_decimal_accepts_str_int_decimal() -> None:
    assert to_decimal(" 1.25 ", "x") == Decimal("1.25")
    assert to_decimal(7, "x") == Decimal(7)
    assert to_decimal(Decimal("0.1"), "x") == Decimal("0.1")


def test_decimals_of_counts_significant_places_exactly() -> None:
    assert decimals_of(Decimal("1.50")) == 1
    assert decimals_of(Decimal("100")) == 0
    assert decimals_of(Decimal("1E+2")) == 0
    assert decimals_of(Decimal("0.000")) == 0
    assert decimals_of(Decimal("1." + "0" * 35 + "1")) == 36


# -- Price ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1.00", "1", "150.25", "0.9999", "0.0001", 3, Decimal("2.10")])
def test_price_parse_when_on_tick_then_accepts(value: object) -> None:
    assert Price.parse(value, "limit_price").value == Decimal(str(value))


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("0", "positive"),
        ("-1", "positive"),
        ("1.001", "price-increment"),
        ("150.255", "price-increment"),
        ("0.00001", "price-increment"),
    ],
)
def test_price_parse_when_rule_broken_then_names_field(value: str, rule: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        Price.parse(value, field="limit_price")
    assert _rule(exc) == ("limit_price", rule)


def test_price_parse_without_tick_rule_then_accepts_sub_penny_execution() -> None:
    assert Price.parse("100.005", "price", tick_rule=False).to_wire() == "100.005"
    with pytest.raises(ValidationFailed) as exc:
        Price.parse("1.0000000001", "price", tick_rule=False)
    assert exc.value.rule == "max-decimals"


def test_price_constructor_when_float_or_zero_then_refuses() -> None:
    with pytest.raises(ValidationFailed) as exc:
        Price(1.5)  # type: ignore[arg-type]
    assert exc.value.rule == "decimal-type"
    with pytest.raises(ValidationFailed):
        Price(Decimal(0))


def test_price_is_canonical_and_ordered() -> None:
    assert Price.parse("1.50").to_wire() == "1.5"
    assert Price.parse("100").to_wire() == "100"
    assert Price.parse("1.5") == Price.parse("1.50")
    assert hash(Price.parse("1.5")) == hash(Price.parse("1.50"))
    assert Price.parse("1") < Price.parse("2")
    assert str(Price.parse("0.0050")) == "0.005"


# -- Quantity ----------------------------------------------------------------------------


def test_quantity_parse_when_zero_then_positive_rule() -> None:
    with pytest.raises(ValidationFailed) as exc:
        Quantity.parse("0", "qty")
    assert _rule(exc) == ("qty", "positive")


def test_quantity_zero_allowed_only_where_asked() -> None:
    assert Quantity.parse_non_negative("0").is_zero
    assert Quantity.zero().is_zero
    with pytest.raises(ValidationFailed) as exc:
        Quantity.parse_non_negative("-1", "filled_qty")
    assert _rule(exc) == ("filled_qty", "non-negative")


def test_quantity_when_more_than_nine_decimals_then_max_decimals() -> None:
    assert Quantity.parse("0.123456789").to_wire() == "0.123456789"
    with pytest.raises(ValidationFailed) as exc:
        Quantity.parse("0.1234567891", "qty")
    assert _rule(exc) == ("qty", "max-decimals")


def test_quantity_arithmetic_is_exact_and_never_negative() -> None:
    total = Quantity.parse("0.1") + Quantity.parse("0.2")
    assert total == Quantity.parse("0.3")
    assert (total - Quantity.parse("0.3")).is_zero
    with pytest.raises(ValidationFailed):
        Quantity.parse("1") - Quantity.parse("2")


# -- Money --------------------------------------------------------------------------------


def test_money_any_sign_and_default_currency() -> None:
    assert Money.parse("-12.345").amount == Decimal("-12.345")
    assert Money.parse("0").currency == "USD"


def test_money_parse_places_and_positive() -> None:
    with pytest.raises(ValidationFailed) as exc:
        Money.parse("10.001", "notional", places=2)
    assert _rule(exc) == ("notional", "money-increment")
    with pytest.raises(ValidationFailed) as exc:
        Money.parse("0", "notional", positive=True)
    assert _rule(exc) == ("notional", "positive")


@pytest.mark.parametrize("currency", ["usd", "US", "USDT", "U$D", ""])
def test_money_when_currency_not_iso_then_refuses(currency: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        Money(Decimal(1), currency)
    assert exc.value.rule == "currency-format"


@pytest.mark.parametrize(
    ("amount", "cents"),
    [("0.125", "0.12"), ("0.135", "0.14"), ("-0.125", "-0.12"), ("2.675", "2.68")],
)
def test_money_quantize_cents_rounds_half_even(amount: str, cents: str) -> None:
    assert Money.parse(amount).quantize_cents().amount == Decimal(cents)


def test_money_arithmetic_same_currency() -> None:
    a, b = Money.parse("10.10"), Money.parse("0.20")
    assert (a + b).amount == Decimal("10.30")
    assert (a - b).amount == Decimal("9.90")
    assert (-a).amount == Decimal("-10.10")
    assert (a * Decimal("3")).amount == Decimal("30.30")
    assert (2 * a).amount == Decimal("20.20")
    assert a > b and b < a and a >= a and b <= b


def test_money_when_currencies_differ_then_refuses() -> None:
    usd, eur = Money.parse("1"), Money.parse("1", currency="EUR")
    with pytest.raises(ValidationFailed) as exc:
        usd + eur
    assert exc.value.rule == "currency-mismatch"
    with pytest.raises(ValidationFailed):
        usd < eur  # noqa: B015


@pytest.mark.parametrize("factor", [1.5, True, "2"])
def test_money_multiply_when_factor_not_decimal_then_refuses(factor: object) -> None:
    with pytest.raises(ValidationFailed):
        Money.parse("1") * factor  # type: ignore[operator]


def test_money_to_wire_is_plain_fixed_point() -> None:
    assert Money(Decimal("1E+3")).to_wire() == "1000"
    assert str(Money.parse("10.50")) == "10.50 USD"


# -- ids (kept here: tiny module) --------------------------------------------------------


@pytest.mark.parametrize(("raw", "norm"), [("aapl", "AAPL"), ("BRK.B", "BRK.B"), ("bf-b", "BF-B")])
def test_symbol_normalises_upper_case(raw: str, norm: str) -> None:
    assert Symbol.parse(raw) == norm
    assert isinstance(Symbol(raw), str)


@pytest.mark.parametrize("raw", ["", "1ABC", ".A", "ABCDEFGHIJK", "AA PL", "ÄPL", 5, "A_B"])
def test_symbol_when_bad_then_symbol_format(raw: object) -> None:
    with pytest.raises(ValidationFailed) as exc:
        Symbol.parse(raw, "symbol")
    assert _rule(exc) == ("symbol", "symbol-format")


def test_client_order_id_rules() -> None:
    assert ClientOrderId.parse("a" * 128) == "a" * 128
    for bad in ["", "a" * 129, "has space", "tab\t", "é", None]:
        with pytest.raises(ValidationFailed) as exc:
            ClientOrderId.parse(bad)
        assert exc.value.rule == "client-order-id-format"


def test_str_ids_survive_pickle() -> None:
    symbol = Symbol("aapl")
    assert pickle.loads(pickle.dumps(symbol)) == "AAPL"
    assert type(pickle.loads(pickle.dumps(ClientOrderId("x-1")))) is ClientOrderId


def test_uuid_and_execution_ids() -> None:
    raw = "6F9619FF-8B86-D011-B42D-00C04FC964FF"
    assert parse_order_id(raw) == raw.lower()
    with pytest.raises(ValidationFailed) as exc:
        parse_order_id("nope")
    assert _rule(exc) == ("order_id", "uuid-format")
    assert parse_execution_id("ord-1") == "ord-1"
    with pytest.raises(ValidationFailed):
        parse_execution_id("a b")


@pytest.mark.parametrize(
    ("value", "money", "plain"),
    [
        ("0E-16", "0.00", "0"),
        ("1E+3", "1000.00", "1000"),
        ("-0", "0.00", "0"),
        ("-0.001", "0.00", "-0.001"),
        ("0.005", "0.00", "0.005"),
        ("0.015", "0.02", "0.015"),
        ("187.250", "187.25", "187.25"),
        ("1E-30", "0.00", "0"),
        ("1.0000000005", "1.00", "1"),
        ("-12.3456789015", "-12.35", "-12.345678902"),
        ("1E+40", "1" + "0" * 40 + ".00", "1" + "0" * 40),
    ],
)
def test_wire_text_when_value_has_an_exponent_then_fixed_point_with_its_places(
    value: str, money: str, plain: str
) -> None:
    assert money_text(Decimal(value)) == money
    assert decimal_text(Decimal(value)) == plain


def test_money_text_when_currency_has_no_minor_unit_then_no_decimals() -> None:
    assert money_text(Decimal("1234.5"), "JPY") == "1234"
    assert money_text(Decimal("2.5"), "EUR") == "2.50"
