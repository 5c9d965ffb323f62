"""Portfolio arithmetic: marking positions, equity, closing quantities, equity history.

Pure: the caller brings holdings, quotes and ledger entries; nothing here reads a clock,
a database or a quote cache. Money comes out in whole cents (``to_cents``, half-even),
prices at ``PRICE_PLACES``, ratios at ``RATIO_PLACES``.

The shapes follow Alpaca's position and account meanings. Elson keeps no previous close,
so a position's ``lastday_price`` is its current price and the "today" figures are 0
(README, "Alpaca shapes").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

from domain.errors import ValidationFailed
from domain.ledger import CASH, JournalEntry, to_cents
from domain.money import EXACT
from domain.orders import Order, Side

PRICE_PLACES = 4
RATIO_PLACES = 6
#: the finest quantity an order takes (``domain.money.Quantity``)
QTY_QUANTUM = Decimal("0.000000001")
ZERO = Decimal(0)
_PRICE_Q = Decimal(1).scaleb(-PRICE_PLACES)
_RATIO_Q = Decimal(1).scaleb(-RATIO_PLACES)
_POSITION = "position:"


@dataclass(frozen=True, slots=True)
class Holding:
    """What the ledger says is held: quantity (negative when short) and its cost."""

    symbol: str
    qty: Decimal
    avg_entry_price: Decimal
    cost_basis: Decimal


@dataclass(frozen=True, slots=True)
class MarkedPosition:
    """A holding valued at a mark, with Alpaca's position figures."""

    symbol: str
    qty: Decimal
    qty_available: Decimal
    side: str  # "long" | "short"
    avg_entry_price: Decimal
    cost_basis: Decimal
    current_price: Decimal
    lastday_price: Decimal
    market_value: Decimal
    unrealized_pl: Decimal
    unrealized_plpc: Decimal
    unrealized_intraday_pl: Decimal
    unrealized_intraday_plpc: Decimal
    change_today: Decimal


@dataclass(frozen=True, slots=True)
class Valuation:
    """The account's money figures, Alpaca's meanings (see ``value_account``)."""

    cash: Decimal
    buying_power: Decimal
    long_market_value: Decimal
    short_market_value: Decimal
    equity: Decimal
    positions_value: Decimal


def mark_price(bid: Decimal | None, ask: Decimal | None, fallback: Decimal) -> Decimal:
    """The mid of a two-sided quote, else the one side there is, else ``fallback`` (the
    average entry price: a position without a quote is shown at cost)."""
    sides = [p for p in (bid, ask) if p is not None and p > 0]
    price = sum(sides, ZERO) / len(sides) if sides else fallback
    return price.quantize(_PRICE_Q, rounding=ROUND_HALF_EVEN, context=EXACT)


def ratio(numerator: Decimal, denominator: Decimal) -> Decimal:
    if denominator == 0:
        return ZERO.quantize(_RATIO_Q)
    return EXACT.divide(numerator, denominator).quantize(_RATIO_Q, rounding=ROUND_HALF_EVEN)


def mark_position(
    holding: Holding, price: Decimal, held_for_orders: Decimal = ZERO
) -> MarkedPosition:
    """Value ``holding`` at ``price``. A short's cost basis and market value are negative,
    as at Alpaca; ``held_for_orders`` is the quantity open closing orders still hold."""
    sign = 1 if holding.qty >= 0 else -1
    cost = sign * abs(holding.cost_basis)
    value = to_cents(EXACT.multiply(holding.qty, price))
    pl = to_cents(EXACT.subtract(value, cost))
    available = max(ZERO, abs(holding.qty) - held_for_orders) * sign
    return MarkedPosition(
        symbol=holding.symbol,
        qty=holding.qty,
        qty_available=available,
        side="long" if sign > 0 else "short",
        avg_entry_price=holding.avg_entry_price.quantize(_PRICE_Q, rounding=ROUND_HALF_EVEN),
        cost_basis=to_cents(cost),
        current_price=price,
        lastday_price=price,
        market_value=value,
        unrealized_pl=pl,
        unrealized_plpc=ratio(pl, abs(cost)),
        unrealized_intraday_pl=to_cents(ZERO),
        unrealized_intraday_plpc=ratio(ZERO, ZERO),
        change_today=ratio(ZERO, ZERO),
    )


def held_by_orders(orders: Iterable[Order], symbol: str, qty: Decimal) -> Decimal:
    """Shares of a position that open orders on the closing side still hold (a sell for a
    long, a buy for a short): Alpaca's ``qty`` minus ``qty_available``."""
    closing = Side.SELL if qty >= 0 else Side.BUY
    held = ZERO
    for o in orders:
        if str(o.symbol) == symbol and o.side is closing and o.status.is_open and o.qty:
            held += max(ZERO, o.qty.value - o.filled_qty)
    return held


def value_account(
    cash: Decimal, buying_power: Decimal, positions: Iterable[MarkedPosition]
) -> Valuation:
    """Equity is cash plus the market value of every position (a short's is negative)."""
    long_value = short_value = ZERO
    for p in positions:
        if p.market_value >= 0:
            long_value += p.market_value
        else:
            short_value += p.market_value
    value = long_value + short_value
    return Valuation(
        cash=to_cents(cash),
        buying_power=to_cents(buying_power),
        long_market_value=to_cents(long_value),
        short_market_value=to_cents(short_value),
        equity=to_cents(cash + value),
        positions_value=to_cents(value),
    )


def close_quantity(held: Decimal, qty: str | None, percentage: str | None) -> Decimal:
    """How many shares closing ``held`` takes: all of it, ``qty``, or ``percentage`` of it
    (rounded down to the finest quantity). Refuses both at once, and anything outside
    (0, held]."""
    if qty is not None and percentage is not None:
        raise ValidationFailed("qty", "qty-xor-percentage", "give qty or percentage, not both")
    whole = abs(held)
    amount = whole
    if qty is not None:
        amount = Decimal(qty)
    elif percentage is not None:
        pct = Decimal(percentage)
        if not ZERO < pct <= Decimal(100):
            raise ValidationFailed("percentage", "percent-range", "percentage must be in (0, 100]")
        amount = (whole * pct / 100).quantize(QTY_QUANTUM, rounding=ROUND_DOWN)
    if amount <= 0 or amount > whole:
        raise ValidationFailed("qty", "exceeds-position", "qty must be in (0, position qty]")
    return amount


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    at: int  # unix seconds
    equity: Decimal


def equity_history(entries: Sequence[JournalEntry]) -> list[HistoryPoint]:
    """Equity after each entry (oldest first), each position at its last fill price."""
    cash = ZERO
    shares: dict[str, Decimal] = {}
    last_price: dict[str, Decimal] = {}
    out = []
    for e in entries:
        moved: dict[str, Decimal] = {}
        entry_cash = ZERO
        for p in e.postings:
            if p.account == CASH:
                cash += p.amount
                entry_cash += p.amount
            elif p.account.startswith(_POSITION):
                sym = p.account[len(_POSITION) :]
                shares[sym] = shares.get(sym, ZERO) + p.amount
                moved[sym] = p.amount
        for sym, q in moved.items():
            if q:
                last_price[sym] = abs(EXACT.divide(entry_cash, q))
        value = sum((q * last_price.get(s, ZERO) for s, q in shares.items()), ZERO)
        out.append(HistoryPoint(int(e.at.timestamp()), to_cents(cash + value)))
    return out
