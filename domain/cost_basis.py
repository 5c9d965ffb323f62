"""Average-cost basis of positions from their fills (pure arithmetic, no I/O).

A buy adds its value (in cents) to the cost; a sell lowers the cost in proportion to the
quantity sold, so the average entry price of what remains is unchanged. A position that
goes flat starts again from zero cost. Fills are taken in booking order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from domain.ledger import to_cents
from domain.money import EXACT
from domain.orders import AVG_PRICE_PLACES, Side

_AVG_QUANTUM = Decimal(1).scaleb(-AVG_PRICE_PLACES)


@dataclass(frozen=True, slots=True)
class FillLine:
    symbol: str
    side: str
    qty: Decimal
    price: Decimal


def cost_bases(fills: Iterable[FillLine]) -> dict[str, Decimal]:
    """Cost basis (exact, before rounding) of each symbol's open quantity."""
    qty: dict[str, Decimal] = {}
    cost: dict[str, Decimal] = {}
    for fill in fills:
        q, c = qty.get(fill.symbol, Decimal(0)), cost.get(fill.symbol, Decimal(0))
        if fill.side == Side.BUY.value:
            q, c = q + fill.qty, c + to_cents(EXACT.multiply(fill.qty, fill.price))
        elif q > 0:
            c = EXACT.subtract(c, EXACT.divide(EXACT.multiply(c, fill.qty), q))
            q = q - fill.qty
        qty[fill.symbol], cost[fill.symbol] = q, (c if q > 0 else Decimal(0))
    return cost


def average_entry_price(basis: Decimal, held: Decimal) -> Decimal:
    """Average entry price at the order book's average-price places (half-even)."""
    avg = EXACT.divide(basis, held) if held else Decimal(0)
    return avg.quantize(_AVG_QUANTUM, rounding=ROUND_HALF_EVEN)
