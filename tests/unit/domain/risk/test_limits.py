"""Per-order limits: hand-computed numbers, exactly-at-the-limit boundaries."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from domain.errors import ValidationFailed
from domain.orders import Side
from domain.risk.codes import Denial, ReasonCode
from domain.risk.limits import RiskLimits, limit_denial

D = Decimal


def _deny(
    limits: RiskLimits,
    *,
    side: Side = Side.BUY,
    qty: str | None = "10",
    notional: str | None = None,
    price: str | None = "100",
    position: str = "0",
    recent: int = 0,
) -> Denial | None:
    return limit_denial(
        limits,
        side=side,
        qty=None if qty is None else D(qty),
        notional=None if notional is None else D(notional),
        price=None if price is None else D(price),
        position=D(position),
        recent_orders=recent,
    )


def test_no_limits_when_any_order_then_allowed() -> None:
    assert _deny(RiskLimits(), qty="1000000", price=None, recent=10**6) is None


def test_order_notional_when_qty_times_price_over_max_then_denied() -> None:
    limits = RiskLimits(max_order_notional=D(1000))
    assert _deny(limits, qty="10", price="100") is None  # 1000, exactly the max
    assert _deny(limits, qty="10", price="100.01") == Denial(
        ReasonCode.NOTIONAL_EXCEEDS_MAX, "order notional 1000.1 exceeds the maximum 1000"
    )


def test_order_notional_when_notional_order_then_its_notional_counts() -> None:
    limits = RiskLimits(max_order_notional=D(1000))
    assert _deny(limits, qty=None, notional="1000", price=None) is None
    denial = _deny(limits, qty=None, notional="1000.01", price=None)
    assert denial is not None and denial.code is ReasonCode.NOTIONAL_EXCEEDS_MAX


def test_order_notional_when_qty_order_has_no_price_then_price_unavailable() -> None:
    denial = _deny(RiskLimits(max_order_notional=D(1000)), price=None)
    assert denial is not None and denial.code is ReasonCode.PRICE_UNAVAILABLE


def test_position_qty_when_after_order_over_max_then_denied() -> None:
    limits = RiskLimits(max_position_qty=D(100))
    assert _deny(limits, qty="40", position="60") is None  # exactly 100 after
    assert _deny(limits, qty="41", position="60") == Denial(
        ReasonCode.POSITION_EXCEEDS_MAX,
        "the position after this order would be 101 shares, over the maximum of 100",
    )
    # A short grows on sells: -60 - 41 = -101.
    denial = _deny(limits, side=Side.SELL, qty="41", position="-60")
    assert denial is not None and denial.code is ReasonCode.POSITION_EXCEEDS_MAX


def test_position_qty_when_order_shrinks_position_over_a_lowered_max_then_allowed() -> None:
    limits = RiskLimits(max_position_qty=D(100))
    assert _deny(limits, side=Side.SELL, qty="10", position="150") is None
    assert _deny(limits, side=Side.BUY, qty="10", position="-150") is None
    denial = _deny(limits, side=Side.BUY, qty="1", position="150")
    assert denial is not None and denial.code is ReasonCode.POSITION_EXCEEDS_MAX


def test_position_qty_when_price_missing_then_qty_order_still_checked() -> None:
    limits = RiskLimits(max_position_qty=D(100))
    assert _deny(limits, qty="100", price=None) is None
    denial = _deny(limits, qty=None, notional="500", price=None)
    assert denial is not None and denial.code is ReasonCode.PRICE_UNAVAILABLE
    # 10000 / 100 = 100 shares: exactly the max; 10001 / 100 = 100.01 is over.
    assert _deny(limits, qty=None, notional="10000", price="100") is None
    denial = _deny(limits, qty=None, notional="10001", price="100")
    assert denial is not None and denial.code is ReasonCode.POSITION_EXCEEDS_MAX


def test_position_notional_when_value_after_order_over_max_then_denied() -> None:
    limits = RiskLimits(max_position_notional=D(5000))
    # (30 + 20) x 100 = 5000: exactly the max.
    assert _deny(limits, qty="20", price="100", position="30") is None
    assert _deny(limits, qty="21", price="100", position="30") == Denial(
        ReasonCode.POSITION_EXCEEDS_MAX,
        "the position after this order would be worth 5100, over the maximum of 5000",
    )
    denial = _deny(limits, qty="1", price=None, position="30")
    assert denial is not None and denial.code is ReasonCode.PRICE_UNAVAILABLE
    assert limits.needs_price and not RiskLimits(max_position_qty=D(1)).needs_price


def test_rate_when_recent_orders_reach_max_then_rate_limited() -> None:
    limits = RiskLimits(max_orders=5, per=timedelta(seconds=2))
    assert _deny(limits, recent=4) is None
    denial = _deny(limits, recent=5)
    assert denial == Denial(
        ReasonCode.RATE_LIMITED,
        "5 orders within 2s: the maximum is 5 per 2s; retry shortly",
    )
    assert denial.code.http_status == 429


def test_precedence_when_every_limit_broken_then_size_before_rate() -> None:
    limits = RiskLimits(
        max_order_notional=D(10), max_position_qty=D(1), max_orders=1, per=timedelta(seconds=1)
    )
    first = _deny(limits, qty="5", recent=9)
    assert first is not None and first.code is ReasonCode.NOTIONAL_EXCEEDS_MAX
    second = _deny(RiskLimits(max_position_qty=D(1), max_orders=1), qty="5", recent=9)
    assert second is not None and second.code is ReasonCode.POSITION_EXCEEDS_MAX


def test_limit_denial_when_qty_and_notional_both_or_neither_then_refused() -> None:
    with pytest.raises(ValidationFailed):
        _deny(RiskLimits(), qty="1", notional="1")
    with pytest.raises(ValidationFailed):
        _deny(RiskLimits(), qty=None, notional=None)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_order_notional": D(0)},
        {"max_order_notional": D(-1)},
        {"max_position_qty": D("NaN")},
        {"max_position_notional": D("Infinity")},
        {"max_position_qty": 5.0},
        {"max_orders": 0},
        {"max_orders": True},
        {"per": timedelta(0)},
    ],
)
def test_limits_when_nonsense_then_validation_failed(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationFailed):
        RiskLimits(**kwargs)  # type: ignore[arg-type]
