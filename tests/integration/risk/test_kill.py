"""The kill switch without flatten: the scope is halted (audited) first, then every open
order of the scope is canceled, those never sent included; other accounts are untouched."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from cluster.orders.dispatch import Dispatcher
from cluster.orders.service import OrderService
from cluster.risk.engine import RiskEngine
from cluster.risk.kill import kill_switch
from domain.clock import FakeClock
from domain.errors import ValidationFailed
from domain.ids import AccountId, OrderId
from domain.orders import OrderEvent, OrderEventKind, OrderStatus
from domain.risk.states import Scope, TradingState
from tests.integration.orders.conftest import create_account
from tests.integration.orders.helpers import limit_buy
from tests.integration.orders.test_dispatch import ScriptedBroker

S = OrderStatus


def test_kill_switch_when_account_has_open_orders_then_halted_audited_and_all_canceled(
    service: OrderService,
    engine: RiskEngine,
    account: str,
    clock: FakeClock,
    risk_url: str,
) -> None:
    acct = AccountId(account)
    service.fund(acct, Decimal("1000.00"))
    unsent = service.submit(acct, limit_buy()).order
    working = service.submit(acct, limit_buy()).order
    service.apply_events(OrderId(working.id), [OrderEvent(OrderEventKind.ACKNOWLEDGE, clock.now())])
    other = AccountId(create_account(risk_url))
    service.fund(other, Decimal("1000.00"))
    bystander = service.submit(other, limit_buy()).order

    report = kill_switch(engine, service, Scope.account(account), by="ops:ada", reason="runaway")

    assert report.halted["changed"] is True and report.halted["state"] == "halted"
    assert engine.states[Scope.account(account)].state is TradingState.HALTED
    [row] = engine.audit(subject=f"account:{account}")
    assert (row["by"], row["from_state"], row["to_state"]) == ("ops:ada", "active", "halted")
    assert "kill switch" in row["reason"] and "runaway" in row["reason"]
    assert sorted(report.canceled) == sorted([unsent.id, working.id])
    assert report.refused == [] and report.flattened == []
    for order_id in (unsent.id, working.id):
        assert service.get(acct, OrderId(order_id)).status is S.PENDING_CANCEL
    assert service.get(other, OrderId(bystander.id)).status is S.PENDING_NEW

    counts = asyncio.run(Dispatcher(service, ScriptedBroker(service)).run_once())  # type: ignore[arg-type]
    assert counts["voided"] == 1  # the never-sent order ends without the broker
    for order_id in (unsent.id, working.id):
        assert service.get(acct, OrderId(order_id)).status is S.CANCELED


def test_kill_switch_when_repeated_then_halt_unchanged_and_nothing_left_to_cancel(
    service: OrderService, engine: RiskEngine, account: str
) -> None:
    kill_switch(engine, service, Scope.account(account), by="ops", reason="first")
    again = kill_switch(engine, service, Scope.account(account), by="ops", reason="second")
    assert again.halted["changed"] is False and again.canceled == []
    assert len(engine.audit(subject=f"account:{account}")) == 1


def test_kill_switch_when_strategy_scope_then_validation_failed_and_nothing_halted(
    service: OrderService, engine: RiskEngine
) -> None:
    with pytest.raises(ValidationFailed):
        kill_switch(engine, service, Scope.strategy("s1"), by="ops", reason="x")
    assert Scope.strategy("s1") not in engine.states


def test_kill_switch_when_account_key_is_not_an_account_id_then_validation_failed(
    service: OrderService, engine: RiskEngine
) -> None:
    with pytest.raises(ValidationFailed):
        kill_switch(engine, service, Scope.account("not-a-uuid"), by="ops", reason="x")
    assert Scope.account("not-a-uuid") not in engine.states
