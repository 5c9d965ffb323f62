"""The order path's event side in one process, on a Redis the test may stop or freeze.

The real API app (uvicorn), the real gateway app (uvicorn), the real relay and the real
outbox dispatcher (each in a thread), on a database of the test's own and a throwaway
Redis (``RedisProcess``). The only stand-in is the broker: ``InstantBroker`` acknowledges
every order and fills it at its limit price, booking through the real ``OrderService``,
so each order produces pending_new, new and fill events, as with the paper broker.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from cluster.eventlog.reader import RecordReader
from cluster.eventlog.relay import Relay
from cluster.events import AsyncEventBus
from cluster.orders.dispatch import Dispatcher
from cluster.orders.service import OrderService
from cluster.redis_client import AsyncResilientRedis, ResilientRedis
from cluster.settings import Settings
from domain.ids import ExecutionId
from domain.money import Quantity
from domain.orders import Order, OrderEvent, OrderEventKind
from serve.api import create_api
from serve.gateway import GatewayDeps, limits_from
from serve.services import Services, build_services
from tests.kit.api import serve_in_thread
from tests.kit.ws import FakeFeed, gateway_server


class InstantBroker:
    """A ``BrokerRouter`` stand-in: acknowledge, then fill at the limit price."""

    broker_name = "paper"

    def __init__(self, service: OrderService) -> None:
        self.service = service
        self.sent: dict[str, int] = {}

    async def submit(self, order: Order, *, resend: bool = False) -> Order:
        self.sent[order.id] = self.sent.get(order.id, 0) + 1
        now = self.service.clock.now()
        assert order.qty is not None and order.limit_price is not None
        events = [
            OrderEvent(OrderEventKind.ACKNOWLEDGE, now),
            OrderEvent(
                OrderEventKind.FILL,
                now,
                execution_id=ExecutionId(f"{order.id}-1"),
                qty=Quantity(order.qty.value),
                price=order.limit_price,
            ),
        ]
        return await asyncio.to_thread(self.service.apply_events, order.id, events)

    async def cancel(self, order: Order) -> Order:
        event = OrderEvent(OrderEventKind.CANCELED, self.service.clock.now())
        return await asyncio.to_thread(self.service.apply_events, order.id, [event])

    async def replace(self, old: Order, new: Order) -> Order:
        raise NotImplementedError


@dataclass
class EventStack:
    settings: Settings
    services: Services
    api_url: str
    ws_url: str
    relay: Relay
    broker: InstantBroker
    errors: list[str] = field(default_factory=list)


def _loop_thread(stop: threading.Event, step: Any, idle_s: float, errors: list[str]) -> None:
    while not stop.is_set():
        try:
            busy = step()
        except Exception as exc:  # Redis or PG away: what a real actor does, retry
            errors.append(type(exc).__name__)
            busy = False
            time.sleep(0.05)
        if not busy:
            time.sleep(idle_s)


@contextmanager
def event_stack(settings: Settings, *, dispatch: bool = True) -> Iterator[EventStack]:
    """``dispatch=False``: no broker; orders stay as the test books them."""
    services = build_services(settings, in_ray=False, process_label="event-stack")
    assert settings.redis_url is not None
    relay_redis = ResilientRedis.from_settings(settings)
    relay = Relay(services.db, relay_redis, prefix=settings.redis_key_prefix, batch=200)
    broker = InstantBroker(services.orders)
    dispatcher = Dispatcher(services.orders, broker)  # type: ignore[arg-type]
    loop = asyncio.new_event_loop()
    stop = threading.Event()
    errors: list[str] = []

    def dispatch_step() -> bool:
        return bool(loop.run_until_complete(dispatcher.run_once()))

    threads = [threading.Thread(target=_loop_thread, args=(stop, relay.run_once, 0.01, errors))]
    if dispatch:
        threads.append(
            threading.Thread(target=_loop_thread, args=(stop, dispatch_step, 0.01, errors))
        )
    aredis = AsyncResilientRedis.from_settings(settings, timeout_s=2.0)
    auth = services.auth
    deps = GatewayDeps(
        limits=limits_from(settings),
        bus=AsyncEventBus(aredis, prefix=settings.redis_key_prefix),
        verify_access=auth.verify_access,
        is_session_active=auth.is_session_active,
        may_read_account=lambda p, acct: True,
        feed_factory=lambda: FakeFeed(),
        closers=[aredis.close],
        record=RecordReader(services.db),
    )
    for t in threads:
        t.start()
    try:
        with serve_in_thread(create_api(services)) as api_url, gateway_server(deps) as gw:
            yield EventStack(settings, services, api_url, gw.ws_url, relay, broker, errors)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        loop.close()
        relay_redis.close()
        services.close()
