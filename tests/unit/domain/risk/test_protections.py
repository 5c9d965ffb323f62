"""Automatic protections: hand-computed numbers, boundaries, release by a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from domain.clock import FakeClock
from domain.errors import ValidationFailed
from domain.orders import Side
from domain.risk.codes import ReasonCode
from domain.risk.protections import (
    ClosedTrade,
    Cooldown,
    LossLimits,
    StopLossGuard,
    cooldown_lock,
    day_start,
    loss_breach,
    streak_lock,
)
from domain.risk.snapshot import RiskSnapshot
from domain.risk.states import Scope, TradingState

D = Decimal
T0 = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # Tuesday 11:00 New York (EDT)
STRATEGY = Scope.strategy("sma-cross")


# --- day boundary ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "start"),
    [
        # EST (UTC-5): midnight New York is 05:00 UTC.
        (datetime(2026, 1, 15, 14, 30, tzinfo=UTC), datetime(2026, 1, 15, 5, 0, tzinfo=UTC)),
        # 23:30 New York on the 15th is 04:30 UTC on the 16th: still the 15th's day.
        (datetime(2026, 1, 16, 4, 30, tzinfo=UTC), datetime(2026, 1, 15, 5, 0, tzinfo=UTC)),
        (datetime(2026, 1, 16, 5, 0, tzinfo=UTC), datetime(2026, 1, 16, 5, 0, tzinfo=UTC)),
        # EDT (UTC-4): midnight is 04:00 UTC.
        (datetime(2026, 7, 1, 20, 0, tzinfo=UTC), datetime(2026, 7, 1, 4, 0, tzinfo=UTC)),
        # DST starts at 02:00 on 2026-03-08: the day began in EST.
        (datetime(2026, 3, 8, 18, 0, tzinfo=UTC), datetime(2026, 3, 8, 5, 0, tzinfo=UTC)),
        # DST ends at 02:00 on 2026-11-01: the day began in EDT.
        (datetime(2026, 11, 1, 18, 0, tzinfo=UTC), datetime(2026, 11, 1, 4, 0, tzinfo=UTC)),
    ],
)
def test_day_start_when_instant_given_then_midnight_new_york_in_utc(
    now: datetime, start: datetime
) -> None:
    assert day_start(now) == start
    assert day_start(now).tzinfo is UTC


def test_day_start_when_naive_then_refused() -> None:
    with pytest.raises(ValidationFailed):
        day_start(datetime(2026, 1, 15, 12, 0))


# --- loss limits ----------------------------------------------------------------------


def test_daily_loss_when_reached_exactly_then_breach_with_configured_state() -> None:
    limits = LossLimits(daily_loss=D(1500), on_breach=TradingState.HALTED)
    # 100000 - 98500.01 = 1499.99: not yet.
    assert (
        loss_breach(limits, equity=D("98500.01"), day_start_equity=D(100000), peak_equity=D(100000))
        is None
    )
    assert loss_breach(
        limits, equity=D(98500), day_start_equity=D(100000), peak_equity=D(100000)
    ) == (
        TradingState.HALTED,
        "daily loss 1500.00 reached the limit 1500.00 (equity 98500.00, day start 100000.00)",
    )


def test_daily_loss_when_equity_up_then_no_breach() -> None:
    limits = LossLimits(daily_loss=D(1))
    assert loss_breach(limits, equity=D(101), day_start_equity=D(100), peak_equity=D(101)) is None


def test_drawdown_when_reached_exactly_then_reducing_by_default() -> None:
    limits = LossLimits(max_drawdown_pct=D(10))
    # (120000 - 108000) / 120000 = 10% exactly.
    breach = loss_breach(
        limits, equity=D(108000), day_start_equity=D(108000), peak_equity=D(120000)
    )
    assert breach == (
        TradingState.REDUCING,
        "drawdown 10.00% from peak 120000.00 reached the limit 10%",
    )
    # 108000.01: 9.99999...%.
    assert (
        loss_breach(
            limits, equity=D("108000.01"), day_start_equity=D(108000), peak_equity=D(120000)
        )
        is None
    )


def test_drawdown_when_no_peak_then_not_evaluated() -> None:
    limits = LossLimits(max_drawdown_pct=D(10))
    assert loss_breach(limits, equity=D(-5), day_start_equity=D(0), peak_equity=D(0)) is None


def test_loss_limits_when_both_breached_then_daily_loss_reported() -> None:
    limits = LossLimits(daily_loss=D(100), max_drawdown_pct=D(1))
    breach = loss_breach(limits, equity=D(900), day_start_equity=D(1000), peak_equity=D(2000))
    assert breach is not None and breach[1].startswith("daily loss 100.00")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"daily_loss": D(0)},
        {"daily_loss": D("NaN")},
        {"max_drawdown_pct": D(0)},
        {"max_drawdown_pct": D("100.1")},
        {"on_breach": TradingState.ACTIVE},
    ],
)
def test_loss_limits_when_nonsense_then_validation_failed(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationFailed):
        LossLimits(**kwargs)  # type: ignore[arg-type]


# --- stop-loss streak -----------------------------------------------------------------

GUARD = StopLossGuard(trades=3, lookback=timedelta(hours=1), lock_for=timedelta(minutes=30))


def _trade(minutes_ago: int, stop_out: bool = True, pnl: str = "-50") -> ClosedTrade:
    return ClosedTrade(T0 - timedelta(minutes=minutes_ago), D(pnl), stop_out)


def test_streak_when_three_stop_outs_in_lookback_then_locked_for_duration() -> None:
    trades = [_trade(50), _trade(5), _trade(20), _trade(90, stop_out=False)]  # any order
    lock = streak_lock(GUARD, STRATEGY, trades, T0, lock_id="L1")
    assert lock is not None
    assert (lock.id, lock.scope, lock.created_at, lock.until) == (
        "L1",
        STRATEGY,
        T0,
        T0 + timedelta(minutes=30),
    )
    assert lock.by == "protection:stop_loss_guard"
    assert lock.reason == "3 stop-outs in a row within 1:00:00"


def test_streak_when_a_winner_breaks_it_then_no_lock() -> None:
    trades = [_trade(5), _trade(10, stop_out=False, pnl="20"), _trade(20), _trade(30)]
    assert streak_lock(GUARD, STRATEGY, trades, T0, lock_id="L1") is None


def test_streak_when_oldest_stop_out_at_lookback_boundary_then_counts() -> None:
    at_edge = [_trade(1), _trade(2), _trade(60)]  # exactly now - lookback
    assert streak_lock(GUARD, STRATEGY, at_edge, T0, lock_id="L1") is not None
    past_edge = [
        _trade(1),
        _trade(2),
        ClosedTrade(T0 - timedelta(minutes=60, seconds=1), D(-1), True),
    ]
    assert streak_lock(GUARD, STRATEGY, past_edge, T0, lock_id="L1") is None


def test_streak_when_trade_in_the_future_then_ignored() -> None:
    trades = [_trade(1), _trade(2), ClosedTrade(T0 + timedelta(seconds=1), D(-1), True)]
    assert streak_lock(GUARD, STRATEGY, trades, T0, lock_id="L1") is None


def test_streak_lock_when_clock_passes_until_then_released_and_gate_opens() -> None:
    clock = FakeClock(T0)
    lock = streak_lock(
        GUARD, STRATEGY, [_trade(1), _trade(2), _trade(3)], clock.now(), lock_id="L1"
    )
    assert lock is not None
    snapshot = RiskSnapshot(1, locks=(lock,))

    def deny() -> ReasonCode | None:
        found = snapshot.denial(
            account_id="acc",
            symbol="AAPL",
            strategy_id="sma-cross",
            side=Side.BUY,
            qty=D(1),
            position=D(0),
            broker=None,
            now=clock.now(),
        )
        return None if found is None else found.code

    assert deny() is ReasonCode.TRADING_LOCKED
    clock.advance(timedelta(minutes=29, seconds=59))
    assert lock.active(clock.now()) and deny() is ReasonCode.TRADING_LOCKED
    clock.advance(timedelta(seconds=1))
    assert not lock.active(clock.now()) and deny() is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"trades": 0, "lookback": timedelta(hours=1), "lock_for": timedelta(hours=1)},
        {"trades": 1, "lookback": timedelta(0), "lock_for": timedelta(hours=1)},
        {"trades": 1, "lookback": timedelta(hours=1), "lock_for": timedelta(0)},
    ],
)
def test_stop_loss_guard_when_nonsense_then_validation_failed(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationFailed):
        StopLossGuard(**kwargs)  # type: ignore[arg-type]


# --- cooldown -------------------------------------------------------------------------

COOLDOWN = Cooldown(after_stop_out=timedelta(minutes=15))


def test_cooldown_when_last_trade_stopped_out_then_locked_until_fixed_time() -> None:
    clock = FakeClock(T0)
    last = _trade(5)  # stopped out at 10:55 New York; cooled at 11:10
    lock = cooldown_lock(COOLDOWN, STRATEGY, last, clock.now(), lock_id="C1")
    assert lock is not None
    assert (lock.created_at, lock.until) == (T0, T0 + timedelta(minutes=10))
    assert lock.by == "protection:cooldown"
    later = cooldown_lock(
        COOLDOWN, STRATEGY, last, clock.advance(timedelta(minutes=9)), lock_id="C2"
    )
    assert later is not None and later.until == lock.until  # the end does not move
    clock.advance(timedelta(minutes=1))  # exactly at the end: released
    assert not lock.active(clock.now())
    assert cooldown_lock(COOLDOWN, STRATEGY, last, clock.now(), lock_id="C3") is None


def test_cooldown_when_no_trade_or_not_a_stop_out_then_no_lock() -> None:
    assert cooldown_lock(COOLDOWN, STRATEGY, None, T0, lock_id="C1") is None
    winner = _trade(1, stop_out=False, pnl="10")
    assert cooldown_lock(COOLDOWN, STRATEGY, winner, T0, lock_id="C1") is None


def test_cooldown_when_nonsense_then_validation_failed() -> None:
    with pytest.raises(ValidationFailed):
        Cooldown(timedelta(0))
    with pytest.raises(ValidationFailed):
        ClosedTrade(datetime(2026, 3, 10, 15, 0), D(1), True)
