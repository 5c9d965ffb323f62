"""SQL of the broker outbox: requests written with the order change, sent by the dispatcher.

A row is written in the transaction that stores the request (``submit``, a cancel, a
replace), so a request exists for the broker if and only if the client's change committed.
The dispatcher claims rows (``claim``: ``attempts + 1`` committed *before* anything is
sent, so ``attempts > 1`` means "a previous attempt may have reached the broker"), sends
them, and stamps ``sent_at`` with the outcome (``finish``). Rows are kept: they are the
record of what was sent when.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Text, column, insert, select, update, values
from sqlalchemy.orm import Session
from sqlalchemy.sql import func

from cluster.orders.tables import broker_outbox
from domain.ids import OrderId


@dataclass(frozen=True, slots=True)
class Request:
    id: int
    order_id: OrderId
    action: str
    replacement_id: OrderId | None
    attempts: int


def add(
    session: Session,
    order_id: str,
    action: str,
    broker: str,
    *,
    replacement_id: str | None = None,
) -> None:
    session.execute(
        insert(broker_outbox).values(
            order_id=uuid.UUID(order_id),
            action=action,
            broker=broker,
            replacement_id=None if replacement_id is None else uuid.UUID(replacement_id),
        )
    )


def claim(session: Session, broker: str, limit: int) -> list[Request]:
    """The oldest unsent requests of ``broker``, counted as one more attempt each."""
    c = broker_outbox.c
    picked = (
        select(c.id)
        .where(c.broker == broker, c.sent_at.is_(None))
        .order_by(c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    rows = session.execute(
        update(broker_outbox)
        .where(c.id.in_(picked))
        .values(attempts=c.attempts + 1)
        .returning(c.id, c.order_id, c.action, c.replacement_id, c.attempts)
    ).all()
    return sorted((_request(r) for r in rows), key=lambda q: q.id)


def _request(row: Any) -> Request:
    return Request(
        id=int(row.id),
        order_id=OrderId(str(row.order_id)),
        action=str(row.action),
        replacement_id=None if row.replacement_id is None else OrderId(str(row.replacement_id)),
        attempts=int(row.attempts),
    )


def finish_all(session: Session, outcomes: dict[int, str]) -> None:
    """Stamp a pass's requests sent, each with its outcome, in one statement."""
    if not outcomes:
        return
    c = broker_outbox.c
    done = values(column("id", BigInteger), column("outcome", Text), name="done").data(
        list(outcomes.items())
    )
    session.execute(
        update(broker_outbox)
        .where(c.id == done.c.id)
        .values(sent_at=func.now(), outcome=done.c.outcome, last_error=None)
    )


def failed(session: Session, request_id: int, error: str) -> None:
    c = broker_outbox.c
    session.execute(update(broker_outbox).where(c.id == request_id).values(last_error=error[:500]))


def pending(session: Session, broker: str | None = None) -> int:
    c = broker_outbox.c
    stmt = select(func.count()).select_from(broker_outbox).where(c.sent_at.is_(None))
    if broker is not None:
        stmt = stmt.where(c.broker == broker)
    return int(session.execute(stmt).scalar_one())
