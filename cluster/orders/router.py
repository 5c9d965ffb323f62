"""BrokerRouter: hand stored orders to the configured broker and book what it answers.

Only the outbox dispatcher (``cluster.orders.dispatch``) calls it: no request path waits
on a broker. ``hook(point)`` marks the points between sending and booking (a test makes
the dispatcher crash there).

Two shapes of broker sit behind one async API (``submit``/``cancel``/``replace``):

- ``paper``: the named ``PaperBroker`` actor books its own events through the service, so
  the router only calls it (by order id) and reads the order back. Its methods are
  idempotent, so a call that died with the actor (``RayActorError``) is retried after the
  restart, up to ``actor_attempts`` times; still failing -> ``TransientError``.
- ``alpaca``: ``AlpacaBroker`` (retries transient errors itself). Its answer is booked
  here: ack (``new``/``accepted``), or a definitive ``BrokerRejected`` stored as a
  ``rejected`` order with the broker's reason. ``OperatorError`` propagates: routing
  stops and the API answers 503 ``operator-error``. ``TransientError`` propagates with the
  order still ``pending_new``; the reconciler settles it.

The broker name is checked once at start-up through ``cluster.brokers.factory``: an
unknown name is an ``OperatorError`` before any order is routed.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from sqlalchemy import select

from cluster import names
from cluster.brokers.factory import make_broker
from cluster.orders import tables
from cluster.orders.service import OrderService
from domain.errors import TransientError
from domain.ids import OrderId
from domain.orders import Order, OrderEvent, OrderEventKind, OrderStatus
from domain.ports import BrokerOrderState, BrokerPort, BrokerRejected

log = logging.getLogger(__name__)

_E = OrderEventKind
_S = OrderStatus
_LIVE = frozenset({_S.NEW, _S.PARTIALLY_FILLED, _S.FILLED, _S.DONE_FOR_DAY})


class PaperActor:
    """The paper broker actor, resolved by name when first needed (it may start later)."""

    def __init__(self, namespace: str, name: str = names.PAPER_BROKER) -> None:
        self.namespace = namespace
        self.name = name

    def handle(self) -> Any:
        found = names.get_actor(self.name, self.namespace)
        if found is None:
            raise TransientError(f"paper broker actor {self.name} is not running")
        return found


def ack_events(state: BrokerOrderState, at: Any) -> list[OrderEvent]:
    """Events that record a broker's answer to a submit (fills come later, by stream or
    reconciler, with their own execution ids)."""
    if state.status is _S.REJECTED:
        return [OrderEvent(_E.REJECT, at, reason=state.reject_reason or "rejected by broker")]
    if state.status is _S.ACCEPTED:
        return [OrderEvent(_E.ACCEPT_CLOSED, at)]
    if state.status in _LIVE or state.status in (_S.PENDING_CANCEL, _S.PENDING_REPLACE):
        return [OrderEvent(_E.ACKNOWLEDGE, at)]
    return []  # still pending_new at the broker: the reconciler follows it up


class BrokerRouter:
    def __init__(
        self,
        service: OrderService,
        broker_name: str,
        *,
        paper: PaperActor | None = None,
        broker: BrokerPort | None = None,
        actor_timeout_s: float = 15.0,
        actor_attempts: int = 6,
        retry_wait_s: float = 0.5,
        hook: Any = None,
    ) -> None:
        self.service = service
        self.broker_name = broker_name
        self.paper = paper
        self.broker = broker
        self.actor_timeout_s = actor_timeout_s
        self.actor_attempts = actor_attempts
        self.retry_wait_s = retry_wait_s
        self.hook = hook or (lambda point: None)

    @classmethod
    def from_settings(cls, settings: Any, service: OrderService, **deps: Any) -> BrokerRouter:
        """Validate ``settings.broker`` (``OperatorError`` if unknown) and build the router."""
        name = str(settings.broker).strip().lower()
        paper_name = deps.pop("paper_name", names.PAPER_BROKER)
        hook = deps.pop("hook", None)
        paper = PaperActor(settings.ray_namespace, paper_name)
        broker = make_broker(name, settings=settings, paper_factory=lambda: paper, **deps)
        if name == "paper":
            return cls(service, name, paper=paper, hook=hook)
        return cls(service, name, broker=broker, hook=hook)

    # -- API ---------------------------------------------------------------------------
    async def submit(self, order: Order, *, resend: bool = False) -> Order:
        """Send a stored order not yet acknowledged (``pending_new``, or ``pending_cancel``
        asked before the acknowledgement); anything else was routed already."""
        unacked = order.status in (_S.PENDING_NEW, _S.PENDING_CANCEL)
        if not unacked or order.submitted_at is not None:
            return order
        if self.paper is not None:
            await self._paper("submit", str(order.id))
            self.hook("after_send")
            return await self._get(order.id)
        broker = self._broker()
        try:
            state = await broker.submit(order, resend=resend)
        except BrokerRejected as exc:
            event = OrderEvent(_E.REJECT, self._now(), reason=exc.reason)
            return await self._apply(order.id, [event])
        self.hook("after_send")
        await asyncio.to_thread(self.service.set_broker_order_id, order.id, state.broker_order_id)
        return await self._apply(order.id, ack_events(state, self._now()))

    async def cancel(self, order: Order) -> Order:
        if self.paper is not None:
            await self._paper("cancel", str(order.id))
            return await self._get(order.id)
        broker_id = await asyncio.to_thread(self._broker_order_id, order.id)
        if broker_id is None:
            raise TransientError(f"order {order.id} has no broker order id yet; retry")
        try:
            await self._broker().cancel(broker_id)
        except BrokerRejected as exc:
            event = OrderEvent(_E.CANCEL_REJECTED, self._now(), reason=exc.reason)
            return await self._apply(order.id, [event])
        return await self._get(order.id)  # canceled arrives by stream/reconciler

    async def replace(self, old: Order, new: Order) -> Order:
        """Returns the replacement order as booked."""
        if self.paper is not None:
            await self._paper("replace", str(old.id), str(new.id))
            return await self._get(new.id)
        broker_id = await asyncio.to_thread(self._broker_order_id, old.id)
        if broker_id is None:
            raise TransientError(f"order {old.id} has no broker order id yet; retry")
        trail = new.trail_price.value if new.trail_price is not None else new.trail_percent
        try:
            state = await self._broker().replace(
                broker_id,
                qty=None if new.qty is None else new.qty.value,
                limit_price=None if new.limit_price is None else new.limit_price.value,
                stop_price=None if new.stop_price is None else new.stop_price.value,
                trail=trail,
                time_in_force=new.time_in_force.value,
            )
        except BrokerRejected as exc:
            now = self._now()
            await self._apply(old.id, [OrderEvent(_E.REPLACE_REJECTED, now, reason=exc.reason)])
            return await self._apply(new.id, [OrderEvent(_E.REJECT, now, reason=exc.reason)])
        now = self._now()
        await asyncio.to_thread(self.service.set_broker_order_id, new.id, state.broker_order_id)
        await self._apply(old.id, [OrderEvent(_E.REPLACED, now, replaced_by=new.id)])
        return await self._apply(new.id, ack_events(state, now))

    # -- plumbing ----------------------------------------------------------------------
    def _now(self) -> Any:
        return self.service.clock.now()

    def _broker(self) -> BrokerPort:
        assert self.broker is not None
        return self.broker

    async def _get(self, order_id: OrderId) -> Order:
        return await asyncio.to_thread(self.service.get_order, order_id)

    async def _apply(self, order_id: OrderId, events: list[OrderEvent]) -> Order:
        """Database work runs in a thread: the router lives on a Serve replica's loop."""
        if not events:
            return await self._get(order_id)
        return await asyncio.to_thread(self.service.apply_events, order_id, events)

    def _broker_order_id(self, order_id: OrderId) -> str | None:
        with self.service.db.session() as s:
            found = s.execute(
                select(tables.orders.c.broker_order_id).where(
                    tables.orders.c.id == uuid.UUID(str(order_id))
                )
            ).scalar_one_or_none()
        return None if found is None else str(found)

    async def _paper(self, method: str, *args: str) -> dict[str, Any]:
        """Call the paper actor; retry only when the actor died mid-call (idempotent)."""
        from ray.exceptions import RayActorError

        assert self.paper is not None
        for attempt in range(1, self.actor_attempts + 1):
            handle = self.paper.handle()
            try:
                ref = getattr(handle, method).remote(*args)
                result: dict[str, Any] = await asyncio.wait_for(ref, self.actor_timeout_s)
                return result
            except RayActorError as exc:
                log.warning("paper broker %s failed (attempt %d): %s", method, attempt, exc)
                if attempt == self.actor_attempts:
                    raise TransientError(f"paper broker unavailable for {method}") from exc
                await asyncio.sleep(self.retry_wait_s * attempt)
            except TimeoutError as exc:
                raise TransientError(f"paper broker did not answer {method} in time") from exc
        raise AssertionError("unreachable")
