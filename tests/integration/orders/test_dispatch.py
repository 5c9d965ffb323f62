"""The outbox dispatcher on the real database, with a scripted broker: requests go out in
order, once, and a cancel racing the acknowledgement resolves as ``dispatch`` says."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from cluster.db import Database
from cluster.orders.dispatch import Dispatcher
from cluster.orders.service import OrderService
from domain.clock import FakeClock
from domain.errors import TransientError
from domain.market_hours import MarketCalendar
from domain.orders import Order, OrderEvent, OrderEventKind, OrderStatus
from tests.integration.orders.conftest import FakeQuotes
from tests.integration.orders.helpers import limit_buy

E = OrderEventKind
S = OrderStatus


class ScriptedBroker:
    """A ``BrokerRouter`` stand-in that acknowledges through the service and counts sends;
    ``before_ack`` runs between the send and the booking of its answer."""

    def __init__(self, service: OrderService) -> None:
        self.service = service
        self.broker_name = service.broker_name
        self.sent: list[tuple[str, str]] = []
        self.before_ack: Callable[[Order], None] | None = None
        self.down = False

    async def submit(self, order: Order, *, resend: bool = False) -> Order:
        if self.down:
            raise TransientError("broker unreachable")
        self.sent.append(("submit", order.id))
        if self.before_ack is not None:
            await asyncio.to_thread(self.before_ack, order)
        ack = OrderEvent(E.ACKNOWLEDGE, self.service.clock.now())
        return await asyncio.to_thread(self.service.apply_events, order.id, [ack])

    async def cancel(self, order: Order) -> Order:
        self.sent.append(("cancel", order.id))
        done = OrderEvent(E.CANCELED, self.service.clock.now())
        return await asyncio.to_thread(self.service.apply_events, order.id, [done])

    async def replace(self, old: Order, new: Order) -> Order:
        raise NotImplementedError


@pytest.fixture
def own_service(
    orders_db: Database, clock: FakeClock, calendar: MarketCalendar, quotes: FakeQuotes
) -> OrderService:
    """A broker name of its own: the dispatcher claims only this test's requests."""
    name = f"scripted-{uuid.uuid4().hex[:8]}"
    return OrderService(orders_db, clock, calendar, quotes, broker_name=name)


def _dispatcher(service: OrderService) -> tuple[Dispatcher, ScriptedBroker]:
    broker = ScriptedBroker(service)
    return Dispatcher(service, broker), broker  # type: ignore[arg-type]


def _outbox(db: Database, order_id: str) -> list[tuple[str, str | None, int]]:
    with db.session() as s:
        rows = s.execute(
            text(
                "SELECT action, outcome, attempts FROM broker_outbox WHERE order_id = :o"
                " ORDER BY id"
            ),
            {"o": order_id},
        ).all()
    return [(r.action, r.outcome, r.attempts) for r in rows]


async def test_submit_is_sent_once_and_acknowledged(
    own_service: OrderService, account: str
) -> None:
    own_service.fund(account, Decimal("1000.00"))  # type: ignore[arg-type]
    order = own_service.submit(account, limit_buy()).order  # type: ignore[arg-type]
    assert order.status is S.PENDING_NEW
    dispatcher, broker = _dispatcher(own_service)
    assert await dispatcher.run_once() == {"sent": 1}
    assert await dispatcher.run_once() == {}
    assert broker.sent == [("submit", order.id)]
    assert own_service.get_order(order.id).status is S.NEW
    assert _outbox(own_service.db, order.id) == [("submit", "sent", 1)]


async def test_cancel_before_the_submit_left_the_outbox_never_reaches_the_broker(
    own_service: OrderService, account: str
) -> None:
    own_service.fund(account, Decimal("1000.00"))  # type: ignore[arg-type]
    order = own_service.submit(account, limit_buy()).order  # type: ignore[arg-type]
    pending = own_service.request_cancel(account, order.id)  # type: ignore[arg-type]
    assert pending.status is S.PENDING_CANCEL
    dispatcher, broker = _dispatcher(own_service)
    assert await dispatcher.run_once() == {"voided": 1, "skipped": 1}
    assert broker.sent == []
    final = own_service.get_order(order.id)
    assert final.status is S.CANCELED and final.submitted_at is None
    assert own_service.buying_power(account) == Decimal("1000.00")  # type: ignore[arg-type]
    assert own_service.check_invariants(account) == []  # type: ignore[arg-type]


async def test_cancel_racing_the_acknowledgement_stays_pending_then_cancels(
    own_service: OrderService, account: str
) -> None:
    own_service.fund(account, Decimal("1000.00"))  # type: ignore[arg-type]
    order = own_service.submit(account, limit_buy()).order  # type: ignore[arg-type]
    dispatcher, broker = _dispatcher(own_service)
    # the client cancels while the submit is on its way: after the send, before the ack
    broker.before_ack = lambda o: own_service.request_cancel(account, o.id)  # type: ignore[arg-type]
    assert await dispatcher.run_once() == {"sent": 1}
    acked = own_service.get_order(order.id)
    assert acked.status is S.PENDING_CANCEL and acked.submitted_at is not None
    assert await dispatcher.run_once() == {"sent": 1}  # the cancel follows the submit
    assert broker.sent == [("submit", order.id), ("cancel", order.id)]
    assert own_service.get_order(order.id).status is S.CANCELED
    assert own_service.check_invariants(account) == []  # type: ignore[arg-type]


async def test_a_failed_send_holds_the_orders_later_requests_and_is_retried(
    own_service: OrderService, account: str
) -> None:
    own_service.fund(account, Decimal("1000.00"))  # type: ignore[arg-type]
    order = own_service.submit(account, limit_buy()).order  # type: ignore[arg-type]
    dispatcher, broker = _dispatcher(own_service)
    broker.down = True
    assert await dispatcher.run_once() == {"retry": 1}
    own_service.request_cancel(account, order.id)  # type: ignore[arg-type]
    # the submit may have reached the broker (attempt 2): it is sent, then the cancel
    broker.down = False
    assert await dispatcher.run_once() == {"sent": 2}
    assert broker.sent == [("submit", order.id), ("cancel", order.id)]
    assert [a for a, _, _ in _outbox(own_service.db, order.id)] == ["submit", "cancel"]
    assert _outbox(own_service.db, order.id)[0][2] == 2
    assert own_service.get_order(order.id).status is S.CANCELED


def test_events_of_a_request_are_written_with_it(
    own_service: OrderService, account: str, published: Any
) -> None:
    own_service.fund(account, Decimal("1000.00"))  # type: ignore[arg-type]
    order = own_service.submit(account, limit_buy()).order  # type: ignore[arg-type]
    own_service.request_cancel(account, order.id)  # type: ignore[arg-type]
    assert published.events()[-2:] == ["pending_new", "pending_cancel"]
