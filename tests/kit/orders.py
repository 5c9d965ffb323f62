"""Builders for order tests: user and account rows, funding, requests, and clean-up.

Rows are written straight into the real PostgreSQL (no fakes of it): a user, one account,
and a deposit through ``OrderService.fund`` so the ledger is the service's own.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import insert

from cluster.db import Database
from cluster.orders.service import OrderService
from cluster.tables import accounts, users
from domain.ids import AccountId
from domain.order_request import OrderRequest
from domain.orders import Order, OrderEvent, OrderEventKind, OrderStatus

_S = OrderStatus


def create_account(db: Database, *, email: str | None = None) -> AccountId:
    """A user and an active individual account; returns the account id."""
    user_id, account_id = uuid.uuid4(), uuid.uuid4()
    with db.session() as s:
        s.execute(
            insert(users).values(
                id=user_id,
                email=email or f"trader-{user_id.hex[:12]}@example.test",
                password_hash="x",
            )
        )
        s.execute(insert(accounts).values(id=account_id, owner_user_id=user_id, type="individual"))
    return AccountId(str(account_id))


def funded_account(db: Database, service: OrderService, cash: Decimal | str) -> AccountId:
    account_id = create_account(db)
    service.fund(account_id, Decimal(str(cash)))
    return account_id


def request(
    symbol: str = "AAPL",
    side: str = "buy",
    type: str = "market",
    time_in_force: str = "day",
    **fields: Any,
) -> OrderRequest:
    """An ``OrderRequest`` from wire-like values (``qty="10"``, ``limit_price="100"``)."""
    return OrderRequest.parse(
        symbol=symbol, side=side, type=type, time_in_force=time_in_force, **fields
    )


def place(service: OrderService, account_id: AccountId, **fields: Any) -> Order:
    """Store a ``pending_new`` order (the risk checks must pass)."""
    order = service.submit(account_id, request(**fields)).order
    if order.status is not _S.PENDING_NEW:
        raise AssertionError(f"order was {order.status.value}: {order.reject_reason}")
    return order


def close_open_orders(service: OrderService, account_ids: list[AccountId]) -> None:
    """End every open order of these accounts so later tests' brokers do not adopt them.

    Orders are never deleted; they are ended through the state machine like a broker
    would (reject what never worked, cancel or expire what did).
    """
    mine = {str(a) for a in account_ids}
    for order in service.open_orders():
        if order.account_id not in mine:
            continue
        now = order.updated_at or order.created_at
        if order.status in (_S.PENDING_NEW, _S.ACCEPTED):
            event = OrderEvent(OrderEventKind.REJECT, now, reason="test teardown")
        elif order.status is _S.PENDING_REPLACE:
            event = OrderEvent(OrderEventKind.EXPIRE, now, reason="test teardown")
        else:
            event = OrderEvent(OrderEventKind.CANCELED, now, reason="test teardown")
        try:
            service.apply_events(order.id, [event])
        except Exception:  # best effort: a racing broker may have ended it first
            pass
