"""Live results of a strategy instance from its paper fills: what a live sample records.

Pure: the caller brings the instance's fills (orders with its ``strategy_id``), the latest
marks and the equity points of earlier samples; nothing here reads a clock or a database.

Choices (and why):

- **Money** is average cost, as the ledger's positions (``domain.cost_basis``), extended
  to shorts (a fill through zero closes the lot and opens the other side at the fill
  price). ``realized`` is the gain of closed quantities minus every fee paid, so
  ``realized + unrealized`` is what the instance's trading added to equity; ``unrealized``
  marks the open lots at the mark (the last fill price of a symbol without one). Both are
  whole cents (half-even), over the instance's whole life.
- **Trades** are round trips: one closes each time a symbol's position returns to (or
  goes through) flat, as backtesting.py counts a closed trade.
- **Score and drawdown** are the current version's, since they are compared with the
  out-of-sample score the version was promoted on. Its equity curve is ``capital`` plus the
  P&L gained since the version took effect, at each earlier sample and now; ``capital`` is
  the cash the re-optimization backtests with (``reoptimize.cash``, else 10,000), so a
  percentage means the same live as out of sample. The score is the instance's objective
  computed as backtesting.py computes it (``domain.backtest.kernel_stats``) from that curve:
  returns and drawdowns directly; annualized figures, Sharpe and Sortino from daily
  returns (the last point of each UTC day, 252 periods a year, no risk-free rate), so
  they need two days of samples; win rate and profit factor from the round trips. An
  objective the live curve cannot give (alpha, beta, SQN, ...) or too few points give
  ``None``, which the drift check skips.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from domain.ledger import to_cents
from domain.money import EXACT

ZERO = Decimal(0)
ANNUAL_PERIODS = 252.0
#: objectives a live curve gives (see the module docstring); others score None
LIVE_OBJECTIVES = (
    "equity_final",
    "return_pct",
    "return_ann_pct",
    "volatility_ann_pct",
    "sharpe_ratio",
    "sortino_ratio",
    "calmar_ratio",
    "max_drawdown_pct",
    "win_rate_pct",
    "profit_factor",
    "commissions",
)


@dataclass(frozen=True, slots=True)
class LiveFill:
    symbol: str
    side: str  # "buy" | "sell"
    qty: Decimal
    price: Decimal
    fee: Decimal
    at: datetime


@dataclass(frozen=True, slots=True)
class EquityPoint:
    """The instance's P&L (realized + unrealized) at one instant."""

    at: datetime
    pnl: Decimal


@dataclass(frozen=True, slots=True)
class RoundTrip:
    closed_at: datetime
    #: the gross gain of the round trip (before fees)
    gain: Decimal


@dataclass(frozen=True)
class Pnl:
    realized: Decimal
    unrealized: Decimal
    fees: Decimal
    #: closed round trips, in closing order
    round_trips: tuple[RoundTrip, ...] = field(default=())
    positions: Mapping[str, Decimal] = field(default_factory=dict)

    @property
    def total(self) -> Decimal:
        return self.realized + self.unrealized


@dataclass(frozen=True)
class LiveSample:
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    trades: int
    drawdown_pct: float | None
    score: float | None


def pnl(fills: Iterable[LiveFill], marks: Mapping[str, Decimal]) -> Pnl:
    """Average-cost P&L of ``fills`` (booking order) marked at ``marks``."""
    qty: dict[str, Decimal] = {}
    avg: dict[str, Decimal] = {}
    last: dict[str, Decimal] = {}
    trip: dict[str, Decimal] = {}
    realized, fees = ZERO, ZERO
    trips: list[RoundTrip] = []
    for f in fills:
        q, a = qty.get(f.symbol, ZERO), avg.get(f.symbol, ZERO)
        signed = f.qty if f.side == "buy" else -f.qty
        fees += f.fee
        last[f.symbol] = f.price
        if q == 0 or (q > 0) == (signed > 0):  # opening or adding: new average
            total = q + signed
            a = EXACT.divide(
                EXACT.add(EXACT.multiply(q, a), EXACT.multiply(signed, f.price)), total
            )
            qty[f.symbol], avg[f.symbol] = total, a
            continue
        closed = min(abs(signed), abs(q))
        sign = 1 if q > 0 else -1
        gain = EXACT.multiply(sign * closed, EXACT.subtract(f.price, a))
        realized += gain
        trip[f.symbol] = trip.get(f.symbol, ZERO) + gain
        total = q + signed
        if total == 0 or (total > 0) != (q > 0):  # flat or through zero: a round trip
            trips.append(RoundTrip(f.at, trip.pop(f.symbol)))
            a = f.price
        qty[f.symbol], avg[f.symbol] = total, (a if total != 0 else ZERO)
    unrealized = ZERO
    for symbol, q in qty.items():
        if q:
            mark = marks.get(symbol, last[symbol])
            unrealized += EXACT.multiply(q, EXACT.subtract(mark, avg[symbol]))
    return Pnl(
        realized=to_cents(realized - fees),
        unrealized=to_cents(unrealized),
        fees=fees,
        round_trips=tuple(trips),
        positions={s: q for s, q in qty.items() if q},
    )


def max_drawdown_pct(equity: Sequence[float]) -> float | None:
    """backtesting.py's ``Max. Drawdown [%]``: the deepest fall from a running peak, as a
    non-positive percentage (0.0 for a curve that never fell); None without points."""
    if not equity:
        return None
    peak, worst = -math.inf, 0.0
    for e in equity:
        peak = max(peak, e)
        if peak > 0:
            worst = max(worst, 1.0 - e / peak)
    return -worst * 100.0


def daily_returns(points: Sequence[tuple[datetime, float]]) -> list[float]:
    """Returns between the last equity of consecutive UTC days (kernel's period returns)."""
    closes: list[float] = []
    day = None
    for at, e in points:
        d = at.date()
        if closes and d == day:
            closes[-1] = e
        else:
            closes.append(e)
        day = d
    return [b / a - 1.0 for a, b in itertools.pairwise(closes) if a]


def _annual(points: Sequence[tuple[datetime, float]]) -> dict[str, float] | None:
    """Annualized return, volatility and downside deviation, as ``_period_returns``."""
    r = daily_returns(points)
    m = len(r)
    if m < 2:
        return None
    closes_growth = math.prod(1.0 + x for x in r)
    gmean = 0.0 if any(1.0 + x <= 0 for x in r) else closes_growth ** (1.0 / m) - 1.0
    mean = sum(r) / m
    var = sum((x - mean) ** 2 for x in r) / (m - 1)
    down = sum(x * x for x in r if x < 0) / m
    g = 1.0 + gmean
    ann = g**ANNUAL_PERIODS - 1.0
    vol = math.sqrt(max(0.0, (var + g**2) ** ANNUAL_PERIODS - g ** (2 * ANNUAL_PERIODS)))
    return {"ann": ann, "vol": vol, "down": math.sqrt(down) * math.sqrt(ANNUAL_PERIODS)}


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def objective_score(
    objective: str,
    points: Sequence[tuple[datetime, float]],
    round_trips: Sequence[RoundTrip],
    fees: Decimal,
) -> float | None:
    """``objective`` from the version's equity curve (``points``: time, equity; oldest
    first, the first being the version's start) and its round trips; None when it cannot
    be computed (unknown live, fewer than two points, a division by zero)."""
    if objective not in LIVE_OBJECTIVES or len(points) < 2:
        return None
    e0, ef = points[0][1], points[-1][1]
    value: float | None
    if objective == "equity_final":
        value = ef
    elif objective == "return_pct":
        value = _ratio(ef - e0, e0)
        value = None if value is None else value * 100.0
    elif objective == "max_drawdown_pct":
        value = max_drawdown_pct([e for _, e in points])
    elif objective == "commissions":
        value = float(fees)
    elif objective in ("win_rate_pct", "profit_factor"):
        wins = [float(t.gain) for t in round_trips if t.gain > 0]
        losses = [float(t.gain) for t in round_trips if t.gain < 0]
        if objective == "win_rate_pct":
            value = _ratio(len(wins) * 100.0, len(round_trips))
        else:
            value = _ratio(sum(wins), -sum(losses))
    else:
        a = _annual(points)
        if a is None:
            return None
        dd = max_drawdown_pct([e for _, e in points]) or 0.0
        value = {
            "return_ann_pct": a["ann"] * 100.0,
            "volatility_ann_pct": a["vol"] * 100.0,
            "sharpe_ratio": _ratio(a["ann"], a["vol"]),
            "sortino_ratio": _ratio(a["ann"], a["down"]),
            "calmar_ratio": _ratio(a["ann"], -dd / 100.0),
        }[objective]
    return value if value is not None and math.isfinite(value) else None


def live_sample(
    fills: Sequence[LiveFill],
    marks: Mapping[str, Decimal],
    *,
    now: datetime,
    objective: str,
    capital: Decimal,
    version_start: EquityPoint,
    earlier: Sequence[EquityPoint] = (),
) -> LiveSample:
    """The sample to record now.

    ``version_start``: the P&L when the current version took effect (the curve's origin);
    ``earlier``: the P&L of this version's earlier samples, oldest first. Round trips
    closed and fees paid from ``version_start.at`` on count for the score.
    """
    now_pnl = pnl(fills, marks)
    base = float(capital) - float(version_start.pnl)
    curve = [version_start, *earlier, EquityPoint(now, now_pnl.total)]
    points = [(p.at, base + float(p.pnl)) for p in curve]
    since = version_start.at
    trips = [t for t in now_pnl.round_trips if t.closed_at >= since]
    fees = sum((f.fee for f in fills if f.at >= since), ZERO)
    return LiveSample(
        realized_pnl=now_pnl.realized,
        unrealized_pnl=now_pnl.unrealized,
        trades=len(now_pnl.round_trips),
        drawdown_pct=max_drawdown_pct([e for _, e in points]),
        score=objective_score(objective, points, trips, fees),
    )
