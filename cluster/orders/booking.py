"""Broker facts: ``apply_events`` books what a broker (or the reconciler, or the dispatcher)
learned about one order, in ONE transaction with its durable events.

It locks the account, then the order (the lock order of every write path, so they cannot
deadlock), applies the events through ``Order.apply`` (the state machine) and writes the
order, fills, order-event rows, journal entries and the events the gateway streams, all or
nothing. A replayed execution id is a no-op; ``IllegalTransition`` or ``Overfill`` on any
event rolls the whole batch back.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from cluster.orders import ledger_repo
from cluster.orders import repository as repo
from cluster.orders.mappers import event_detail
from domain.errors import Conflict, NotFound
from domain.ids import OrderId
from domain.ledger import fill_entry
from domain.money import EXACT
from domain.orders import Order, OrderEvent, OrderEventKind, OrderStatus, Side, order_event_name
from domain.risk.codes import Denial

Message = tuple[str, str, dict[str, Any]]


class BookingOps:
    """Mixed into ``OrderService``, which supplies the plumbing below."""

    def _tx(self) -> AbstractContextManager[Session]:
        raise NotImplementedError

    def _now(self) -> Any:
        raise NotImplementedError

    def _publish_in(self, s: Session, messages: list[Message]) -> None:
        raise NotImplementedError

    def _message(self, name: str, order: Order, at: Any, **fill: Any) -> Message:
        raise NotImplementedError

    def apply_events(self, order_id: OrderId, events: list[OrderEvent]) -> Order:
        messages: list[Message] = []
        with self._tx() as s:
            account_id = repo.account_of_order(s, order_id)
            if account_id is None:
                raise NotFound(f"order {order_id} not found")
            repo.lock_account(s, account_id)
            order = repo.load_order(s, order_id, lock=True)
            assert order is not None
            position = ledger_repo.position(s, account_id, str(order.symbol))
            applied: list[tuple[OrderEvent, OrderStatus, OrderStatus]] = []
            for event in events:
                before = order.status
                if not order.apply(event):
                    continue
                applied.append((event, before, order.status))
                if event.is_fill:
                    assert event.qty is not None and event.price is not None
                    sign = 1 if order.side is Side.BUY else -1
                    position = EXACT.add(position, sign * event.qty.value)
                    name = "fill" if order.status is OrderStatus.FILLED else "partial_fill"
                    messages.append(
                        self._message(
                            name,
                            order,
                            event.at,
                            price=event.price.value,
                            qty=event.qty.value,
                            position_qty=position,
                        )
                    )
                else:
                    messages.append(self._message(order_event_name(event.kind), order, event.at))
            if not applied:
                return order
            repo.update_order(s, order)
            for event, before, after in applied:
                _record(s, order, event, before, after)
            self._publish_in(s, messages)
        return order

    def cancel_unsent(self, order_id: OrderId) -> Order:
        """End a ``pending_cancel`` order whose submit never left the outbox: ``canceled``
        without the broker (the dispatcher calls this; see ``dispatch``)."""
        event = OrderEvent(
            OrderEventKind.CANCELED, self._now(), reason="canceled before it reached the broker"
        )
        return self.apply_events(order_id, [event])

    def reject_unsent(self, order_id: OrderId, denial: Denial) -> Order:
        """Reject a stored order the broker boundary refuses to send (a halt that the
        replica's risk book did not show yet when the order was accepted)."""
        event = OrderEvent(
            OrderEventKind.REJECT, self._now(), reason=denial.message, code=denial.code.value
        )
        return self.apply_events(order_id, [event])

    def set_broker_order_id(self, order_id: OrderId, broker_order_id: str) -> None:
        with self._tx() as s:
            repo.set_broker_order_id(s, order_id, broker_order_id)

    def record_ack_check(self, order_id: OrderId) -> int:
        """Count one reconciler check that found the order still unacknowledged."""
        with self._tx() as s:
            return repo.bump_ack_checks(s, order_id)


def _record(
    s: Session, order: Order, event: OrderEvent, before: OrderStatus, after: OrderStatus
) -> None:
    """Fill row, order event row and (for fills) the journal entry of one event."""
    if event.is_fill:
        assert event.qty is not None and event.price is not None
        assert event.execution_id is not None
        if not repo.insert_fill(s, order, event):
            raise Conflict(f"execution {event.execution_id} is booked to another order")
    repo.insert_event(s, order.id, event.kind.value, before, after, event.at, event_detail(event))
    if event.is_fill:
        assert event.qty is not None and event.price is not None
        assert event.execution_id is not None
        entry = fill_entry(
            order.account_id,
            str(order.symbol),
            order.side,
            event.qty.value,
            event.price.value,
            event.fee or Decimal(0),
            event.at,
            event.execution_id,
        )
        ledger_repo.insert_entry(s, entry)
