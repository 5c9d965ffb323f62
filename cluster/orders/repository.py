"""SQL for orders, fills and order events. Functions take the caller's ``Session``, so the
service decides what one transaction holds; nothing here commits."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, func, insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from cluster.orders import mappers
from cluster.orders.tables import accounts_table, fills, order_events, orders
from domain.errors import NotFound, ValidationFailed
from domain.orders import Order, OrderEvent, OrderStatus

OPEN_STATUSES = tuple(s.value for s in OrderStatus if s.is_open)
CLOSED_STATUSES = tuple(s.value for s in OrderStatus if s.is_terminal)
MAX_PAGE = 500


def lock_account(session: Session, account_id: str) -> str:
    """``SELECT ... FOR UPDATE`` on the account row: every write that moves buying power
    (submit, fills, funding, reset) holds it, so their checks see each other's results.
    Returns the account status."""
    status = session.execute(
        select(accounts_table.c.status)
        .where(accounts_table.c.id == _uuid(account_id, "account_id"))
        .with_for_update()
    ).scalar_one_or_none()
    if status is None:
        raise NotFound(f"account {account_id} not found")
    return str(status)


def _uuid(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise NotFound(f"{field} {value} not found") from exc


def account_of_order(session: Session, order_id: str) -> str | None:
    found = session.execute(
        select(orders.c.account_id).where(orders.c.id == _uuid(order_id, "order"))
    ).scalar_one_or_none()
    return None if found is None else str(found)


def load_order(session: Session, order_id: str, *, lock: bool = False) -> Order | None:
    stmt = select(orders).where(orders.c.id == _uuid(order_id, "order"))
    if lock:
        stmt = stmt.with_for_update()
    row = session.execute(stmt).mappings().one_or_none()
    if row is None:
        return None
    ids = session.execute(select(fills.c.execution_id).where(fills.c.order_id == row["id"]))
    return mappers.order_from_row(row, ids.scalars())


def find_by_client_id(session: Session, account_id: str, client_order_id: str) -> Row[Any] | None:
    return session.execute(
        select(orders).where(
            orders.c.account_id == _uuid(account_id, "account"),
            orders.c.client_order_id == client_order_id,
        )
    ).one_or_none()


def find_by_idempotency_key(session: Session, account_id: str, key: str) -> Row[Any] | None:
    return session.execute(
        select(orders).where(
            orders.c.account_id == _uuid(account_id, "account"), orders.c.idempotency_key == key
        )
    ).one_or_none()


def insert_order(
    session: Session,
    order: Order,
    *,
    fingerprint: str,
    idempotency_key: str | None,
    broker: str,
) -> None:
    values = mappers.insert_values(
        order, fingerprint=fingerprint, idempotency_key=idempotency_key, broker=broker
    )
    session.execute(insert(orders).values(**values))


def update_order(session: Session, order: Order) -> None:
    session.execute(
        update(orders)
        .where(orders.c.id == uuid.UUID(order.id))
        .values(**mappers.update_values(order))
    )


def insert_event(
    session: Session,
    order_id: str,
    kind: str,
    from_status: OrderStatus | None,
    to_status: OrderStatus,
    at: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    session.execute(
        insert(order_events).values(
            order_id=uuid.UUID(order_id),
            kind=kind,
            from_status=None if from_status is None else from_status.value,
            to_status=to_status.value,
            at=at,
            detail=detail or {},
        )
    )


def insert_fill(session: Session, order: Order, event: OrderEvent) -> bool:
    """Record one execution; False if its id is already stored (a replay: no-op)."""
    assert event.qty is not None and event.price is not None
    stmt = (
        pg_insert(fills)
        .values(
            execution_id=event.execution_id,
            order_id=uuid.UUID(order.id),
            account_id=uuid.UUID(order.account_id),
            symbol=str(order.symbol),
            side=order.side.value,
            qty=event.qty.value,
            price=event.price.value,
            at=event.at,
            fee=event.fee or 0,
        )
        .on_conflict_do_nothing(index_elements=["execution_id"])
        .returning(fills.c.execution_id)
    )
    return session.execute(stmt).scalar_one_or_none() is not None


def open_orders(
    session: Session,
    *,
    account_id: str | None = None,
    broker: str | None = None,
    where: Sequence[ColumnElement[bool]] = (),
) -> list[Order]:
    """Non-terminal orders, oldest first (time priority for a broker replaying them)."""
    stmt = select(orders).where(orders.c.status.in_(OPEN_STATUSES), *where)
    if account_id is not None:
        stmt = stmt.where(orders.c.account_id == _uuid(account_id, "account"))
    if broker is not None:
        stmt = stmt.where(orders.c.broker == broker)
    rows = session.execute(stmt.order_by(orders.c.created_at, orders.c.id)).mappings().all()
    if not rows:
        return []
    seen: dict[str, list[str]] = {}
    if any(r["filled_qty"] > 0 for r in rows):
        ids = [r["id"] for r in rows if r["filled_qty"] > 0]
        for oid, eid in session.execute(
            select(fills.c.order_id, fills.c.execution_id).where(fills.c.order_id.in_(ids))
        ):
            seen.setdefault(str(oid), []).append(eid)
    return [mappers.order_from_row(r, seen.get(str(r["id"]), ())) for r in rows]


def encode_cursor(at: datetime, key: str) -> str:
    raw = json.dumps([at.isoformat(), key]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at_text, key = json.loads(raw)
        at = datetime.fromisoformat(at_text)
        if at.tzinfo is None or not isinstance(key, str):
            raise ValueError("bad cursor")
        return at, key
    except (ValueError, TypeError) as exc:
        raise ValidationFailed("cursor", "cursor-format", "cursor is not valid") from exc


def page_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed("limit", "range", f"limit must be 1..{MAX_PAGE}")
    return limit


def list_orders(
    session: Session,
    account_id: str,
    *,
    statuses: Sequence[str] | None,
    side: str | None,
    symbols: Sequence[str] | None,
    after: datetime | None,
    until: datetime | None,
    limit: int,
    cursor: str | None,
    descending: bool,
) -> tuple[list[Order], str | None]:
    """One page, ordered by (created_at, id); the cursor is the last row's key."""
    c = orders.c
    stmt = select(orders).where(c.account_id == _uuid(account_id, "account"))
    if statuses is not None:
        stmt = stmt.where(c.status.in_(list(statuses)))
    if side is not None:
        stmt = stmt.where(c.side == side)
    if symbols:
        stmt = stmt.where(c.symbol.in_(list(symbols)))
    if after is not None:
        stmt = stmt.where(c.created_at > after)
    if until is not None:
        stmt = stmt.where(c.created_at < until)
    if cursor is not None:
        at, key = decode_cursor(cursor)
        k = tuple_(c.created_at, c.id)
        bound = tuple_(at, _uuid(key, "cursor"))
        stmt = stmt.where(k < bound if descending else k > bound)
    order = (c.created_at.desc(), c.id.desc()) if descending else (c.created_at, c.id)
    rows = session.execute(stmt.order_by(*order).limit(limit + 1)).mappings().all()
    page = [mappers.order_from_row(r) for r in rows[:limit]]
    more = len(rows) > limit
    last = page[-1] if page and more else None
    return page, None if last is None else encode_cursor(last.created_at, last.id)


def bump_ack_checks(session: Session, order_id: str) -> int:
    return int(
        session.execute(
            update(orders)
            .where(orders.c.id == _uuid(order_id, "order"))
            .values(ack_checks=orders.c.ack_checks + 1)
            .returning(orders.c.ack_checks)
        ).scalar_one()
    )


def set_broker_order_id(session: Session, order_id: str, broker_order_id: str) -> None:
    session.execute(
        update(orders)
        .where(orders.c.id == _uuid(order_id, "order"))
        .values(broker_order_id=broker_order_id)
    )


def find_by_broker_order_id(session: Session, broker: str, broker_order_id: str) -> str | None:
    found = session.execute(
        select(orders.c.id).where(
            and_(orders.c.broker == broker, orders.c.broker_order_id == broker_order_id)
        )
    ).scalar_one_or_none()
    return None if found is None else str(found)


def count_open(session: Session, account_id: str) -> int:
    return int(
        session.execute(
            select(func.count()).where(
                orders.c.account_id == _uuid(account_id, "account"),
                orders.c.status.in_(OPEN_STATUSES),
            )
        ).scalar_one()
    )
