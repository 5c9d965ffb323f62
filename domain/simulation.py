"""A seeded market simulator: quotes and trades from geometric Brownian motion.

Why: development, demos and load tests need a feed that looks like a market (prices on
tick, spreads of a few basis points, round-lot sizes) without a vendor account, and
tests need the same feed every run. Each symbol has its own ``random.Random`` seeded
from ``seed`` and the symbol, so output depends only on the seed, the symbol and the
instants passed to ``step``: adding a symbol does not change the others' paths.

The caller decides the cadence and whether the market is open; ``step(at)`` moves each
price over the time since the previous step and emits one round of events.

The running mid is a float because it is a model variable, not money: only quantized
``Decimal`` prices leave this module.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from domain.errors import ValidationFailed
from domain.marketdata import Quote, Trade

__all__ = ["PROVIDER", "GbmParams", "GbmSimulator", "tick_size"]

PROVIDER = "simulated"
ROUND_LOT = 100
# Time scale of drift and volatility: one trading year of 252 sessions of 6.5 hours.
TRADING_YEAR = timedelta(hours=252 * 6.5)

_CENT = Decimal("0.01")
_SUB_DOLLAR_TICK = Decimal("0.0001")


def tick_size(price: Decimal) -> Decimal:
    """Reg NMS minimum increment: $0.01 at or above $1, $0.0001 below."""
    return _CENT if price >= 1 else _SUB_DOLLAR_TICK


def _on_tick(price: Decimal, rounding: str) -> Decimal:
    """Round ``price`` onto its tick grid; re-round if that crossed the $1 boundary."""
    rounded = price.quantize(tick_size(price), rounding)
    return rounded.quantize(tick_size(rounded), rounding)


@dataclass(frozen=True, slots=True)
class GbmParams:
    """Model parameters; defaults give a plausible large-cap stock."""

    drift: float = 0.05  # annualised
    volatility: float = 0.30  # annualised
    min_start_price: float = 5.0
    max_start_price: float = 500.0
    min_spread_bps: float = 1.0
    max_spread_bps: float = 5.0
    max_quote_lots: int = 10
    max_trade_lots: int = 5
    trade_probability: float = 0.5  # chance of a trade per symbol per step

    def __post_init__(self) -> None:
        if self.volatility < 0:
            raise ValidationFailed("volatility", "non-negative")
        if not 0 < self.min_start_price <= self.max_start_price:
            raise ValidationFailed("min_start_price", "positive-and-at-most-max")
        if not 0 < self.min_spread_bps <= self.max_spread_bps:
            raise ValidationFailed("min_spread_bps", "positive-and-at-most-max")
        if self.max_quote_lots < 1 or self.max_trade_lots < 1:
            raise ValidationFailed("max_quote_lots", "at-least-1")
        if not 0 <= self.trade_probability <= 1:
            raise ValidationFailed("trade_probability", "in-[0,1]")


class _Path:
    """One symbol's random stream and price."""

    def __init__(self, symbol: str, seed: int, params: GbmParams) -> None:
        # Seeding with a str hashes it with SHA-512: stable across processes, unlike hash().
        self.rng = random.Random(f"{seed}:{symbol}")
        low, high = math.log(params.min_start_price), math.log(params.max_start_price)
        self.mid = math.exp(self.rng.uniform(low, high))
        self.last_at: datetime | None = None

    def move(self, at: datetime, params: GbmParams) -> None:
        if self.last_at is not None and at > self.last_at:
            dt = (at - self.last_at) / TRADING_YEAR
            shock = self.rng.gauss(0.0, 1.0)
            sigma = params.volatility
            drift = (params.drift - sigma * sigma / 2) * dt
            self.mid *= math.exp(drift + sigma * math.sqrt(dt) * shock)
        self.last_at = at


class GbmSimulator:
    """Deterministic quote and trade generator for ``symbols``."""

    def __init__(self, symbols: Sequence[str], seed: int, params: GbmParams | None = None) -> None:
        if not symbols or len(set(symbols)) != len(symbols):
            raise ValidationFailed("symbols", "non-empty-and-unique")
        self.params = params or GbmParams()
        self.symbols = tuple(symbols)
        self._paths = {s: _Path(s, seed, self.params) for s in self.symbols}
        self._seq = 0

    def step(self, at: datetime) -> list[Quote | Trade]:
        """One round at ``at``: a quote per symbol, and sometimes a trade after it."""
        events: list[Quote | Trade] = []
        for symbol in self.symbols:
            path = self._paths[symbol]
            path.move(at, self.params)
            quote = self._quote(symbol, path, at)
            events.append(quote)
            if path.rng.random() < self.params.trade_probability:
                events.append(self._trade(symbol, path, quote, at))
        return events

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _quote(self, symbol: str, path: _Path, at: datetime) -> Quote:
        p = self.params
        mid = Decimal(repr(path.mid))
        spread_bps = path.rng.uniform(p.min_spread_bps, p.max_spread_bps)
        half = mid * Decimal(repr(spread_bps)) / Decimal(20_000)
        bid = max(_on_tick(mid - half, ROUND_FLOOR), _SUB_DOLLAR_TICK)
        ask = max(
            _on_tick(mid + half, ROUND_CEILING), _on_tick(bid + tick_size(bid), ROUND_CEILING)
        )
        # At least one tick apart and rounded outward, so bid < ask always holds.
        return Quote(
            symbol=symbol,
            bid_price=bid,
            bid_size=ROUND_LOT * path.rng.randint(1, p.max_quote_lots),
            ask_price=ask,
            ask_size=ROUND_LOT * path.rng.randint(1, p.max_quote_lots),
            exchange_ts=at,
            received_ts=at,
            provider=PROVIDER,
            seq=self._next_seq(),
        )

    def _trade(self, symbol: str, path: _Path, quote: Quote, at: datetime) -> Trade:
        # Buyers lift the ask, sellers hit the bid; no price improvement in this model.
        price = quote.ask_price if path.rng.random() < 0.5 else quote.bid_price
        return Trade(
            symbol=symbol,
            price=price,
            size=ROUND_LOT * path.rng.randint(1, self.params.max_trade_lots),
            exchange_ts=at,
            received_ts=at,
            provider=PROVIDER,
            seq=self._next_seq(),
        )
