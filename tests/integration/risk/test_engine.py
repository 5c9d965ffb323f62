"""The risk engine over PostgreSQL: every change committed with its audit row and its event,
and a new engine on the same database rebuilds exactly what the old one held."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from cluster.db import Database
from cluster.risk.engine import RiskEngine
from cluster.risk.events import EVENT_NAMES, GLOBAL_STREAM
from domain.breaker import _TRANSITIONS as BREAKER_TABLE
from domain.breaker import BreakerEvent, BreakerState
from domain.clock import FakeClock
from domain.errors import NotFound
from domain.orders import Side
from domain.risk.codes import ReasonCode
from domain.risk.limits import RiskLimits
from domain.risk.states import Scope, TradingState
from tests.integration.orders.conftest import Recorder
from tests.integration.risk.conftest import BREAKERS

T = TradingState


def _rows(engine: RiskEngine, subject: str, *, after: int = 0) -> list[dict[str, Any]]:
    """The audit of one subject after version ``after``, oldest first (tests share the
    database: global and symbol subjects carry other tests' rows too)."""
    return [r for r in reversed(engine.audit(subject=subject)) if r["id"] > after]


def _moves(engine: RiskEngine, subject: str, *, after: int = 0) -> list[tuple[str | None, str]]:
    return [(r["from_state"], r["to_state"]) for r in _rows(engine, subject, after=after)]


def _lock_row(db: Database, lock_id: str) -> Any:
    with db.session() as s:
        return s.execute(
            text("SELECT released_at, released_by FROM risk_locks WHERE id = :i"), {"i": lock_id}
        ).one_or_none()


def _rebuilt(engine: RiskEngine) -> RiskEngine:
    return RiskEngine(engine.db, engine.clock, breaker_config=BREAKERS)


def _breaker_name() -> str:
    return f"broker-{uuid.uuid4().hex[:8]}"


def _assert_legal_chain(engine: RiskEngine, name: str) -> list[tuple[str, str]]:
    """Each audited breaker move is a row of ``domain.breaker``'s table, and each starts
    where the previous one ended."""
    moves: list[tuple[str, str]] = []
    for row in _rows(engine, f"breaker:{name}"):
        before, after = BreakerState(row["from_state"]), BreakerState(row["to_state"])
        event = BreakerEvent(row["reason"].split(":", 1)[0])
        assert BREAKER_TABLE[(before, event)] is after, row
        if moves:
            assert moves[-1][1] == before.value, (moves, row)
        moves.append((before.value, after.value))
    return moves


def test_set_state_when_walking_the_table_then_each_move_committed_with_its_audit_row(
    engine: RiskEngine,
) -> None:
    scope = Scope.account(str(uuid.uuid4()))
    walk = [T.HALTED, T.REDUCING, T.HALTED, T.ACTIVE, T.REDUCING, T.ACTIVE]
    before = T.ACTIVE
    for i, target in enumerate(walk):
        done = engine.set_state(scope, target, reason=f"step {i}", by="ops:ada")
        assert done["changed"] is True
        assert (done["previous"], done["state"]) == (before.value, target.value)
        assert done["version"] == engine.version
        before = target
    rows = _rows(engine, str(scope))
    assert [(r["from_state"], r["to_state"]) for r in rows] == [
        ("active", "halted"),
        ("halted", "reducing"),
        ("reducing", "halted"),
        ("halted", "active"),
        ("active", "reducing"),
        ("reducing", "active"),
    ]
    assert {(r["by"], r["kind"], r["subject"]) for r in rows} == {("ops:ada", "state", str(scope))}
    assert [r["reason"] for r in rows] == [f"step {i}" for i in range(len(walk))]
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)


def test_set_state_when_already_in_that_state_then_unchanged_and_not_audited(
    engine: RiskEngine,
) -> None:
    scope, start = Scope.symbol("msft"), engine.version
    engine.set_state(scope, T.HALTED, reason="news", by="ops")
    version = engine.version
    again = engine.set_state(scope, T.HALTED, reason="news again", by="ops")
    assert again == {
        "changed": False,
        "scope": "symbol:MSFT",
        "previous": "halted",
        "state": "halted",
        "version": version,
    }
    assert len(_rows(engine, "symbol:MSFT", after=start)) == 1
    assert (
        engine.set_state(Scope.account("nobody"), T.ACTIVE, reason="x", by="ops")["changed"]
        is False
    )
    assert _rows(engine, "account:nobody") == []


def test_new_engine_when_built_on_the_same_database_then_rebuilds_what_the_old_one_held(
    engine: RiskEngine, clock: FakeClock
) -> None:
    account = Scope.account(str(uuid.uuid4()))
    engine.set_state(account, T.HALTED, reason="ops", by="ops")
    engine.set_state(Scope.symbol("AAPL"), T.REDUCING, reason="news", by="ops")
    engine.set_state(Scope.global_(), T.HALTED, reason="drill", by="ops")
    engine.set_state(Scope.global_(), T.ACTIVE, reason="drill over", by="ops")
    engine.create_lock(account, reason="cooldown", by="protection", duration=timedelta(hours=1))
    engine.create_lock(Scope.strategy("s1"), reason="by hand", by="ops")
    engine.set_limits(
        account,
        RiskLimits(max_order_notional=Decimal("5000.50"), max_orders=3, per=timedelta(seconds=2)),
        by="ops",
    )
    tripped, cooling = _breaker_name(), _breaker_name()
    engine.trip_breaker(tripped, by="ops", reason="venue down")
    engine.broker_results(cooling, failures=3)

    again = _rebuilt(engine)

    assert again.version == engine.version
    assert again.states == engine.states
    assert Scope.global_() not in again.states  # resumed: active is not held
    assert again.locks == engine.locks
    assert again.limits == engine.limits
    now = clock.now()
    assert {n: b.state(now) for n, b in again.breakers.items()} == {
        n: b.state(now) for n, b in engine.breakers.items()
    }
    assert {n: b.to_record() for n, b in again.breakers.items()} == {
        n: b.to_record() for n, b in engine.breakers.items()
    }
    rebuilt, held = again.wire(), engine.wire()
    for wire in (rebuilt, held):  # the order of locks is not part of the book
        wire["locks"].sort(key=lambda lock: lock["id"])
    assert rebuilt == held


def test_lock_with_duration_when_the_clock_passes_until_then_tick_releases_it_audited(
    engine: RiskEngine, clock: FakeClock, risk_db: Database
) -> None:
    scope = Scope.account(str(uuid.uuid4()))
    lock = engine.create_lock(
        scope, reason="stop-loss streak", by="protection", duration=timedelta(minutes=5)
    )
    assert lock.until == clock.now() + timedelta(minutes=5)
    clock.advance(timedelta(minutes=4, seconds=59))
    assert engine.tick() == 0
    assert lock.id in engine.locks
    clock.advance(timedelta(seconds=1))  # exactly ``until``: released
    assert engine.tick() == 1
    assert lock.id not in engine.locks
    assert _moves(engine, str(scope)) == [
        (None, f"locked:{lock.id}"),
        (f"locked:{lock.id}", "released"),
    ]
    released = _rows(engine, str(scope))[-1]
    assert (released["by"], released["reason"], released["kind"]) == ("clock", "expired", "lock")
    row = _lock_row(risk_db, lock.id)
    assert row is not None and row.released_by == "clock" and row.released_at == clock.now()
    assert lock.id not in {x.id for x in _rebuilt(engine).locks.values()}


def test_release_lock_when_by_hand_then_row_kept_and_a_second_release_is_not_found(
    engine: RiskEngine, risk_db: Database
) -> None:
    scope = Scope.symbol("AAPL")
    lock = engine.create_lock(scope, reason="by hand", by="ops")
    assert engine.release_lock(lock.id, by="ops:bob", reason="done") == lock
    row = _lock_row(risk_db, lock.id)
    assert row is not None and row.released_by == "ops:bob" and row.released_at is not None
    last = _rows(engine, "symbol:AAPL")[-1]
    assert (last["by"], last["from_state"], last["to_state"], last["reason"]) == (
        "ops:bob",
        f"locked:{lock.id}",
        "released",
        "done",
    )
    with pytest.raises(NotFound):
        engine.release_lock(lock.id, by="ops")
    with pytest.raises(NotFound):
        engine.release_lock("no-such-lock", by="ops")


def test_broker_failures_when_reaching_the_threshold_then_open_then_cool_then_probe_closes(
    engine: RiskEngine, clock: FakeClock
) -> None:
    name = _breaker_name()
    assert engine.broker_results(name, failures=2) == "closed"
    assert _rows(engine, f"breaker:{name}") == []
    assert engine.broker_results(name, failures=1) == "open"
    assert name in engine.view().snapshot.open_breakers
    assert _rebuilt(engine).view().snapshot.open_breakers >= {name}
    clock.advance(timedelta(seconds=29))
    assert engine.tick() == 0
    clock.advance(timedelta(seconds=1))
    assert engine.tick() == 1
    assert name not in engine.view().snapshot.open_breakers
    assert engine.broker_results(name, successes=1) == "closed"
    assert _assert_legal_chain(engine, name) == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]
    by = [r["by"] for r in _rows(engine, f"breaker:{name}")]
    assert by == ["broker-results", "clock", "broker-results"]


def test_trip_by_hand_when_rebuilt_and_time_passes_then_still_forced_open_until_reset(
    engine: RiskEngine, clock: FakeClock
) -> None:
    name = _breaker_name()
    assert engine.trip_breaker(name, by="ops", reason="venue down") == "forced_open"
    clock.advance(timedelta(hours=2))
    assert engine.tick() == 0
    again = _rebuilt(engine)
    assert again.tick() == 0
    assert again.breakers[name].state(clock.now()) is BreakerState.FORCED_OPEN
    assert name in again.view().snapshot.open_breakers
    assert again.reset_breaker(name, by="ops", reason="venue back") == "closed"
    assert name not in again.view().snapshot.open_breakers
    assert _assert_legal_chain(again, name) == [
        ("closed", "forced_open"),
        ("forced_open", "closed"),
    ]


def test_breaker_cooled_by_a_read_when_another_breaker_moves_then_each_audited_under_its_name(
    engine: RiskEngine, clock: FakeClock
) -> None:
    first, second = _breaker_name(), _breaker_name()
    engine.broker_results(first, failures=3)
    clock.advance(timedelta(seconds=31))
    engine.view()  # a read sees ``first`` half-open
    engine.broker_results(second, failures=3)
    engine.tick()
    assert _assert_legal_chain(engine, first) == [("closed", "open"), ("open", "half_open")]
    assert _assert_legal_chain(engine, second) == [("closed", "open")]
    again = _rebuilt(engine)
    assert again.tick() == 0  # nothing left to cool: the store agrees with the audit
    assert again.breakers[first].state(clock.now()) is BreakerState.HALF_OPEN


def test_every_change_when_committed_then_its_event_is_on_the_right_stream(
    engine: RiskEngine, published: Recorder
) -> None:
    account = str(uuid.uuid4())
    mine, name = f"risk:{account}", _breaker_name()
    engine.set_state(Scope.account(account), T.HALTED, reason="r", by="ops")
    engine.set_state(Scope.symbol("AAPL"), T.HALTED, reason="r", by="ops")
    lock = engine.create_lock(Scope.account(account), reason="r", by="ops")
    engine.release_lock(lock.id, by="ops")
    engine.trip_breaker(name, by="ops", reason="r")
    engine.reset_breaker(name, by="ops", reason="r")
    seen = [(stream, event) for stream, event, _ in published.calls]
    assert seen == [
        (mine, "trading_state_changed"),
        (GLOBAL_STREAM, "trading_state_changed"),
        (mine, "lock_created"),
        (mine, "lock_released"),
        (GLOBAL_STREAM, "breaker_opened"),
        (GLOBAL_STREAM, "breaker_closed"),
    ]
    assert {event for _, event in seen} <= set(EVENT_NAMES)
    data = published.calls[0][2]
    assert (data["scope"], data["from"], data["to"], data["by"]) == (
        f"account:{account}",
        "active",
        "halted",
        "ops",
    )


def _aapl_denial(engine: RiskEngine, clock: FakeClock, symbol: str = "AAPL") -> Any:
    return engine.view().denial(
        account_id=str(uuid.uuid4()),
        symbol=symbol,
        strategy_id=None,
        side=Side.BUY,
        qty=Decimal(1),
        notional=None,
        price=Decimal(100),
        position=Decimal(0),
        broker=None,
        now=clock.now(),
    )


def test_exchange_halt_when_set_then_symbol_halted_until_resumed(
    engine: RiskEngine, clock: FakeClock
) -> None:
    start = engine.version
    halt = engine.exchange_halt("AAPL", until=clock.now() + timedelta(minutes=5), reason="LULD")
    assert engine.exchange_halt("AAPL", until=None, reason="again") == halt  # one at a time
    found = _aapl_denial(engine, clock)
    assert found is not None and found.code is ReasonCode.SYMBOL_HALTED
    assert _aapl_denial(engine, clock, "MSFT") is None
    engine.exchange_resume("AAPL", reason="reopened")
    assert _aapl_denial(engine, clock) is None
    assert _moves(engine, "symbol:AAPL", after=start) == [
        (None, f"locked:{halt.id}"),
        (f"locked:{halt.id}", "released"),
    ]
    assert [r["by"] for r in _rows(engine, "symbol:AAPL", after=start)] == ["exchange", "exchange"]


def test_exchange_halt_when_the_last_pause_ended_but_not_yet_ticked_then_halts_again(
    engine: RiskEngine, clock: FakeClock
) -> None:
    engine.exchange_halt("AAPL", until=clock.now() + timedelta(minutes=5), reason="pause 1")
    clock.advance(timedelta(minutes=6))  # the first pause is over; no tick ran yet
    second = engine.exchange_halt("AAPL", until=clock.now() + timedelta(minutes=5), reason="2")
    found = _aapl_denial(engine, clock)
    assert found is not None and found.code is ReasonCode.SYMBOL_HALTED
    assert engine.tick() == 1  # the first pause is released, the second holds
    assert list(engine.locks) == [second.id]
