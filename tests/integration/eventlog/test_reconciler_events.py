"""Issue 10, acceptance 4: a fill and a rejection booked by the reconciler reach a
subscribed WebSocket client, with their sequence numbers (the reconciler books through
the order service, which writes the events with the change; the relay carries them)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from actors.reconcile_plan import BrokerView
from actors.reconciler import Reconciler
from cluster.settings import Settings
from domain.ids import ExecutionId
from domain.money import Price, Quantity
from domain.orders import OrderEvent, OrderEventKind, OrderStatus
from tests.conftest import own_database
from tests.kit.event_stack import EventStack, event_stack
from tests.kit.users import signed_in
from tests.kit.ws import authenticate, connect, recv_until, send


@pytest.fixture(scope="module")
def reconcile_db_url() -> Iterator[str]:
    with own_database("recevents") as url:
        yield url


@pytest.fixture
def stack(settings: Settings, reconcile_db_url: str) -> Iterator[EventStack]:
    s = settings.with_overrides(
        database_url=reconcile_db_url,
        login_max_failures=10_000,
        api_replicas=1,
        job_workers=0,
        reconcile_interval_s=3600,
        reconcile_max_unacked_checks=1,
    )
    with event_stack(s, dispatch=False) as running:
        yield running


def _order(http: httpx.Client, user: Any, price: str) -> str:
    body = {
        "symbol": "AAPL",
        "side": "buy",
        "type": "limit",
        "time_in_force": "day",
        "qty": "2",
        "limit_price": price,
    }
    r = http.post(f"/v1/accounts/{user.account_id}/orders", json=body, headers=user.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_reconciler_fill_and_rejection_reach_the_socket(stack: EventStack) -> None:
    def setup() -> tuple[Any, str, str]:
        with httpx.Client(base_url=stack.api_url, timeout=30) as http:
            user = signed_in(http)
            r = http.post(
                f"/v1/accounts/{user.account_id}/fund",
                json={"amount": "1000"},
                headers=user.headers,
            )
            assert r.status_code == 200, r.text
            return user, _order(http, user, "10.00"), _order(http, user, "11.00")

    user, filled_id, unacked_id = await asyncio.to_thread(setup)
    stream = f"orders:{user.account_id}"
    ws = await connect(stack.ws_url)
    await authenticate(ws, user.access)
    await send(
        ws,
        {
            "type": "subscribe",
            "channels": [{"channel": "orders", "account_id": user.account_id}],
            "resume": {stream: 0},
        },
    )
    await recv_until(ws, lambda m: m["type"] == "subscribed", within=10)

    reconciler = Reconciler(stack.settings)  # the actor's class, driven directly
    service = stack.services.orders
    now = service.clock.now()
    fill = OrderEvent(
        OrderEventKind.FILL,
        now,
        execution_id=ExecutionId(f"{filled_id}-1"),
        qty=Quantity(Decimal(2)),
        price=Price(Decimal("10.00")),
    )
    totals = {"checked": 0, "applied": 0, "unacked": 0, "rejected": 0, "errors": 0}
    view = BrokerView(known=True, status=OrderStatus.FILLED, fills=(fill,))
    await asyncio.to_thread(reconciler._settle, filled_id, view, totals)
    await asyncio.to_thread(reconciler._settle, unacked_id, BrokerView(known=False), totals)
    assert totals["applied"] == 2 and totals["rejected"] == 1, totals

    got, _ = await recv_until(
        ws, lambda m: m["type"] == "event" and m["event"] == "fill", within=10
    )
    assert got["data"]["order"]["id"] == filled_id and got["seq"] >= 3
    rejected, _ = await recv_until(
        ws, lambda m: m["type"] == "event" and m["event"] == "rejected", within=10
    )
    assert rejected["data"]["order"]["id"] == unacked_id
    assert rejected["seq"] > got["seq"]
    await ws.close()
    reconciler._loop.cancel()
