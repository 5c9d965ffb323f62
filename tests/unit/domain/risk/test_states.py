"""Trading states, scopes and the snapshot gate."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from domain.errors import Conflict, ValidationFailed
from domain.orders import Side
from domain.risk.codes import Denial, ReasonCode
from domain.risk.snapshot import Lock, RiskSnapshot, reduces_exposure
from domain.risk.states import (
    TRANSITIONS,
    IllegalRiskTransition,
    Scope,
    ScopeKind,
    ScopeState,
    TradingEvent,
    TradingState,
    next_state,
    strictest,
    target_event,
)

S = TradingState
E = TradingEvent
T0 = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)
ACCOUNT = "0b6c1f4e-2d3a-4c5b-8e9f-0a1b2c3d4e5f"

# Independent expectation, written from the issue (active / reducing / halted, resume
# back to active, a halt steps down to reduce-only). Missing pairs are illegal.
EXPECTED: dict[TradingState, dict[TradingEvent, TradingState]] = {
    S.ACTIVE: {E.HALT: S.HALTED, E.REDUCE: S.REDUCING},
    S.REDUCING: {E.HALT: S.HALTED, E.RESUME: S.ACTIVE},
    S.HALTED: {E.RESUME: S.ACTIVE, E.REDUCE: S.REDUCING},
}


@pytest.mark.parametrize(("state", "event"), list(itertools.product(S, E)))
def test_next_state_matches_independent_table_for_every_pair(
    state: TradingState, event: TradingEvent
) -> None:
    expected = EXPECTED[state].get(event)
    if expected is None:
        with pytest.raises(IllegalRiskTransition) as info:
            next_state(state, event)
        error = info.value
        assert f"{state.value} -> {event.value}" in error.message
        assert (error.state, error.event) == (state, event)
        assert isinstance(error, Conflict)
    else:
        assert next_state(state, event) is expected


def test_table_has_no_rows_beyond_the_expectation() -> None:
    rows = {(s, e): t for s, events in EXPECTED.items() for e, t in events.items()}
    assert rows == TRANSITIONS


@pytest.mark.parametrize(("source", "target"), list(itertools.product(S, S)))
def test_target_event_when_states_given_then_event_reaches_target(
    source: TradingState, target: TradingState
) -> None:
    event = target_event(source, target)
    if source is target:
        assert event is None
    else:
        assert event is not None and next_state(source, event) is target


def test_severity_and_strictest() -> None:
    assert [s.severity for s in (S.ACTIVE, S.REDUCING, S.HALTED)] == [0, 1, 2]
    assert strictest() is S.ACTIVE
    assert strictest(S.REDUCING, S.ACTIVE) is S.REDUCING
    assert strictest(S.ACTIVE, S.HALTED, S.REDUCING) is S.HALTED
    assert TradingState.strictest(S.REDUCING) is S.REDUCING


# --- scopes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "scope"),
    [
        ("global", Scope.global_()),
        (f"account:{ACCOUNT}", Scope.account(ACCOUNT)),
        ("strategy:sma-cross:v2", Scope.strategy("sma-cross:v2")),
        ("symbol:BRK.B", Scope.symbol("BRK.B")),
    ],
)
def test_scope_parse_when_text_then_round_trips(text: str, scope: Scope) -> None:
    assert Scope.parse(text) == scope
    assert str(scope) == text
    assert Scope.parse(str(scope)) == scope


def test_scope_when_symbol_lower_case_then_normalised() -> None:
    assert Scope.parse("symbol:aapl") == Scope(ScopeKind.SYMBOL, "AAPL")
    assert Scope.symbol("aapl").key == "AAPL"


@pytest.mark.parametrize(
    "text",
    ["", "global:x", "account", "account:", "planet:x", "symbol:1AB", "account:a b", 42],
)
def test_scope_parse_when_malformed_then_validation_failed(text: object) -> None:
    with pytest.raises(ValidationFailed):
        Scope.parse(text)


def test_scope_when_global_with_key_then_refused() -> None:
    with pytest.raises(ValidationFailed):
        Scope(ScopeKind.GLOBAL, "x")
    with pytest.raises(ValidationFailed):
        Scope(ScopeKind.STRATEGY)


def test_scopes_sort_and_hash() -> None:
    scopes = {Scope.symbol("AAPL"), Scope.global_(), Scope.account("b"), Scope.account("a")}
    assert len(scopes | {Scope.parse("account:a")}) == 4
    assert sorted(scopes)[0] == Scope.account("a")  # kind name order, then key


# --- strictest wins over scopes -------------------------------------------------------

SCOPES = RiskSnapshot.scopes_for(ACCOUNT, "AAPL", "s1")


def _state(scope: Scope, state: TradingState, reason: str = "r") -> ScopeState:
    return ScopeState(scope, state, reason, T0, "admin@x")


def test_scopes_for_lists_broadest_first() -> None:
    assert SCOPES == [
        Scope.global_(),
        Scope.account(ACCOUNT),
        Scope.strategy("s1"),
        Scope.symbol("AAPL"),
    ]
    assert RiskSnapshot.scopes_for(ACCOUNT, "AAPL") == [
        Scope.global_(),
        Scope.account(ACCOUNT),
        Scope.symbol("AAPL"),
    ]


@pytest.mark.parametrize("states", list(itertools.product(S, repeat=len(SCOPES))))
def test_effective_when_any_combination_then_strictest_broadest_wins(
    states: tuple[TradingState, ...],
) -> None:
    snapshot = RiskSnapshot(1, {sc: _state(sc, st) for sc, st in zip(SCOPES, states, strict=True)})
    state, held = snapshot.effective(ACCOUNT, "AAPL", "s1")
    worst = max(s.severity for s in states)
    assert state.severity == worst
    if worst == 0:
        assert held is None
    else:
        first = next(i for i, s in enumerate(states) if s.severity == worst)
        assert held is not None and held.scope == SCOPES[first]


def test_effective_when_other_account_or_symbol_halted_then_active() -> None:
    snapshot = RiskSnapshot(
        1,
        {
            Scope.account("other"): _state(Scope.account("other"), S.HALTED),
            Scope.symbol("MSFT"): _state(Scope.symbol("MSFT"), S.HALTED),
            Scope.strategy("s2"): _state(Scope.strategy("s2"), S.HALTED),
        },
    )
    assert snapshot.effective(ACCOUNT, "AAPL", "s1") == (S.ACTIVE, None)
    assert snapshot.effective(ACCOUNT, "AAPL") == (S.ACTIVE, None)


# --- denial ---------------------------------------------------------------------------


def _deny(
    snapshot: RiskSnapshot,
    side: Side = Side.BUY,
    qty: Decimal | None = Decimal(10),
    position: Decimal = Decimal(0),
    broker: str | None = "paper",
    now: datetime = T0,
    strategy_id: str | None = "s1",
) -> Denial | None:
    return snapshot.denial(
        account_id=ACCOUNT,
        symbol="AAPL",
        strategy_id=strategy_id,
        side=side,
        qty=qty,
        position=position,
        broker=broker,
        now=now,
    )


def _lock(scope: Scope, until: datetime | None = T0 + timedelta(minutes=30)) -> Lock:
    return Lock("lock-1", scope, "stop-loss streak", T0, until, "protection:streak")


EVERYTHING = RiskSnapshot(
    7,
    {
        Scope.global_(): _state(Scope.global_(), S.REDUCING, "drawdown"),
        Scope.account(ACCOUNT): _state(Scope.account(ACCOUNT), S.HALTED, "kill switch"),
        Scope.symbol("AAPL"): _state(Scope.symbol("AAPL"), S.HALTED, "luld pause"),
    },
    (_lock(Scope.strategy("s1")),),
    frozenset({"alpaca"}),
)


def test_denial_precedence_when_every_cause_present_then_in_fixed_order() -> None:
    denial = _deny(EVERYTHING, broker="alpaca")
    assert denial is not None and denial.code is ReasonCode.BROKER_UNAVAILABLE
    assert "alpaca" in str(denial)
    denial = _deny(EVERYTHING)
    assert denial == Denial(
        ReasonCode.SYMBOL_HALTED, "trading is halted for symbol:AAPL: luld pause by admin@x"
    )
    no_symbol = RiskSnapshot(
        7, {k: v for k, v in EVERYTHING.states.items() if k.kind != "symbol"}, EVERYTHING.locks
    )
    assert _deny(no_symbol) == Denial(
        ReasonCode.TRADING_HALTED,
        f"trading is halted for account:{ACCOUNT}: kill switch by admin@x",
    )
    only_global = RiskSnapshot(
        7, {Scope.global_(): EVERYTHING.states[Scope.global_()]}, EVERYTHING.locks
    )
    denial = _deny(only_global)
    assert denial is not None and denial.code is ReasonCode.TRADING_LOCKED
    assert denial.message == (
        "trading is locked for strategy:s1 until 2026-03-10T15:00:00+00:00: "
        "stop-loss streak by protection:streak"
    )
    no_lock = RiskSnapshot(7, only_global.states)
    denial = _deny(no_lock)
    assert denial is not None and denial.code is ReasonCode.REDUCE_ONLY
    assert denial.message.startswith("global is reduce-only (drawdown, by admin@x)")
    assert _deny(RiskSnapshot.empty()) is None


def test_denial_when_halted_then_reducing_order_still_denied() -> None:
    snapshot = RiskSnapshot(1, {Scope.global_(): _state(Scope.global_(), S.HALTED)})
    denial = _deny(snapshot, side=Side.SELL, qty=Decimal(1), position=Decimal(5))
    assert denial is not None and denial.code is ReasonCode.TRADING_HALTED


def test_denial_when_broker_breaker_open_for_another_broker_then_allowed() -> None:
    snapshot = RiskSnapshot(1, open_breakers=frozenset({"alpaca"}))
    assert _deny(snapshot, broker="paper") is None
    assert _deny(snapshot, broker=None) is None


def test_denial_when_locked_then_reducing_order_passes() -> None:
    snapshot = RiskSnapshot(1, locks=(_lock(Scope.account(ACCOUNT)),))
    assert _deny(snapshot, side=Side.SELL, qty=Decimal(5), position=Decimal(5)) is None
    denial = _deny(snapshot, side=Side.SELL, qty=Decimal(6), position=Decimal(5))
    assert denial is not None and denial.code is ReasonCode.TRADING_LOCKED


def test_denial_when_lock_expired_or_elsewhere_then_allowed() -> None:
    snapshot = RiskSnapshot(1, locks=(_lock(Scope.symbol("AAPL")),))
    assert _deny(snapshot, now=T0 + timedelta(minutes=29, seconds=59)) is not None
    assert _deny(snapshot, now=T0 + timedelta(minutes=30)) is None  # released at until
    elsewhere = RiskSnapshot(1, locks=(_lock(Scope.symbol("MSFT")), _lock(Scope.strategy("s2"))))
    assert _deny(elsewhere) is None


def test_denial_when_lock_without_until_then_holds_until_released() -> None:
    snapshot = RiskSnapshot(1, locks=(_lock(Scope.global_(), until=None),))
    denial = _deny(snapshot, now=T0 + timedelta(days=400))
    assert denial is not None and "until released" in denial.message


@pytest.mark.parametrize(
    ("side", "qty", "position", "allowed"),
    [
        (Side.SELL, Decimal(5), Decimal(10), True),
        (Side.SELL, Decimal(10), Decimal(10), True),  # exactly flat
        (Side.SELL, Decimal(11), Decimal(10), False),  # would flip to short
        (Side.SELL, Decimal(1), Decimal(0), False),
        (Side.SELL, None, Decimal(10), True),  # notional sell of a long
        (Side.SELL, None, Decimal(0), False),
        (Side.BUY, Decimal(1), Decimal(10), False),
        (Side.BUY, Decimal(3), Decimal(-3), True),
        (Side.BUY, Decimal(4), Decimal(-3), False),
        (Side.BUY, None, Decimal(10), False),  # notional buy of a long
        (Side.BUY, None, Decimal(-3), True),
        (Side.BUY, None, Decimal(0), False),
    ],
)
def test_reduce_only_when_order_given_then_accepts_only_reducing(
    side: Side, qty: Decimal | None, position: Decimal, allowed: bool
) -> None:
    assert reduces_exposure(side, qty, position) is allowed
    snapshot = RiskSnapshot(1, {Scope.account(ACCOUNT): _state(Scope.account(ACCOUNT), S.REDUCING)})
    denial = _deny(snapshot, side=side, qty=qty, position=position)
    if allowed:
        assert denial is None
    else:
        assert denial is not None and denial.code is ReasonCode.REDUCE_ONLY


# --- locks and wire -------------------------------------------------------------------


def test_lock_when_until_not_after_created_then_refused() -> None:
    with pytest.raises(ValidationFailed):
        _lock(Scope.global_(), until=T0)
    with pytest.raises(ValidationFailed):
        Lock("x", Scope.global_(), "r", datetime(2026, 3, 10), None, "me")


def test_snapshot_when_wire_round_trip_through_json_then_equal() -> None:
    text = json.dumps(EVERYTHING.to_wire())
    back = RiskSnapshot.from_wire(json.loads(text))
    assert back == EVERYTHING
    assert RiskSnapshot.from_wire(RiskSnapshot.empty().to_wire()) == RiskSnapshot.empty()
    forever = RiskSnapshot(3, locks=(_lock(Scope.global_(), until=None),))
    assert RiskSnapshot.from_wire(json.loads(json.dumps(forever.to_wire()))) == forever


@pytest.mark.parametrize(
    "wire",
    [
        None,
        {"version": "1"},
        {"version": True},
        {"version": 1, "states": {}},
        {"version": 1, "open_breakers": [1]},
        {"version": 1, "states": [{"scope": "global", "state": "paused"}]},
        {
            "version": 1,
            "locks": [
                {
                    "id": "x",
                    "scope": "global",
                    "reason": "r",
                    "by": "b",
                    "created_at": "2026-03-10T14:30:00",
                    "until": None,
                }
            ],
        },
    ],
)
def test_snapshot_from_wire_when_malformed_then_validation_failed(wire: object) -> None:
    with pytest.raises(ValidationFailed):
        RiskSnapshot.from_wire(wire)


def test_snapshot_when_state_filed_under_wrong_scope_then_refused() -> None:
    with pytest.raises(ValidationFailed):
        RiskSnapshot(1, {Scope.global_(): _state(Scope.account("a"), S.HALTED)})
    with pytest.raises(ValidationFailed):
        RiskSnapshot(-1)


@pytest.mark.parametrize(
    ("code", "slug", "status"),
    [
        (ReasonCode.BROKER_UNAVAILABLE, "broker-unavailable", 503),
        (ReasonCode.RATE_LIMITED, "rate-limited", 429),
        (ReasonCode.INSUFFICIENT_BUYING_POWER, "insufficient-buying-power", 422),
        (ReasonCode.ORDER_WINDOW_CLOSED, "order-window-closed", 422),
    ],
)
def test_reason_code_slug_and_status(code: ReasonCode, slug: str, status: int) -> None:
    assert (code.slug, code.http_status) == (slug, status)
    assert all(c.http_status in (422, 429, 503) for c in ReasonCode)
    assert str(Denial(code, "why")) == "why"
