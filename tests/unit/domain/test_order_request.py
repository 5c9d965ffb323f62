from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from domain.errors import IllegalTransition, ValidationFailed
from domain.ids import AccountId, OrderId
from domain.money import Money, Price, Quantity
from domain.order_request import OrderRequest, ReplaceRequest
from domain.orders import OrderEvent, OrderEventKind, OrderStatus, OrderType, Side, TimeInForce

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def parse(**overrides: Any) -> OrderRequest:
    fields: dict[str, Any] = {
        "symbol": "aapl",
        "side": "buy",
        "type": "market",
        "time_in_force": "day",
        "qty": "10",
    }
    fields.update(overrides)
    return OrderRequest.parse(**{k: v for k, v in fields.items() if v is not ...})


def refused(**overrides: Any) -> tuple[str, str]:
    with pytest.raises(ValidationFailed) as exc:
        parse(**overrides)
    return exc.value.field, exc.value.rule


def test_market_order_parses_and_normalises() -> None:
    request = parse(side="BUY", type="Market", client_order_id="abc-1")
    assert request.symbol == "AAPL"
    assert (request.side, request.type, request.time_in_force) == (
        Side.BUY,
        OrderType.MARKET,
        TimeInForce.DAY,
    )
    assert request.qty == Quantity.parse("10")
    assert request.client_order_id == "abc-1"


@pytest.mark.parametrize("field", ["side", "type", "time_in_force"])
@pytest.mark.parametrize("value", ["bogus", None, 3])
def test_enum_field_when_unknown_then_one_of(field: str, value: object) -> None:
    assert refused(**{field: value}) == (field, "one-of")


def test_enums_accept_members() -> None:
    assert parse(side=Side.SELL, type=OrderType.MARKET).side is Side.SELL


@pytest.mark.parametrize(("qty", "notional"), [(None, None), ("1", "100")])
def test_qty_and_notional_when_not_exactly_one_then_qty_xor_notional(
    qty: object, notional: object
) -> None:
    assert refused(qty=qty, notional=notional) == ("qty", "qty-xor-notional")


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("0", "positive"),
        ("-1", "positive"),
        (1.5, "float-not-allowed"),
        ("NaN", "not-a-number"),
        ("inf", "not-finite"),
        ("0.0000000001", "max-decimals"),
        (True, "bool-not-allowed"),
    ],
)
def test_qty_rules(value: object, rule: str) -> None:
    assert refused(qty=value) == ("qty", rule)


def test_notional_market_day_parses() -> None:
    request = parse(qty=None, notional="250.50")
    assert request.notional == Money.parse("250.50")
    assert request.qty is None


@pytest.mark.parametrize(
    ("value", "rule"),
    [("0", "positive"), ("10.001", "money-increment"), (10.5, "float-not-allowed")],
)
def test_notional_rules(value: object, rule: str) -> None:
    assert refused(qty=None, notional=value) == ("notional", rule)


@pytest.mark.parametrize(
    ("type_", "tif", "extra"),
    [("limit", "day", {"limit_price": "10"}), ("market", "gtc", {})],
)
def test_notional_when_not_market_day_then_refused(
    type_: str, tif: str, extra: dict[str, str]
) -> None:
    assert refused(qty=None, notional="100", type=type_, time_in_force=tif, **extra) == (
        "notional",
        "notional-requires-market-day",
    )


@pytest.mark.parametrize(
    ("type_", "given", "missing"),
    [
        ("limit", {}, "limit_price"),
        ("stop", {}, "stop_price"),
        ("stop_limit", {"stop_price": "10"}, "limit_price"),
        ("stop_limit", {"limit_price": "10"}, "stop_price"),
    ],
)
def test_price_when_type_needs_it_then_required(
    type_: str, given: dict[str, str], missing: str
) -> None:
    assert refused(type=type_, **given) == (missing, "required")


@pytest.mark.parametrize(
    ("type_", "given", "extra"),
    [
        ("market", {"limit_price": "10"}, "limit_price"),
        ("market", {"stop_price": "10"}, "stop_price"),
        ("market", {"trail_price": "1"}, "trail_price"),
        ("limit", {"limit_price": "10", "stop_price": "9"}, "stop_price"),
        ("stop", {"stop_price": "10", "limit_price": "9"}, "limit_price"),
        ("limit", {"limit_price": "10", "trail_percent": "1"}, "trail_percent"),
        ("trailing_stop", {"trail_price": "1", "limit_price": "9"}, "limit_price"),
    ],
)
def test_price_when_type_does_not_use_it_then_not_allowed(
    type_: str, given: dict[str, str], extra: str
) -> None:
    assert refused(type=type_, **given) == (extra, "not-allowed")


def test_limit_price_scale_is_checked_with_field_name() -> None:
    assert refused(type="limit", limit_price="10.001") == ("limit_price", "price-increment")
    assert refused(type="limit", limit_price="0.00001") == ("limit_price", "price-increment")
    assert refused(type="stop", stop_price="-1") == ("stop_price", "positive")


def test_stop_limit_parses() -> None:
    request = parse(type="stop_limit", stop_price="10.5", limit_price="10.75")
    assert (request.stop_price, request.limit_price) == (Price.parse("10.5"), Price.parse("10.75"))


@pytest.mark.parametrize("given", [{}, {"trail_price": "1", "trail_percent": "2"}])
def test_trailing_stop_needs_exactly_one_trail(given: dict[str, str]) -> None:
    assert refused(type="trailing_stop", **given) == ("trail_price", "trail-price-xor-percent")


@pytest.mark.parametrize("percent", ["0", "100", "-1", "150", "0.00001"])
def test_trail_percent_when_out_of_range_then_percent_range(percent: str) -> None:
    assert refused(type="trailing_stop", trail_percent=percent) == (
        "trail_percent",
        "percent-range",
    )


def test_trailing_stop_parses_either_trail() -> None:
    assert parse(type="trailing_stop", trail_percent="1.5").trail_percent == Decimal("1.5")
    assert parse(type="trailing_stop", trail_price="2.25").trail_price == Price.parse("2.25")
    assert refused(type="trailing_stop", trail_percent=1.5) == (
        "trail_percent",
        "float-not-allowed",
    )


@pytest.mark.parametrize("tif", ["ioc", "fok", "opg", "cls"])
def test_auction_and_immediate_tif_when_stop_type_then_not_allowed(tif: str) -> None:
    assert refused(type="stop", stop_price="10", time_in_force=tif) == (
        "time_in_force",
        "tif-not-allowed",
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"type": "market"},
        {"type": "limit", "limit_price": "10", "time_in_force": "gtc"},
    ],
)
def test_extended_hours_when_not_limit_day_then_refused(overrides: dict[str, str]) -> None:
    assert refused(extended_hours=True, **overrides) == (
        "extended_hours",
        "extended-hours-requires-limit-day",
    )


def test_extended_hours_limit_day_parses_and_must_be_bool() -> None:
    assert parse(type="limit", limit_price="10", extended_hours=True).extended_hours
    assert refused(extended_hours="yes") == ("extended_hours", "boolean")


def test_symbol_and_client_order_id_are_parsed() -> None:
    assert refused(symbol="1ABC") == ("symbol", "symbol-format")
    assert refused(client_order_id="has space") == ("client_order_id", "client-order-id-format")


def test_fingerprint_is_stable_over_equivalent_input_and_ignores_client_order_id() -> None:
    a = parse(type="limit", limit_price="10.50", qty="5", client_order_id="a")
    b = parse(type="LIMIT", limit_price=Decimal("10.5"), qty=5, symbol="AAPL", client_order_id="b")
    assert a.content_fingerprint() == b.content_fingerprint()
    assert a.content_fingerprint().startswith("v1:")


@pytest.mark.parametrize(
    "change",
    [
        {"qty": "6"},
        {"limit_price": "10.51"},
        {"side": "sell"},
        {"time_in_force": "gtc"},
        {"symbol": "MSFT"},
        {"extended_hours": True},
    ],
)
def test_fingerprint_when_content_differs_then_differs(change: dict[str, Any]) -> None:
    base = {"type": "limit", "limit_price": "10.50", "qty": "5"}
    assert parse(**base).content_fingerprint() != parse(**{**base, **change}).content_fingerprint()


def test_to_order_builds_pending_new_order() -> None:
    order = parse(client_order_id="c-9").to_order(OrderId("o-1"), AccountId("a-1"), T0)
    assert order.status is OrderStatus.PENDING_NEW
    assert (order.client_order_id, order.symbol, order.qty) == ("c-9", "AAPL", Quantity.parse("10"))
    assert parse().to_order(OrderId("o-2"), AccountId("a-1"), T0).client_order_id == "o-2"


# -- replace --------------------------------------------------------------------------


def _working(**overrides: Any) -> Any:
    order = parse(**overrides).to_order(OrderId("o-1"), AccountId("a-1"), T0)
    order.apply(OrderEvent(OrderEventKind.ACKNOWLEDGE, T0))
    return order


def test_replace_limit_order_changes_price_and_tif() -> None:
    old = _working(type="limit", limit_price="10")
    request = ReplaceRequest.parse(old, limit_price="9.5", time_in_force="gtc", qty="3")
    new = request.to_order(old, OrderId("o-2"), T0)
    assert (new.limit_price, new.time_in_force, new.qty) == (
        Price.parse("9.5"),
        TimeInForce.GTC,
        Quantity.parse("3"),
    )
    assert (new.replaces, new.client_order_id) == ("o-1", "o-2")


def test_replace_trailing_percent_keeps_percent() -> None:
    old = _working(type="trailing_stop", trail_percent="2", time_in_force="gtc")
    new = ReplaceRequest.parse(old, trail="3").to_order(old, OrderId("o-2"), T0)
    assert (new.trail_percent, new.trail_price) == (Decimal("3"), None)
    with pytest.raises(ValidationFailed) as exc:
        ReplaceRequest.parse(old, trail="100")
    assert (exc.value.field, exc.value.rule) == ("trail", "percent-range")


def test_replace_trailing_price() -> None:
    old = _working(type="trailing_stop", trail_price="1", time_in_force="gtc")
    new = ReplaceRequest.parse(old, trail="1.25").to_order(old, OrderId("o-2"), T0)
    assert new.trail_price == Price.parse("1.25")


@pytest.mark.parametrize(
    ("overrides", "change", "field", "rule"),
    [
        ({}, {}, "order", "nothing-to-replace"),
        ({}, {"limit_price": "10"}, "limit_price", "not-allowed"),
        ({}, {"stop_price": "10"}, "stop_price", "not-allowed"),
        ({}, {"trail": "1"}, "trail", "not-allowed"),
        ({}, {"qty": "0"}, "qty", "positive"),
        ({}, {"time_in_force": "never"}, "time_in_force", "one-of"),
        (
            {"type": "stop", "stop_price": "5"},
            {"time_in_force": "ioc"},
            "time_in_force",
            "tif-not-allowed",
        ),
        (
            {"type": "limit", "limit_price": "5"},
            {"limit_price": "5.001"},
            "limit_price",
            "price-increment",
        ),
        (
            {"type": "limit", "limit_price": "5", "extended_hours": True},
            {"time_in_force": "gtc"},
            "time_in_force",
            "extended-hours-requires-limit-day",
        ),
        ({"qty": None, "notional": "100"}, {"qty": "1"}, "qty", "notional-not-replaceable"),
    ],
)
def test_replace_rules(
    overrides: dict[str, Any], change: dict[str, Any], field: str, rule: str
) -> None:
    old = _working(**overrides)
    with pytest.raises(ValidationFailed) as exc:
        ReplaceRequest.parse(old, **change)
    assert (exc.value.field, exc.value.rule) == (field, rule)


def test_replace_when_order_not_working_then_illegal_transition() -> None:
    old = _working()
    old.apply(OrderEvent(OrderEventKind.CANCEL_REQUESTED, T0))
    with pytest.raises(IllegalTransition):
        ReplaceRequest.parse(old, qty="1")
