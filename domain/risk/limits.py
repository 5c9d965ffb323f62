"""Per-order limits of a scope: order size, position size, order rate.

Pure and cheap: the caller passes what the order needs (its price, the position, how
many orders the account placed within ``per``), so the hot path asks the database only
for the facts a configured limit reads. A limit that needs a price and has none fails
closed (``price_unavailable``) rather than guessing.

Position limits bound the absolute position after the order, and refuse only orders that
grow it: an order that shrinks a position already over a lowered limit still passes, so
limits never trap a position.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from domain.errors import ValidationFailed
from domain.money import EXACT
from domain.orders import Side
from domain.risk.codes import Denial, ReasonCode

__all__ = ["RiskLimits", "limit_denial"]

ZERO = Decimal(0)


@dataclass(frozen=True)
class RiskLimits:
    """``None`` switches a limit off. ``max_orders`` orders per ``per`` per account."""

    max_order_notional: Decimal | None = None
    max_position_qty: Decimal | None = None
    max_position_notional: Decimal | None = None
    max_orders: int | None = None
    per: timedelta = timedelta(seconds=1)

    def __post_init__(self) -> None:
        for name in ("max_order_notional", "max_position_qty", "max_position_notional"):
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, Decimal) or not value.is_finite() or value <= ZERO:
                raise ValidationFailed(
                    name, "positive-decimal", f"{name} must be a positive Decimal"
                )
        if self.max_orders is not None and (
            isinstance(self.max_orders, bool)
            or not isinstance(self.max_orders, int)
            or self.max_orders < 1
        ):
            raise ValidationFailed("max_orders", "at-least-1", "max_orders must be at least 1")
        if self.per <= timedelta(0):
            raise ValidationFailed("per", "positive", "per must be a positive duration")

    @property
    def needs_price(self) -> bool:
        return self.max_position_notional is not None


def limit_denial(
    limits: RiskLimits,
    *,
    side: Side,
    qty: Decimal | None,
    notional: Decimal | None,
    price: Decimal | None,
    position: Decimal,
    recent_orders: int,
) -> Denial | None:
    """The first limit the order breaks, or ``None``. Exactly at a limit passes.

    ``qty`` xor ``notional`` sizes the order; ``price`` is the reference price (the ask
    for a buy, the bid for a sell, or the limit price). ``recent_orders`` counts the
    account's orders within ``limits.per`` before now. Fixed order: order size, position
    size, then the rate (the only retryable refusal comes last).
    """
    if (qty is None) == (notional is None):
        raise ValidationFailed("qty", "qty-xor-notional", "give exactly one of qty, notional")
    if limits.max_order_notional is not None:
        if notional is None:
            if price is None:
                return _no_price("the order notional limit")
            assert qty is not None
            notional = EXACT.multiply(qty, price)
        if notional > limits.max_order_notional:
            return Denial(
                ReasonCode.NOTIONAL_EXCEEDS_MAX,
                f"order notional {_fmt(notional)} exceeds the maximum "
                f"{_fmt(limits.max_order_notional)}",
            )
    if limits.max_position_qty is not None or limits.max_position_notional is not None:
        found = _position_denial(limits, side, qty, notional, price, position)
        if found is not None:
            return found
    if limits.max_orders is not None and recent_orders >= limits.max_orders:
        return Denial(
            ReasonCode.RATE_LIMITED,
            f"{recent_orders} orders within {_seconds(limits.per)}: the maximum is "
            f"{limits.max_orders} per {_seconds(limits.per)}; retry shortly",
        )
    return None


def _position_denial(
    limits: RiskLimits,
    side: Side,
    qty: Decimal | None,
    notional: Decimal | None,
    price: Decimal | None,
    position: Decimal,
) -> Denial | None:
    if qty is None:
        if price is None:
            return _no_price("the position limit of a notional order")
        assert notional is not None
        qty = EXACT.divide(notional, price)
    after = EXACT.add(position, qty) if side is Side.BUY else EXACT.subtract(position, qty)
    if abs(after) <= abs(position):
        return None  # shrinks (or keeps) the position: never refused by a size limit
    size = abs(after)
    if limits.max_position_qty is not None and size > limits.max_position_qty:
        return Denial(
            ReasonCode.POSITION_EXCEEDS_MAX,
            f"the position after this order would be {_fmt(after)} shares, over the "
            f"maximum of {_fmt(limits.max_position_qty)}",
        )
    if limits.max_position_notional is not None:
        if price is None:
            return _no_price("the position notional limit")
        value = EXACT.multiply(size, price)
        if value > limits.max_position_notional:
            return Denial(
                ReasonCode.POSITION_EXCEEDS_MAX,
                f"the position after this order would be worth {_fmt(value)}, over the "
                f"maximum of {_fmt(limits.max_position_notional)}",
            )
    return None


def _no_price(what: str) -> Denial:
    return Denial(ReasonCode.PRICE_UNAVAILABLE, f"no price to check {what} against")


def _fmt(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _seconds(per: timedelta) -> str:
    return f"{_fmt(Decimal(str(per.total_seconds())))}s"
