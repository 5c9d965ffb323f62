"""The order service's risk gate on PostgreSQL: a denied order is stored ``rejected`` with
its code in its own column and an ``order_denied`` event; cancels always pass; the
dispatcher re-checks halts at the broker boundary."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest

from cluster.db import Database, PoolSize
from cluster.orders.dispatch import Dispatcher
from cluster.orders.service import OrderService
from cluster.risk.engine import RiskEngine
from cluster.risk.view import RiskView
from domain.clock import FakeClock
from domain.errors import RiskDenied
from domain.ids import AccountId, OrderId
from domain.market_hours import MarketCalendar
from domain.order_request import OrderRequest, ReplaceRequest
from domain.orders import Order, OrderEvent, OrderEventKind, OrderStatus
from domain.risk.gate import FLATTEN_PREFIX
from domain.risk.limits import RiskLimits
from domain.risk.states import Scope, TradingState
from tests.integration.orders.conftest import FakeQuotes, Recorder
from tests.integration.orders.helpers import limit_buy, limit_sell
from tests.integration.orders.test_dispatch import ScriptedBroker
from tests.integration.risk.conftest import Ticker, hold

T = TradingState
S = OrderStatus


@pytest.fixture
def gated(service: OrderService, engine: RiskEngine, view: RiskView) -> OrderService:
    """The service checks orders against the view; the engine pushes every change to it
    (as the in-process ``RiskAdmin`` does), so each test sees its change at once."""
    view.refresh()
    engine.publish = view.apply_push
    service.risk = view
    return service


def _submit(service: OrderService, account: str, request: OrderRequest) -> Order:
    return service.submit(AccountId(account), request).order


def _code(service: OrderService, account: str, request: OrderRequest) -> str | None:
    order = _submit(service, account, request)
    assert (order.status is S.REJECTED) == (order.reject_code is not None), order
    return order.reject_code


def _halt(engine: RiskEngine, scope: Scope, state: TradingState = T.HALTED) -> None:
    engine.set_state(scope, state, reason="test", by="ops")


def test_submit_when_account_halted_then_stored_rejected_and_denied_event_and_cancel_passes(
    gated: OrderService, engine: RiskEngine, account: str, published: Recorder
) -> None:
    gated.fund(AccountId(account), Decimal("1000.00"))
    before = _submit(gated, account, limit_buy())
    _halt(engine, Scope.account(account))
    order = _submit(gated, account, limit_buy())
    assert order.status is S.REJECTED and order.reject_code == "trading_halted"
    assert gated.get(AccountId(account), OrderId(order.id)).reject_code == "trading_halted"
    denied = [d for stream, name, d in published.calls if name == "order_denied"]
    assert [(s, n) for s, n, _ in published.calls if n == "order_denied"] == [
        (f"risk:{account}", "order_denied")
    ]
    assert denied[0]["order_id"] == order.id and denied[0]["code"] == "trading_halted"
    cancel = gated.request_cancel(AccountId(account), OrderId(before.id))
    assert cancel.status is S.PENDING_CANCEL


def test_submit_when_reducing_then_increase_refused_and_reduction_accepted(
    gated: OrderService, engine: RiskEngine, account: str
) -> None:
    hold(gated, account, qty="10")
    _halt(engine, Scope.account(account), T.REDUCING)
    assert _code(gated, account, limit_buy(qty="1")) == "reduce_only"
    assert _code(gated, account, limit_sell(qty="10", price="99.00")) is None


def test_submit_when_symbol_or_global_halted_then_the_scope_names_the_code(
    gated: OrderService, engine: RiskEngine, account: str
) -> None:
    gated.fund(AccountId(account), Decimal("1000.00"))
    _halt(engine, Scope.symbol("AAPL"))
    assert _code(gated, account, limit_buy()) == "symbol_halted"
    assert _code(gated, account, limit_buy(symbol="MSFT")) is None
    _halt(engine, Scope.global_())
    assert _code(gated, account, limit_buy(symbol="MSFT")) == "trading_halted"
    engine.set_state(Scope.global_(), T.ACTIVE, reason="over", by="ops")
    assert _code(gated, account, limit_buy(symbol="MSFT")) is None


def test_submit_when_account_locked_then_buy_refused_and_reducing_sell_passes(
    gated: OrderService, engine: RiskEngine, account: str
) -> None:
    hold(gated, account, qty="5")
    engine.create_lock(
        Scope.account(account), reason="cooldown", by="protection", duration=timedelta(hours=1)
    )
    assert _code(gated, account, limit_buy()) == "trading_locked"
    assert _code(gated, account, limit_sell(qty="5", price="99.00")) is None


def test_submit_when_limits_set_then_notional_and_position_limits_refuse(
    gated: OrderService, engine: RiskEngine, account: str
) -> None:
    hold(gated, account, qty="10")
    gated.fund(AccountId(account), Decimal("5000.00"))
    limits = RiskLimits(max_order_notional=Decimal("500.00"), max_position_qty=Decimal("12"))
    engine.set_limits(Scope.account(account), limits, by="ops")
    assert _code(gated, account, limit_buy(qty="6")) == "notional_exceeds_max"
    assert _code(gated, account, limit_buy(qty="3")) == "position_exceeds_max"
    assert _code(gated, account, limit_buy(qty="2")) is None  # exactly 12 passes
    assert _code(gated, account, limit_sell(qty="5", price="99.00")) is None


def test_submit_when_order_rate_limited_then_refused_until_the_window_passes(
    gated: OrderService, engine: RiskEngine, account: str, clock: FakeClock
) -> None:
    gated.fund(AccountId(account), Decimal("5000.00"))
    limits = RiskLimits(max_orders=2, per=timedelta(seconds=10))
    engine.set_limits(Scope.account(account), limits, by="ops")
    assert _code(gated, account, limit_buy()) is None
    clock.advance(timedelta(seconds=1))
    assert _code(gated, account, limit_buy()) is None
    clock.advance(timedelta(seconds=1))
    assert _code(gated, account, limit_buy()) == "rate_limited"
    clock.advance(timedelta(seconds=9))  # the first order left the window
    assert _code(gated, account, limit_buy()) is None


def test_submit_when_the_brokers_breaker_is_forced_open_then_broker_unavailable(
    gated: OrderService, engine: RiskEngine, account: str
) -> None:
    gated.fund(AccountId(account), Decimal("1000.00"))
    engine.trip_breaker(f"other-{uuid.uuid4().hex[:6]}", by="ops", reason="not ours")
    assert _code(gated, account, limit_buy()) is None
    engine.trip_breaker(gated.broker_name, by="ops", reason="venue down")
    assert _code(gated, account, limit_buy()) == "broker_unavailable"
    engine.reset_breaker(gated.broker_name, by="ops", reason="back")
    assert _code(gated, account, limit_buy()) is None


def test_replace_when_halted_then_risk_denied_and_nothing_changes(
    gated: OrderService, engine: RiskEngine, account: str, clock: FakeClock
) -> None:
    acct = AccountId(account)
    gated.fund(acct, Decimal("1000.00"))
    placed = _submit(gated, account, limit_buy())
    ack = OrderEvent(OrderEventKind.ACKNOWLEDGE, at=clock.now())
    old = gated.apply_events(OrderId(placed.id), [ack])
    _halt(engine, Scope.account(account))
    with pytest.raises(RiskDenied) as denied:
        gated.request_replace(acct, OrderId(old.id), ReplaceRequest.parse(old, limit_price="99.00"))
    assert getattr(denied.value, "problem_slug", None) == "trading-halted"
    assert denied.value.reason_code == "trading_halted"
    assert gated.get(acct, OrderId(old.id)).status is S.NEW
    orders, _ = gated.list_orders(acct, status="all")
    assert [o.id for o in orders] == [old.id]


def test_submit_when_the_view_must_refresh_then_it_reads_through_the_orders_connection(
    risk_url: str,
    clock: FakeClock,
    calendar: MarketCalendar,
    quotes: FakeQuotes,
    engine: RiskEngine,
    account: str,
) -> None:
    """One pooled connection: a refresh that took a second one while the submit holds the
    account lock would wait for the pool and fail (20 concurrent submits did)."""
    db = Database(risk_url, PoolSize(1, 0), pool_timeout_s=1)
    try:
        service = OrderService(db, clock, calendar, quotes, broker_name="one-connection")
        service.fund(AccountId(account), Decimal("1000.00"))
        view = RiskView(db, monotonic=Ticker())
        service.risk = view
        _halt(engine, Scope.account(account))
        assert _code(service, account, limit_buy()) == "trading_halted"
        assert view.stats["sync_refreshes"] == 1
    finally:
        db.dispose()


def _dispatch(service: OrderService, view: RiskView) -> tuple[dict[str, int], ScriptedBroker]:
    broker = ScriptedBroker(service)
    dispatcher = Dispatcher(service, broker, risk=view)  # type: ignore[arg-type]
    return asyncio.run(dispatcher.run_once()), broker


def test_dispatcher_when_halted_after_acceptance_then_rejects_instead_of_sending(
    gated: OrderService, engine: RiskEngine, view: RiskView, account: str
) -> None:
    gated.fund(AccountId(account), Decimal("1000.00"))
    order = _submit(gated, account, limit_buy())
    assert order.status is S.PENDING_NEW
    _halt(engine, Scope.account(account))
    counts, broker = _dispatch(gated, view)
    assert counts == {"halted": 1} and broker.sent == []
    stored = gated.get(AccountId(account), OrderId(order.id))
    assert stored.status is S.REJECTED and stored.reject_code == "trading_halted"


def test_dispatcher_when_halted_then_a_kill_switch_flatten_sell_still_goes_out(
    gated: OrderService, engine: RiskEngine, view: RiskView, account: str
) -> None:
    hold(gated, account, qty="3")
    flatten = _submit(
        gated, account, limit_sell(qty="3", price="99.00", client_order_id=f"{FLATTEN_PREFIX}t1")
    )
    plain = _submit(gated, account, limit_buy(qty="1"))
    _halt(engine, Scope.account(account))
    counts, broker = _dispatch(gated, view)
    assert (counts["sent"], counts["halted"]) == (1, 1)  # the filled buy is skipped
    assert broker.sent == [("submit", flatten.id)]
    assert gated.get(AccountId(account), OrderId(plain.id)).reject_code == "trading_halted"
