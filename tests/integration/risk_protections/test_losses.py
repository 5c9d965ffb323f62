"""Daily loss and drawdown: the account moves to its configured state once, audited, and
the watermarks it measures from survive a new engine and monitor."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from cluster.orders.service import OrderService
from cluster.risk.engine import RiskEngine
from cluster.risk.protections import ProtectionMonitor, ProtectionSettings
from cluster.risk.tables import risk_watermarks
from domain.clock import FakeClock
from domain.risk.protections import LossLimits
from domain.risk.states import Scope, TradingState
from tests.integration.orders.conftest import FakeQuotes
from tests.integration.risk_protections.conftest import Trader

Lines = Callable[[list[str], str], list[str]]


def _protect(engine: RiskEngine, account: str, limits: LossLimits) -> Scope:
    scope = Scope.account(account)
    engine.set_protections(scope, ProtectionSettings(limits), by="user:admin")
    return scope


def _state_audit(engine: RiskEngine, scope: Scope) -> list[dict[str, object]]:
    return [r for r in engine.audit(subject=str(scope)) if r["kind"] == "state"]


def test_daily_loss_when_reached_then_account_halted_once_and_audited(
    engine: RiskEngine,
    monitor: ProtectionMonitor,
    trader: Trader,
    quotes: FakeQuotes,
    clock: FakeClock,
    account: str,
    lines_of: Lines,
) -> None:
    scope = _protect(engine, account, LossLimits(Decimal("300"), on_breach=TradingState.HALTED))
    trader.buy("10", "100.00")
    assert lines_of(monitor.evaluate(clock.now()), account) == []  # day start: 10000.00

    quotes.set("AAPL", "71.99", "72.01")  # equity 9000 + 720 = 9720: a loss of 280
    assert lines_of(monitor.evaluate(clock.now()), account) == []
    quotes.set("AAPL", "69.99", "70.01")  # 9700: a loss of exactly 300 is a breach
    [acted] = lines_of(monitor.evaluate(clock.now()), account)

    assert "protection:daily_loss -> halted" in acted
    assert engine.states[scope].state is TradingState.HALTED
    assert engine.states[scope].by == "protection:daily_loss"
    [audit] = _state_audit(engine, scope)
    assert (audit["from_state"], audit["to_state"]) == ("active", "halted")
    assert audit["by"] == "protection:daily_loss"
    assert "daily loss 300.00" in str(audit["reason"])

    # the next ticks see the same breach: nothing more happens, nothing more is audited
    clock.advance(timedelta(seconds=5))
    assert lines_of(monitor.evaluate(clock.now()), account) == []
    # an operator's resume holds for the rest of the day
    engine.set_state(scope, TradingState.ACTIVE, reason="looked at it", by="user:admin")
    assert lines_of(monitor.evaluate(clock.now()), account) == []
    assert scope not in engine.states
    assert len(_state_audit(engine, scope)) == 2


def test_daily_loss_when_a_new_new_york_day_starts_then_it_measures_from_there(
    engine: RiskEngine,
    monitor: ProtectionMonitor,
    trader: Trader,
    quotes: FakeQuotes,
    clock: FakeClock,
    account: str,
    lines_of: Lines,
) -> None:
    _protect(engine, account, LossLimits(daily_loss=Decimal("300")))
    trader.buy("10", "100.00")
    monitor.evaluate(clock.now())
    quotes.set("AAPL", "74.99", "75.01")  # 9750: 250 down on the day
    assert lines_of(monitor.evaluate(clock.now()), account) == []
    clock.advance(timedelta(days=1))  # Wednesday: its first look sets the start, 9750
    assert lines_of(monitor.evaluate(clock.now()), account) == []
    quotes.set("AAPL", "49.99", "50.01")  # 9500: 500 down from Tuesday's start, 250 today
    assert lines_of(monitor.evaluate(clock.now()), account) == []
    quotes.set("AAPL", "44.99", "45.01")  # 9450: 300 down from Wednesday's start
    [acted] = lines_of(monitor.evaluate(clock.now()), account)
    assert "protection:daily_loss -> reducing" in acted


def test_drawdown_when_peak_was_set_before_a_restart_then_breach_measures_from_it(
    protections_db: object,
    engine: RiskEngine,
    monitor: ProtectionMonitor,
    service: OrderService,
    trader: Trader,
    quotes: FakeQuotes,
    clock: FakeClock,
    account: str,
    lines_of: Lines,
) -> None:
    scope = _protect(engine, account, LossLimits(max_drawdown_pct=Decimal("10")))
    trader.buy("50", "100.00")  # cash 5000, equity 10000
    monitor.evaluate(clock.now())
    quotes.set("AAPL", "119.99", "120.01")  # equity 11000: the peak
    clock.advance(timedelta(seconds=5))
    assert lines_of(monitor.evaluate(clock.now()), account) == []

    # a new engine and monitor (an actor restart) on the same database
    engine2 = RiskEngine(engine.db, clock)
    monitor2 = ProtectionMonitor(engine2, service, clock)
    quotes.set("AAPL", "97.99", "98.01")  # 9900: 10.00% below 11000 (from 10000: 1%)
    clock.advance(timedelta(seconds=5))
    [acted] = lines_of(monitor2.evaluate(clock.now()), account)

    assert "protection:drawdown -> reducing" in acted
    assert engine2.states[scope].state is TradingState.REDUCING
    [audit] = _state_audit(engine2, scope)
    assert audit["by"] == "protection:drawdown"
    assert "peak 11000.00" in str(audit["reason"])
    with engine.db.session() as s:
        mark = s.execute(select(risk_watermarks).where(risk_watermarks.c.scope == str(scope))).one()
    assert (mark.peak_equity, mark.drawdown_breached_peak) == (11000, 11000)
    assert mark.day_start_equity == 10000
    # once per peak: the same drawdown does not act again
    assert lines_of(monitor2.evaluate(clock.now()), account) == []


def test_breach_when_scope_is_already_stricter_then_state_is_not_loosened(
    engine: RiskEngine,
    monitor: ProtectionMonitor,
    trader: Trader,
    quotes: FakeQuotes,
    clock: FakeClock,
    account: str,
    lines_of: Lines,
) -> None:
    scope = _protect(engine, account, LossLimits(daily_loss=Decimal("100")))  # -> reducing
    trader.buy("10", "100.00")
    monitor.evaluate(clock.now())
    engine.set_state(scope, TradingState.HALTED, reason="operator", by="user:admin")
    quotes.set("AAPL", "49.99", "50.01")
    [acted] = lines_of(monitor.evaluate(clock.now()), account)
    assert acted.endswith("already halted")
    assert engine.states[scope].state is TradingState.HALTED
    assert engine.states[scope].by == "user:admin"
