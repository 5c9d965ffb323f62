"""The reconciler: a detached actor that makes the database agree with the broker.

Every ``settings.reconcile_interval_s`` (and on ``run_once``) it takes every non-terminal
order, asks its broker what it knows (the paper actor's ``get_states`` in one call;
Alpaca's ``get`` by broker order id) and applies what the database missed, as planned by
``actors.reconcile_plan.catch_up``: acknowledgements, fills by execution id (the service
dedupes them, so a pass repeated or racing the broker's own booking books nothing twice),
and terminal statuses (canceled, expired, rejected, replaced).

An order the broker never acknowledged (still ``pending_new`` there, or unknown to it)
is counted once per pass in ``orders.ack_checks`` (``OrderService.record_ack_check``, so
the count survives restarts); at ``settings.reconcile_max_unacked_checks`` it becomes
``rejected`` with the reason "never acknowledged by broker after N checks". A pass that
could not reach a broker counts nothing for that broker's orders.

State: none of its own beyond handles; a restart re-runs the constructor and the next
pass carries on (restart-safe by construction).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import ray
from sqlalchemy import select

from actors.bootstrap import platform_actor
from actors.reconcile_plan import BrokerView, catch_up, view_from_paper, view_from_state
from cluster import names
from cluster.orders import tables
from cluster.orders.router import PaperActor
from cluster.runtime import Runtime
from cluster.settings import Settings
from domain.errors import DomainError, ElsonError, TransientError
from domain.ids import OrderId
from domain.orders import Order, OrderEvent, OrderEventKind, OrderStatus
from domain.ports import BrokerPort

log = logging.getLogger(__name__)

_S = OrderStatus
_E = OrderEventKind


class Reconciler:
    def __init__(self, settings: Settings, *, paper_name: str = names.PAPER_BROKER) -> None:
        self.settings = settings
        self.incarnation = uuid.uuid4().hex
        runtime = Runtime.for_actor(settings, "reconciler")
        self.clock, self.db, self.service = runtime.clock, runtime.db, runtime.orders
        self.paper = PaperActor(settings.ray_namespace, paper_name)
        self.max_checks = settings.reconcile_max_unacked_checks
        self._alpaca: BrokerPort | None = None
        self._lock = asyncio.Lock()
        self.passes = 0
        self._loop = asyncio.get_event_loop().create_task(self._forever())

    async def _forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.reconcile_interval_s)
            try:
                await self.run_once()
            except Exception:  # the loop must outlive one bad pass
                log.exception("reconcile pass failed")

    async def ping(self) -> dict[str, Any]:
        return {"incarnation": self.incarnation, "passes": self.passes}

    async def run_once(self) -> dict[str, int]:
        """One pass over every open order; returns what it did."""
        async with self._lock:
            totals = {"checked": 0, "applied": 0, "unacked": 0, "rejected": 0, "errors": 0}
            paper = await asyncio.to_thread(self.service.open_orders, broker="paper")
            if paper:
                await self._paper_pass(paper, totals)
            alpaca = await asyncio.to_thread(self.service.open_orders, broker="alpaca")
            if alpaca:
                await self._alpaca_pass(alpaca, totals)
            self.passes += 1
            return totals

    # -- brokers -----------------------------------------------------------------------
    async def _paper_pass(self, orders: list[Order], totals: dict[str, int]) -> None:
        ids = [str(o.id) for o in orders]
        try:
            ref = self.paper.handle().get_states.remote(ids)
            states: dict[str, dict[str, Any]] = await asyncio.wait_for(ref, 30)
        except (TransientError, ray.exceptions.RayError, TimeoutError) as exc:
            log.warning("paper broker unreachable; %d order(s) not checked: %s", len(ids), exc)
            return
        now = self.clock.now()
        for order in orders:
            view = view_from_paper(states.get(str(order.id), {"known": False}))
            if not self._needs_settling(order, view, now):
                totals["checked"] += 1  # agrees with the broker: no database work
                continue
            await asyncio.to_thread(self._settle, order.id, view, totals)

    async def _alpaca_pass(self, orders: list[Order], totals: dict[str, int]) -> None:
        try:
            broker = self._alpaca_broker()
        except ElsonError as exc:
            log.error("alpaca orders open but the adapter cannot be built: %s", exc)
            return
        broker_ids = await asyncio.to_thread(self._broker_ids, [o.id for o in orders])
        for order in orders:
            broker_id = broker_ids.get(str(order.id))
            try:
                state = None if broker_id is None else await broker.get(broker_id)
            except ElsonError as exc:
                log.warning("alpaca get %s failed: %s", order.id, exc)
                totals["errors"] += 1
                continue
            view = view_from_state(order, state)
            await asyncio.to_thread(self._settle, order.id, view, totals)

    def _alpaca_broker(self) -> BrokerPort:
        if self._alpaca is None:
            from cluster.brokers.factory import make_broker

            self._alpaca = make_broker("alpaca", settings=self.settings)
        return self._alpaca

    def _broker_ids(self, order_ids: list[OrderId]) -> dict[str, str]:
        o = tables.orders.c
        wanted = [uuid.UUID(str(i)) for i in order_ids]
        with self.db.session() as s:
            rows = s.execute(select(o.id, o.broker_order_id).where(o.id.in_(wanted))).all()
        return {str(oid): str(bid) for oid, bid in rows if bid is not None}

    # -- one order ---------------------------------------------------------------------
    @staticmethod
    def _needs_settling(order: Order, view: BrokerView, now: Any) -> bool:
        """Whether the order as loaded for this pass lags the broker (or is unacknowledged).
        Most open orders agree with their broker; only the others cost a transaction (the
        settling re-reads the order, since the broker may have booked meanwhile)."""
        if order.status is _S.PENDING_NEW and view.unacknowledged:
            return True
        return bool(catch_up(order, view, now))

    def _settle(self, order_id: OrderId, view: BrokerView, totals: dict[str, int]) -> None:
        """Re-read the order (the broker may have booked meanwhile), then catch it up."""
        totals["checked"] += 1
        try:
            order = self.service.get_order(order_id)
            if order.status.is_terminal:
                return
            now = self.clock.now()
            events = catch_up(order, view, now)
            if events:
                self.service.apply_events(order.id, events)
                totals["applied"] += len(events)
                log.info("reconciled %s: %s", order.id, [e.kind.value for e in events])
            elif order.status is _S.PENDING_NEW and view.unacknowledged:
                self._unacked(order, totals)
        except (DomainError, TransientError) as exc:
            log.warning("reconcile %s failed: %s", order_id, exc)
            totals["errors"] += 1

    def _unacked(self, order: Order, totals: dict[str, int]) -> None:
        totals["unacked"] += 1
        checks = self.service.record_ack_check(order.id)
        if checks < self.max_checks:
            return
        now = self.clock.now()
        reason = f"never acknowledged by broker after {checks} checks"
        self.service.apply_events(order.id, [OrderEvent(_E.REJECT, now, reason=reason)])
        totals["rejected"] += 1
        if order.replaces is not None:
            old = self.service.get_order(order.replaces)
            if old.status is _S.PENDING_REPLACE:
                event = OrderEvent(_E.REPLACE_REJECTED, now, reason=reason)
                self.service.apply_events(old.id, [event])


def ensure(
    settings: Settings, *, name: str = names.RECONCILER, paper_name: str = names.PAPER_BROKER
) -> list[str]:
    """Create or adopt the detached reconciler; returns its name for readiness."""
    remote = ray.remote(Reconciler)
    remote.options(**platform_actor(name, settings)).remote(  # type: ignore[attr-defined]
        settings, paper_name=paper_name
    )
    return [name]
