"""Automatic protections, after Freqtrade's, made scoped: each rule is a pure function
of facts the caller gathers and of ``now``, and answers a trading state or a ``Lock``
for the scope it was asked about (an account or a strategy).

- ``loss_breach``: the daily loss or the drawdown from peak equity reached its limit ->
  the configured state (``reducing`` by default, or ``halted``).
- ``streak_lock``: ``trades`` stop-outs in a row within ``lookback`` -> locked for
  ``lock_for`` from now.
- ``cooldown_lock``: the last trade was a stop-out -> locked until ``after_stop_out``
  after it.

Locks carry their end (``until``), so they release at that time without anyone acting;
the risk actor only audits the release.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Final

from domain.clock import require_aware
from domain.errors import ValidationFailed
from domain.market_hours import EXCHANGE_TZ
from domain.money import EXACT
from domain.risk.snapshot import Lock
from domain.risk.states import Scope, TradingState

__all__ = [
    "ClosedTrade",
    "Cooldown",
    "LossLimits",
    "StopLossGuard",
    "cooldown_lock",
    "day_start",
    "loss_breach",
    "streak_lock",
]

ZERO = Decimal(0)
HUNDRED = Decimal(100)
STREAK_BY: Final = "protection:stop_loss_guard"
COOLDOWN_BY: Final = "protection:cooldown"


def day_start(now: datetime, tz: tzinfo = EXCHANGE_TZ) -> datetime:
    """Midnight New York of the day containing ``now``, in UTC: where the daily loss
    restarts. Midnight, not the 04:00 pre-market open, so after-hours fills count to the
    day they happened; DST changes at 02:00, so midnight always exists."""
    local = require_aware("now", now).astimezone(tz)
    return datetime.combine(local.date(), time(0), tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class LossLimits:
    """``daily_loss`` in dollars; ``max_drawdown_pct`` in percent of peak equity (10 =
    10%). ``None`` switches a rule off."""

    daily_loss: Decimal | None = None
    max_drawdown_pct: Decimal | None = None
    on_breach: TradingState = TradingState.REDUCING

    def __post_init__(self) -> None:
        if self.daily_loss is not None and not _positive(self.daily_loss):
            raise ValidationFailed("daily_loss", "positive-decimal")
        pct = self.max_drawdown_pct
        if pct is not None and not (_positive(pct) and pct <= HUNDRED):
            raise ValidationFailed("max_drawdown_pct", "percent", "a percent in (0, 100]")
        if TradingState(self.on_breach) is TradingState.ACTIVE:
            raise ValidationFailed("on_breach", "reducing-or-halted")


def loss_breach(
    limits: LossLimits, *, equity: Decimal, day_start_equity: Decimal, peak_equity: Decimal
) -> tuple[TradingState, str] | None:
    """The state to enter and why, or ``None``. Reaching a limit exactly is a breach."""
    if limits.daily_loss is not None:
        loss = EXACT.subtract(day_start_equity, equity)
        if loss >= limits.daily_loss:
            return limits.on_breach, (
                f"daily loss {loss:.2f} reached the limit {limits.daily_loss:.2f} "
                f"(equity {equity:.2f}, day start {day_start_equity:.2f})"
            )
    if limits.max_drawdown_pct is not None and peak_equity > ZERO:
        drop = EXACT.subtract(peak_equity, equity)
        pct = EXACT.divide(EXACT.multiply(drop, HUNDRED), peak_equity)
        if pct >= limits.max_drawdown_pct:
            return limits.on_breach, (
                f"drawdown {pct:.2f}% from peak {peak_equity:.2f} reached the limit "
                f"{limits.max_drawdown_pct.normalize():f}%"
            )
    return None


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    """A round trip that ended at ``at``; ``stop_out``: it ended by its stop-loss."""

    at: datetime
    pnl: Decimal
    stop_out: bool

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", require_aware("at", self.at))


@dataclass(frozen=True, slots=True)
class StopLossGuard:
    trades: int
    lookback: timedelta
    lock_for: timedelta

    def __post_init__(self) -> None:
        if self.trades < 1:
            raise ValidationFailed("trades", "at-least-1")
        if self.lookback <= timedelta(0):
            raise ValidationFailed("lookback", "positive")
        if self.lock_for <= timedelta(0):
            raise ValidationFailed("lock_for", "positive")


def streak_lock(
    guard: StopLossGuard,
    scope: Scope,
    closed_trades: Iterable[ClosedTrade],
    now: datetime,
    *,
    lock_id: str,
) -> Lock | None:
    """A lock when the last ``guard.trades`` trades within ``lookback`` are all stop-outs.

    Most recent first; a trade that was not a stop-out ends the streak, and a trade older
    than ``now - lookback`` (the boundary included) is outside it.
    """
    horizon = now - guard.lookback
    recent = sorted(
        (t for t in closed_trades if horizon <= t.at <= now), key=lambda t: t.at, reverse=True
    )
    streak = 0
    for trade in recent:
        if not trade.stop_out:
            break
        streak += 1
    if streak < guard.trades:
        return None
    return Lock(
        id=lock_id,
        scope=scope,
        reason=f"{streak} stop-outs in a row within {guard.lookback}",
        created_at=now,
        until=now + guard.lock_for,
        by=STREAK_BY,
    )


@dataclass(frozen=True, slots=True)
class Cooldown:
    after_stop_out: timedelta

    def __post_init__(self) -> None:
        if self.after_stop_out <= timedelta(0):
            raise ValidationFailed("after_stop_out", "positive")


def cooldown_lock(
    cooldown: Cooldown,
    scope: Scope,
    last_trade: ClosedTrade | None,
    now: datetime,
    *,
    lock_id: str,
) -> Lock | None:
    """A lock until ``after_stop_out`` past the last trade, when it was a stop-out and
    that time is still ahead. The end is fixed by the trade, not by when we looked."""
    if last_trade is None or not last_trade.stop_out:
        return None
    until = last_trade.at + cooldown.after_stop_out
    if now >= until:
        return None
    return Lock(
        id=lock_id,
        scope=scope,
        reason=f"cooldown of {cooldown.after_stop_out} after a stop-out at "
        f"{last_trade.at.isoformat()}",
        created_at=now,
        until=until,
        by=COOLDOWN_BY,
    )


def _positive(value: object) -> bool:
    return isinstance(value, Decimal) and value.is_finite() and value > ZERO
