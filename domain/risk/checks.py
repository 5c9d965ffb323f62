"""Pre-trade checks: pure functions that return a ``Denial`` (or ``None``).

A denial is stored as a ``rejected`` order carrying its code and message, never raised:
the client sees what was refused and why, and the history keeps it. The code is a
``ReasonCode`` in its own field (``insufficient_buying_power``), the message says the
numbers (``needs 1010.00, available 500.00``).

Paper trading has no shorting for now: a sell may not exceed the shares held minus those
promised to open sells (``insufficient_position``). A margin/short model would replace
``sell_denial``, not bolt onto it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from domain.errors import ValidationFailed
from domain.ledger import reservation, sellable_qty
from domain.market_hours import MarketCalendar
from domain.money import EXACT
from domain.orders import Order, OrderType, Side, TimeInForce
from domain.risk.codes import Denial, ReasonCode

__all__ = [
    "Book",
    "buy_denial",
    "denial",
    "needs_ask",
    "reserved_cash",
    "sell_denial",
    "window_denial",
]

ZERO = Decimal(0)
_NEEDS_ASK = frozenset({OrderType.MARKET, OrderType.TRAILING_STOP})


@dataclass(frozen=True, slots=True)
class Book:
    """What the checks read about an account, gathered under its lock.

    ``reserved`` is what open buys hold back that needs no quote (summed in SQL, see
    ``exposure``); ``priced_buys`` are the open buys that need the ask; ``open_sells``
    are the open sells of the order's symbol only.
    """

    status: str
    cash: Decimal = ZERO
    reserved: Decimal = ZERO
    priced_buys: tuple[Order, ...] = ()
    open_sells: tuple[Order, ...] = ()
    asks: Mapping[str, Decimal] = field(default_factory=dict)
    bids: Mapping[str, Decimal] = field(default_factory=dict)
    position: Decimal = ZERO


def needs_ask(order: Order) -> bool:
    return order.side is Side.BUY and order.notional is None and order.type in _NEEDS_ASK


def window_denial(order: Order, now: datetime, calendar: MarketCalendar) -> Denial | None:
    if order.time_in_force is TimeInForce.OPG and not calendar.opg_allowed(now):
        return Denial(
            ReasonCode.ORDER_WINDOW_CLOSED,
            "opg orders are refused from 09:28 to 19:00 New York",
        )
    if order.time_in_force is TimeInForce.CLS and not calendar.cls_allowed(now):
        return Denial(
            ReasonCode.ORDER_WINDOW_CLOSED,
            "cls orders are refused from 15:50 to 19:00 New York",
        )
    return None


def reserved_cash(
    open_orders: Iterable[Order], asks: Mapping[str, Decimal], buffer_bps: Decimal
) -> Decimal:
    """Cash held back by open buy orders. Raises ``ValidationFailed('quote', ...)`` when a
    market buy has no ask: we fail closed rather than guess its cost.

    While a replace is pending, both orders count: the old order's remainder can fill
    until the broker confirms the replace, and the replacement then works its whole
    quantity (``domain.paper``: it is not reduced by those fills; a full fill of the old
    order rejects it). The worst case is the sum; the confirmation (``replaced``) ends
    the old order and so releases its part.
    """
    total = ZERO
    for order in open_orders:
        if order.side is Side.BUY and order.status.is_open:
            held = reservation(order, asks.get(str(order.symbol)), buffer_bps)
            total = EXACT.add(total, held.amount)
    return total


def buy_denial(order: Order, book: Book, buffer_bps: Decimal) -> Denial | None:
    try:
        needed = reservation(order, book.asks.get(str(order.symbol)), buffer_bps).amount
        held = EXACT.add(book.reserved, reserved_cash(book.priced_buys, book.asks, buffer_bps))
    except ValidationFailed as exc:
        if exc.rule == "quote-required":
            return Denial(ReasonCode.PRICE_UNAVAILABLE, exc.message)
        raise
    available = EXACT.subtract(book.cash, held)
    if needed > available:
        return Denial(
            ReasonCode.INSUFFICIENT_BUYING_POWER,
            f"needs {needed:.2f}, available {available:.2f}",
        )
    return None


def sell_denial(order: Order, book: Book) -> Denial | None:
    try:
        same_symbol = [o for o in book.open_sells if o.symbol == order.symbol]
        sellable = sellable_qty(book.position, same_symbol, book.bids)
    except ValidationFailed as exc:
        if exc.rule == "quote-required":
            return Denial(ReasonCode.PRICE_UNAVAILABLE, exc.message)
        raise
    if order.qty is not None:
        selling = order.qty.value
    else:
        assert order.notional is not None
        bid = book.bids.get(str(order.symbol))
        if bid is None:
            return Denial(ReasonCode.PRICE_UNAVAILABLE, f"no bid for {order.symbol}")
        selling = EXACT.divide(order.notional.amount, bid)
    if selling > sellable:
        return Denial(
            ReasonCode.INSUFFICIENT_POSITION,
            f"sells {selling.normalize():f} {order.symbol}, "
            f"sellable {sellable.normalize():f} (no short selling in paper)",
        )
    return None


def denial(
    order: Order, book: Book, *, now: datetime, calendar: MarketCalendar, buffer_bps: Decimal
) -> Denial | None:
    """The first rule the order breaks, or ``None``. Fixed order: account, window, money."""
    if book.status != "active":
        return Denial(ReasonCode.ACCOUNT_INACTIVE, f"the account is {book.status}")
    found = window_denial(order, now, calendar)
    if found is not None:
        return found
    if order.side is Side.BUY:
        return buy_denial(order, book, buffer_bps)
    return sell_denial(order, book)
