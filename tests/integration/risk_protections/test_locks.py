"""Stop-outs: a streak locks the account until now + lock_for and ``tick`` releases it
once the clock passes; a stop-out starts a cooldown; re-evaluating never makes twins."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select

from cluster.orders.service import OrderService
from cluster.risk.engine import RiskEngine
from cluster.risk.protections import ProtectionMonitor, ProtectionSettings
from cluster.risk.tables import risk_locks
from domain.clock import FakeClock
from domain.risk.protections import COOLDOWN_BY, STREAK_BY, Cooldown, StopLossGuard
from domain.risk.states import Scope
from tests.integration.risk_protections.conftest import Trader

Lines = Callable[[list[str], str], list[str]]
GUARD = StopLossGuard(trades=3, lookback=timedelta(hours=1), lock_for=timedelta(minutes=30))


def _protect(engine: RiskEngine, account: str, settings: ProtectionSettings) -> Scope:
    scope = Scope.account(account)
    engine.set_protections(scope, settings, by="user:admin")
    return scope


def _lock_rows(engine: RiskEngine, scope: Scope) -> int:
    with engine.db.session() as s:
        return int(
            s.execute(
                select(func.count()).select_from(risk_locks).where(risk_locks.c.scope == str(scope))
            ).scalar_one()
        )


def test_streak_when_three_stop_outs_in_lookback_then_locked_until_lock_for_then_released(
    engine: RiskEngine,
    monitor: ProtectionMonitor,
    service: OrderService,
    trader: Trader,
    clock: FakeClock,
    account: str,
    lines_of: Lines,
) -> None:
    scope = _protect(engine, account, ProtectionSettings(stop_loss_guard=GUARD))
    trader.round_trip("100.00", "98.00")
    trader.round_trip("100.00", "97.00")
    assert lines_of(monitor.evaluate(clock.now()), account) == []
    last = trader.round_trip("100.00", "99.50")
    now = clock.advance(timedelta(seconds=10))

    [acted] = lines_of(monitor.evaluate(now), account)

    assert STREAK_BY in acted
    [lock] = [lock for lock in engine.locks.values() if lock.scope == scope]
    assert lock.id == f"protection:streak:{scope}:{last.id}"
    assert lock.until == now + GUARD.lock_for
    assert lock.by == STREAK_BY and "3 stop-outs" in lock.reason
    # evaluating again (every tick, or after a restart) makes no twin
    assert lines_of(monitor.evaluate(clock.advance(timedelta(seconds=5))), account) == []
    again = ProtectionMonitor(RiskEngine(engine.db, clock), service, clock)
    assert lines_of(again.evaluate(clock.now()), account) == []
    assert _lock_rows(engine, scope) == 1

    assert lock.until is not None
    clock.set(lock.until - timedelta(seconds=1))
    assert engine.tick() == 0
    clock.set(lock.until)  # at ``until`` exactly: released
    assert engine.tick() == 1
    assert lock.id not in engine.locks
    # still three stop-outs within the hour, but that streak has had its lock
    assert lines_of(monitor.evaluate(clock.now()), account) == []
    assert _lock_rows(engine, scope) == 1


def test_streak_when_a_winning_trade_breaks_it_then_no_lock(
    engine: RiskEngine,
    monitor: ProtectionMonitor,
    trader: Trader,
    clock: FakeClock,
    account: str,
    lines_of: Lines,
) -> None:
    _protect(engine, account, ProtectionSettings(stop_loss_guard=GUARD))
    trader.round_trip("100.00", "98.00")
    trader.round_trip("100.00", "98.00")
    trader.round_trip("100.00", "101.00", stop=False)  # a profit ends the streak
    trader.round_trip("100.00", "98.00")
    trader.round_trip("100.00", "101.00")  # a stop that made money is not a stop-out
    assert lines_of(monitor.evaluate(clock.now()), account) == []


def test_streak_when_stop_outs_are_older_than_lookback_then_no_lock(
    engine: RiskEngine,
    monitor: ProtectionMonitor,
    trader: Trader,
    clock: FakeClock,
    account: str,
    lines_of: Lines,
) -> None:
    _protect(engine, account, ProtectionSettings(stop_loss_guard=GUARD))
    trader.round_trip("100.00", "98.00")
    clock.advance(timedelta(hours=1))
    trader.round_trip("100.00", "98.00")
    trader.round_trip("100.00", "98.00")
    assert lines_of(monitor.evaluate(clock.now()), account) == []


def test_cooldown_when_one_stop_out_then_locked_until_after_it_and_no_twin(
    engine: RiskEngine,
    monitor: ProtectionMonitor,
    trader: Trader,
    clock: FakeClock,
    account: str,
    lines_of: Lines,
) -> None:
    cooldown = Cooldown(timedelta(minutes=10))
    scope = _protect(engine, account, ProtectionSettings(cooldown=cooldown))
    trader.round_trip("100.00", "101.00", stop=False)
    assert lines_of(monitor.evaluate(clock.now()), account) == []
    stopped = trader.round_trip("100.00", "95.00")
    stopped_at = clock.now()  # the exit filled at this instant
    clock.advance(timedelta(minutes=2))

    [acted] = lines_of(monitor.evaluate(clock.now()), account)

    assert COOLDOWN_BY in acted
    lock = engine.locks[f"protection:cooldown:{scope}:{stopped.id}"]
    assert lock.until == stopped_at + cooldown.after_stop_out  # fixed by the trade
    assert lines_of(monitor.evaluate(clock.advance(timedelta(seconds=5))), account) == []
    assert _lock_rows(engine, scope) == 1
    clock.advance(timedelta(minutes=8))
    assert engine.tick() == 1
    assert lock.id not in engine.locks
    assert lines_of(monitor.evaluate(clock.now()), account) == []


def test_realized_loss_when_exit_has_partial_fills_then_it_is_one_trade(
    engine: RiskEngine,
    monitor: ProtectionMonitor,
    trader: Trader,
    clock: FakeClock,
    account: str,
) -> None:
    _protect(engine, account, ProtectionSettings(cooldown=Cooldown(timedelta(minutes=10))))
    trader.buy("3", "10.00")
    trader.buy("1", "14.00")  # average cost 11.00
    trader.sell("2", "12.00")  # +2.00
    trader.stop_out("2", "10.50")  # -1.00: a stop-out
    facts = monitor.sources[Scope.account(account).kind].facts(account, clock.now())
    assert [(e.trade.pnl, e.trade.stop_out) for e in facts.exits] == [
        (Decimal("2.00"), False),
        (Decimal("-1.00"), True),
    ]
