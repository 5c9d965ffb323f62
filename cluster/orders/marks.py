"""Storing what the paper engine's stop orders have seen of the market.

A trailing stop's water mark and a stop's trigger move with quotes, without any order
event, so ``OrderService.apply_events`` never writes them. The paper desk stores the marks
that moved once per quote batch, after booking the batch's events, in ONE statement:
``UPDATE orders ... FROM (VALUES (id, mark, triggered), ...)``. A restarted engine reads
them back (``PaperEngine.restore``). ``updated_at`` is left alone: it is the time of the
order's last event, and the quote floor of a restart is built from it.

Only open orders are touched: an order that ended in the meantime keeps what it had.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from sqlalchemy import Boolean, Numeric, cast, column, update, values
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Session

from cluster.orders import repository as repo
from cluster.orders.tables import orders
from domain.ids import OrderId
from domain.paper import StopMark


def save_marks(session: Session, marks: Mapping[OrderId, StopMark]) -> int:
    """Write the marks of a batch; returns how many open orders took them."""
    if not marks:
        return 0
    rows = values(
        column("id", UUID(as_uuid=True)),
        column("mark", Numeric()),
        column("triggered", Boolean()),
        name="marks",
    ).data([(uuid.UUID(oid), m.high_water_mark, m.triggered) for oid, m in marks.items()])
    stmt = (
        update(orders)
        .where(orders.c.id == rows.c.id, orders.c.status.in_(repo.OPEN_STATUSES))
        .values(high_water_mark=cast(rows.c.mark, Numeric()), stop_triggered=rows.c.triggered)
    )
    return int(session.execute(stmt).rowcount)  # type: ignore[attr-defined]
