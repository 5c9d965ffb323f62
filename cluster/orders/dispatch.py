"""The outbox dispatcher: sends what the order service stored for the broker, in order.

One pass (``run_once``) claims the oldest unsent requests of one broker
(``outbox.claim``: ``FOR UPDATE SKIP LOCKED``, and ``attempts + 1`` committed before
anything is sent), sends each through ``BrokerRouter`` (which books the broker's answer:
acknowledgement, rejection), then stamps the request sent. Requests of one order go in
the order they were made; when one fails for a transient reason (broker down) the later
requests of the same order wait for the next pass.

Exactly once at the broker, across crashes:
- crash after the claim, before the send: the request is still unsent; the next pass
  sends it (``attempts`` > 1 marks it as a resend);
- crash after the send, before the answer is booked or the request stamped: the next pass
  sends it again *as a resend*; the client order id is the broker-side idempotency key
  (Alpaca refuses a duplicate and the adapter answers the order the first send made; the
  paper broker answers an order it already holds with its status), so nothing is placed
  twice. An order already acknowledged is not sent again at all.

A cancel that races the submit: a client may cancel an order still ``pending_new``
(``pending_cancel``). If the submit was never sent (first attempt), the order ends
``canceled`` here without reaching the broker; otherwise the submit is sent, its
acknowledgement keeps the order ``pending_cancel``, and the cancel request that follows
in the outbox settles it (``canceled``, or ``filled`` if a fill wins, as for any cancel).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from cluster.db import Database
from cluster.orders import outbox, tables
from cluster.orders import repository as repo
from cluster.orders.router import BrokerRouter
from cluster.orders.service import OrderService
from domain.errors import DomainError, OperatorError, TransientError
from domain.ids import OrderId
from domain.orders import Order, OrderStatus
from domain.risk.codes import Denial
from domain.risk.gate import RiskBook

log = logging.getLogger(__name__)
_S = OrderStatus


class Dispatcher:
    def __init__(
        self,
        service: OrderService,
        router: BrokerRouter,
        *,
        batch: int = 100,
        hook: Callable[[str], None] | None = None,
        risk: Any = None,
        report: Callable[[int, int], Awaitable[None]] | None = None,
    ) -> None:
        self.service, self.router, self.batch = service, router, batch
        self.db: Database = service.db
        self.broker = router.broker_name
        self.hook = hook or (lambda point: None)
        #: a ``cluster.risk.view.RiskView``: halts are re-checked before a submit is sent,
        #: and nothing is sent while the broker's breaker refuses
        self.risk = risk
        #: tells the risk engine each pass's sends and failures (the broker's breaker)
        self.report = report
        self._book: Any = None
        self.totals: Counter[str] = Counter()
        self._touched: set[OrderId] = set()

    def pending(self) -> int:
        with self.db.session() as s:
            return outbox.pending(s, self.broker)

    def _claim(self) -> list[outbox.Request]:
        with self.db.session() as s:
            return outbox.claim(s, self.broker, self.batch)

    def _finish(self, outcomes: dict[int, str]) -> None:
        with self.db.session() as s:
            outbox.finish_all(s, outcomes)

    def _orders(self, requests: list[outbox.Request]) -> dict[str, Order]:
        """Every order a pass touches, in one read (ended ones are absent: nothing to do)."""
        ids = {r.order_id for r in requests} | {
            r.replacement_id for r in requests if r.replacement_id is not None
        }
        with self.db.session() as s:
            found = repo.open_orders(s, where=[tables.orders.c.id.in_([uuid.UUID(i) for i in ids])])
        return {o.id: o for o in found}

    def _boundary(self, order: Order) -> Denial | None:
        if self._book is None or order.submitted_at is not None:
            return None
        book: RiskBook = self._book
        return book.boundary_denial(
            account_id=order.account_id,
            symbol=str(order.symbol),
            side=order.side,
            client_order_id=str(order.client_order_id),
            now=self.service.clock.now(),
        )

    def _failed(self, request: outbox.Request, error: str) -> None:
        with self.db.session() as s:
            outbox.failed(s, request.id, error)

    async def run_once(self) -> dict[str, int]:
        """One batch; returns the outcomes counted (``{}``: nothing was waiting)."""
        if self.risk is not None and self.broker in self.risk.book.snapshot.open_breakers:
            return {"retry": 1}  # leave the outbox alone until the breaker half-opens
        requests = await asyncio.to_thread(self._claim)
        counts: Counter[str] = Counter()
        if not requests:
            return {}
        if self.risk is not None:  # halts are re-checked against a confirmed book
            self._book = await asyncio.to_thread(self.risk.current)
        known = await asyncio.to_thread(self._orders, requests)
        self._touched = set()
        blocked: set[OrderId] = set()
        outcomes: dict[int, str] = {}
        for request in requests:
            if request.order_id in blocked:
                counts["waiting"] += 1
                continue
            self.hook("claimed")
            try:
                outcome = await self._send(request, known)
            except (TransientError, OperatorError) as exc:
                level = logging.ERROR if isinstance(exc, OperatorError) else logging.WARNING
                log.log(level, "%s %s: %s (will retry)", request.action, request.order_id, exc)
                blocked.add(request.order_id)
                await asyncio.to_thread(self._failed, request, str(exc))
                counts["retry"] += 1
                continue
            except DomainError as exc:  # the answer could not be booked: the reconciler will
                log.warning("%s %s refused: %s", request.action, request.order_id, exc)
                outcome = f"refused: {exc.code}"
            outcomes[request.id] = outcome
            counts[outcome.split(":", 1)[0]] += 1
        # one stamp for the pass: a crash before it resends the pass, which is a no-op at
        # the broker (see the module docstring)
        await asyncio.to_thread(self._finish, outcomes)
        self.totals.update(counts)
        if self.report is not None and (counts["sent"] or counts["retry"]):
            try:
                await self.report(counts["sent"], counts["retry"])
            except Exception:  # the breaker misses one pass; sending goes on
                log.warning("could not report broker results", exc_info=True)
        return dict(counts)

    async def _send(self, request: outbox.Request, known: dict[str, Order]) -> str:
        order: Order | None = known.get(request.order_id)
        if order is not None and order.id in self._touched:
            # an earlier request of this pass changed it (sent, voided): read it again
            order = await asyncio.to_thread(self.service.get_order, request.order_id)
        self._touched.add(request.order_id)
        if order is None or order.status.is_terminal:
            return "skipped"  # ended (canceled, rejected, filled...) before it was sent
        resend = request.attempts > 1
        if request.action == "submit":
            never_sent = not resend and order.submitted_at is None
            if order.status is _S.PENDING_CANCEL and never_sent:
                await asyncio.to_thread(self.service.cancel_unsent, order.id)
                return "voided"
            if order.status not in (_S.PENDING_NEW, _S.PENDING_CANCEL) or order.submitted_at:
                return "skipped"  # acknowledged (a resend after a crash) or ended
            denial = self._boundary(order)
            if denial is not None:
                await asyncio.to_thread(self.service.reject_unsent, order.id, denial)
                return "halted"
            self.hook("before_send")
            await self.router.submit(order, resend=resend)
            return "sent"
        if order.status.is_terminal:
            return "skipped"
        if request.action == "cancel":
            self.hook("before_send")
            await self.router.cancel(order)
            return "sent"
        assert request.replacement_id is not None
        new = known.get(request.replacement_id)
        if new is None:
            return "skipped"  # the replacement ended already
        self.hook("before_send")
        await self.router.replace(order, new)
        return "sent"
