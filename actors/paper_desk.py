"""The paper broker's logic without Ray: engine in, ``OrderService`` out.

Why split from the actor: everything here is synchronous and ordered (engine step, then
the events booked through the service in the order the engine emitted them), so the actor
runs one desk call at a time in a worker thread and keeps its event loop free for ``ping``.

Booking: events are grouped per order (first appearance first, so an old order's
``replaced`` is booked before its replacement's ``new``) and each group goes through
``OrderService.apply_events`` in one transaction. A group that fails to book (database
down, a transition the stored order refuses) is kept in ``unbooked`` and logged; the
engine has moved on, and the reconciler applies what the DB missed from ``get_state``
(fills by execution id, which the DB dedupes, then status changes).

Stop marks: after booking a quote batch, the water marks and stop triggers the engine moved
(``PaperEngine.take_marks``) are stored in one statement (``cluster.orders.marks``), so a
restart resumes from them. If that write fails, they are kept and go with the next batch.

The desk keeps a mirror of every order it has seen (the engine drops terminal ones), with
the fills it emitted, so ``get_state`` can answer for finished orders too; terminal
entries beyond ``keep_finished`` are forgotten oldest first.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from actors.paper_state import state_to_wire, top_from_wire
from cluster.orders.marks import save_marks
from cluster.orders.service import OrderService
from domain.clock import Clock
from domain.errors import DomainError, IllegalTransition, TransientError
from domain.ids import OrderId
from domain.orders import Order, OrderEvent, OrderEventKind, OrderStatus
from domain.paper import PaperEngine, StopMark
from domain.risk.exchange import HaltChange

log = logging.getLogger(__name__)

_S = OrderStatus
_E = OrderEventKind
_REQUESTS = frozenset({_E.CANCEL_REQUESTED, _E.REPLACE_REQUESTED})
Emitted = tuple[OrderId, OrderEvent]


class PaperDesk:
    def __init__(
        self,
        service: OrderService,
        engine: PaperEngine,
        clock: Clock,
        *,
        keep_finished: int = 10_000,
    ) -> None:
        self.service = service
        self.engine = engine
        self.clock = clock
        self.keep_finished = keep_finished
        self.mirror: dict[OrderId, Order] = {}
        self.fills: dict[OrderId, list[OrderEvent]] = {}
        self.held: set[OrderId] = set()  # replacements waiting for their old order
        #: Events whose booking failed in this process (kept for diagnosis; the
        #: reconciler books them from ``get_state``, which reads the mirror).
        self.unbooked: dict[OrderId, list[OrderEvent]] = {}
        self.quote_floor: dict[str, datetime] = {}
        self.unsaved_marks: dict[OrderId, StopMark] = {}  # a failed write, retried
        self.fail_applies = 0  # test-only fault injection (the actor guards it)

    # -- restart -----------------------------------------------------------------------
    def restore(self) -> int:
        """Put every open paper order back into the engine as the DB has it.

        Quotes handed in again after the restart (a caller retrying a call that died
        with the old process) must not trade twice: per symbol, ``quote_floor`` is the
        time of the last event booked for a working order, and a quote stamped at or
        before it is dropped (that quote was seen before the restart; if its fills had
        not reached the DB, the floor is older and it fills again with the same ids).
        Exact as long as one engine step's bookings for one symbol commit together; a
        kill between two orders' transactions of the same step can lose the second one's
        fill from that quote (``OrderService`` has no multi-order transaction yet).

        ``pending_new`` orders never reached the engine (or their ack was lost with the
        old process): they are left to the router's retry and the reconciler's
        unacknowledged-order rule, except replacements, which the old order carries.
        """
        opens = self.service.open_orders(broker="paper")
        for order in opens:
            if order.status is not _S.PENDING_NEW and order.updated_at is not None:
                floor = self.quote_floor.get(order.symbol)
                if floor is None or order.updated_at > floor:
                    self.quote_floor[order.symbol] = order.updated_at
        waiting = {o.replaces: o for o in opens if o.status is _S.PENDING_NEW and o.replaces}
        restored = 0
        for order in opens:
            if order.status is _S.PENDING_NEW:
                if order.replaces is not None:
                    self._remember(order, held=True)
                continue
            replacement = waiting.get(order.id) if order.status is _S.PENDING_REPLACE else None
            self.engine.restore(order, replacement=replacement)
            self._remember(order)
            restored += 1
        return restored

    # -- requests ----------------------------------------------------------------------
    def submit(self, order_id: OrderId) -> dict[str, Any]:
        """Acknowledge a stored ``pending_new`` order. Idempotent: a second call (a router
        retry after an actor restart) answers the current status."""
        if order_id in self.mirror:
            return self._status(order_id)
        order = self.service.get_order(order_id)
        if order.status is _S.PENDING_CANCEL and order.submitted_at is None:
            # the client cancelled while the submit was on its way: it never worked here
            reason = "canceled before the paper broker worked it"
            return self._cancel_unworked(order, reason)
        if order.status is not _S.PENDING_NEW or order.replaces is not None:
            return {"order_id": order_id, "status": order.status.value}
        self._remember(order)
        self._book(self._tag(order_id, self.engine.submit(order, self.clock.now())))
        return self._status(order_id)

    def _cancel_unworked(self, order: Order, reason: str) -> dict[str, Any]:
        self._remember(order)
        self._book([(order.id, OrderEvent(_E.CANCELED, self.clock.now(), reason=reason))])
        return self._status(order.id)

    def cancel(self, order_id: OrderId) -> dict[str, Any]:
        """Start the cancel the service already recorded (``pending_cancel``); the outcome
        (``canceled``, or ``filled`` if a fill wins the race) comes at the latency."""
        if order_id not in self.engine.working():
            return self._status(order_id)
        if self.mirror[order_id].status is _S.PENDING_CANCEL:
            return self._status(order_id)  # repeated request
        stored = self.service.get_order(order_id)
        now = self.clock.now()
        events = self.engine.cancel(order_id, now)
        skip = stored.status is _S.PENDING_CANCEL
        self._book(self._tag(order_id, events), skip_requests=skip)
        self._book(self.engine.on_clock(now))
        return self._status(order_id)

    def replace(self, old_id: OrderId, new_id: OrderId) -> dict[str, Any]:
        """Start the replace the service recorded (old ``pending_replace``, new stored)."""
        new = self.service.get_order(new_id)
        now = self.clock.now()
        if old_id not in self.engine.working():
            if new.status is _S.PENDING_NEW and new_id not in self.mirror:
                self._remember(new)
                old = self.service.get_order(old_id)
                reason = f"order {old_id} ended {old.status.value} before the replace"
                self._book([(new_id, OrderEvent(_E.REJECT, now, reason=reason))])
            return self._status(new_id)
        if self.mirror[old_id].status is _S.PENDING_REPLACE:
            return self._status(new_id)
        stored = self.service.get_order(old_id)
        self._remember(new, held=True)
        events = self.engine.replace(old_id, new, now)
        skip = stored.status is _S.PENDING_REPLACE
        self._book(self._tag(old_id, events), skip_requests=skip)
        self._book(self.engine.on_clock(now))
        return self._status(new_id)

    # -- inputs ------------------------------------------------------------------------
    def on_quotes(self, quotes: Iterable[dict[str, Any]]) -> dict[str, int]:
        out: list[Emitted] = []
        for data in quotes:
            top = top_from_wire(data)
            floor = self.quote_floor.get(top.symbol)
            if floor is not None and top.at <= floor:
                continue  # seen before a restart (see ``restore``)
            out.extend(self.engine.on_quote(top, self.clock.now()))
        booked = self._book(out)
        self._save_marks()
        return booked

    def tick(self) -> dict[str, int]:
        return self._book(self.engine.on_clock(self.clock.now()))

    def take_halts(self) -> list[HaltChange]:
        """Exchange halts (LULD pauses, market-wide) started or ended since the last call,
        for the actor to forward to the risk actor."""
        return self.engine.take_halts()

    # -- queries -----------------------------------------------------------------------
    def get_state(self, order_id: OrderId) -> dict[str, Any]:
        order = self.mirror.get(order_id)
        if order is None:
            return {"known": False, "broker_order_id": str(order_id)}
        fills = self.fills.get(order_id, [])
        return state_to_wire(order, fills, held=order_id in self.held)

    def get_states(self, order_ids: Iterable[OrderId]) -> dict[str, dict[str, Any]]:
        return {str(oid): self.get_state(oid) for oid in order_ids}

    def list_open(self) -> list[dict[str, Any]]:
        return [self.get_state(oid) for oid, o in self.mirror.items() if o.status.is_open]

    # -- plumbing ----------------------------------------------------------------------
    @staticmethod
    def _tag(order_id: OrderId, events: list[OrderEvent]) -> list[Emitted]:
        return [(order_id, event) for event in events]

    def _status(self, order_id: OrderId) -> dict[str, Any]:
        order = self.mirror.get(order_id)
        if order is None:
            order = self.service.get_order(order_id)
        return {"order_id": str(order_id), "status": order.status.value}

    def _remember(self, order: Order, *, held: bool = False) -> None:
        self.mirror[order.id] = copy.deepcopy(order)
        if held:
            self.held.add(order.id)

    def _book(self, emitted: list[Emitted], *, skip_requests: bool = False) -> dict[str, int]:
        groups: dict[OrderId, list[OrderEvent]] = {}
        for order_id, event in emitted:
            self._mirror_apply(order_id, event)
            if skip_requests and event.kind in _REQUESTS:
                continue  # the service recorded the request when the client made it
            groups.setdefault(order_id, []).append(event)
        fills = sum(1 for _, e in emitted if e.is_fill)
        for order_id, events in groups.items():
            try:
                if self.fail_applies > 0:
                    self.fail_applies -= 1
                    raise TransientError("injected apply failure (test)")
                self.service.apply_events(order_id, events)
            except Exception as exc:  # any failure: keep going; the reconciler catches up
                level = (
                    logging.WARNING
                    if isinstance(exc, DomainError | TransientError)
                    else logging.ERROR
                )
                log.log(level, "booking %d event(s) of %s failed: %s", len(events), order_id, exc)
                self.unbooked.setdefault(order_id, []).extend(events)
        self._forget_finished()
        return {"events": len(emitted), "fills": fills}

    def _save_marks(self) -> None:
        marks = self.unsaved_marks | self.engine.take_marks()
        if not marks:
            return
        try:
            with self.service.db.session() as s:
                save_marks(s, marks)
        except Exception as exc:  # like a failed booking: keep going, retry next batch
            log.warning("storing %d stop mark(s) failed: %s", len(marks), exc)
            self.unsaved_marks = marks
            return
        self.unsaved_marks = {}
        for order_id, mark in marks.items():
            mirrored = self.mirror.get(order_id)
            if mirrored is not None:
                mirrored.high_water_mark = mark.high_water_mark
                mirrored.stop_triggered = mark.triggered

    def _mirror_apply(self, order_id: OrderId, event: OrderEvent) -> None:
        order = self.mirror.get(order_id)
        if order is None:
            return
        if event.kind in (_E.ACKNOWLEDGE, _E.ACCEPT_CLOSED, _E.REJECT):
            self.held.discard(order_id)
        try:
            order.apply(event)
        except IllegalTransition:
            log.error("mirror of %s refused %s", order_id, event.kind.value)
        if event.is_fill:
            self.fills.setdefault(order_id, []).append(event)

    def _forget_finished(self) -> None:
        finished = [oid for oid, o in self.mirror.items() if o.status.is_terminal]
        for oid in finished[: max(0, len(finished) - self.keep_finished)]:
            if oid not in self.unbooked:
                self.mirror.pop(oid, None)
                self.fills.pop(oid, None)
