"""What open orders hold back, summed by PostgreSQL instead of loaded row by row.

A submit must know the cash reserved by every open buy of the account. Loading them all
as ``Order`` objects made each submit O(open orders) in Python (the profile of
``bench/order_placement.py`` showed 75% of the time there at 150 open orders), so the
orders whose reservation needs no market price are summed in SQL with the same formula as
``domain.ledger.reservation``:

- notional: ``ceil_cents(max(0, notional - filled_notional))``
- limit, stop_limit: ``ceil_cents(open_qty x limit)``
- stop: ``ceil_cents(open_qty x stop x (1 + buffer))``

rounded up to the cent per order, as the domain does, plus the order's ``fee_reserve``
(the most it can pay in fees, whole cents). Market and trailing-stop buys need
the ask, so they are loaded (few: they fill or are priced at once) and reserved in Python.
``elson reconcile`` recomputes every reservation in Python, and a test compares the two.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Numeric, Select, and_, bindparam, case, func, select
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Session

from cluster.orders import repository as repo
from cluster.orders.tables import accounts_table, balances, orders
from domain.errors import NotFound
from domain.ledger import CASH, position_account
from domain.money import EXACT
from domain.orders import Order, OrderType, Side

_BPS = Decimal(10_000)
_PRICED = (OrderType.MARKET.value, OrderType.TRAILING_STOP.value)


def buffer_factor(buffer_bps: Decimal) -> Decimal:
    return EXACT.add(Decimal(1), EXACT.divide(buffer_bps, _BPS))


def _ceil_cents(amount: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.ceil(amount * 100) / 100


_NIL = uuid.UUID(int=0)  # no order has it: "exclude nothing"


def _open_buys() -> list[ColumnElement[bool]]:
    """Open buys of ``:account`` except ``:exclude``.

    An order with a pending replace counts as well as its replacement: until the broker
    confirms the replace, the old order's remainder can still fill, and the replacement
    then works its whole quantity (``domain.paper``; see ``risk.reserved_cash``)."""
    c = orders.c
    return [
        c.account_id == bindparam("account", type_=UUID(as_uuid=True)),
        c.side == Side.BUY.value,
        c.status.in_(repo.OPEN_STATUSES),
        c.id != bindparam("exclude", type_=UUID(as_uuid=True)),
    ]


def _needs_price() -> ColumnElement[bool]:
    return and_(orders.c.notional.is_(None), orders.c.type.in_(_PRICED))


def _reserved_sum() -> ColumnElement[Any]:
    c = orders.c
    open_qty = func.greatest(c.qty - c.filled_qty, 0)
    amount = case(
        (
            c.notional.is_not(None),
            _ceil_cents(func.greatest(c.notional - c.filled_notional, 0)),
        ),
        (
            c.type.in_((OrderType.LIMIT.value, OrderType.STOP_LIMIT.value)),
            _ceil_cents(open_qty * c.limit_price),
        ),
        (
            c.type == OrderType.STOP.value,
            _ceil_cents(open_qty * c.stop_price * bindparam("factor", type_=Numeric())),
        ),
        else_=0,
    )
    return func.coalesce(func.sum(amount + c.fee_reserve), 0)  # fees: on top, per open buy


@cache
def _buy_book_statement() -> Select[Any]:
    """Built once: constructing the expression costs more than running it."""
    reserved = select(_reserved_sum()).where(*_open_buys(), ~_needs_price())
    priced = select(func.count()).select_from(orders).where(*_open_buys(), _needs_price())
    cash = select(func.coalesce(func.sum(balances.c.amount), 0)).where(
        balances.c.account_id == bindparam("account", type_=UUID(as_uuid=True)),
        balances.c.ledger_account == CASH,
    )
    return select(cash.scalar_subquery(), reserved.scalar_subquery(), priced.scalar_subquery())


def _params(account_id: str, buffer_bps: Decimal, exclude: str | None) -> dict[str, Any]:
    return {
        "account": uuid.UUID(account_id),
        "exclude": _NIL if exclude is None else uuid.UUID(exclude),
        "factor": buffer_factor(buffer_bps),
    }


def buy_book(
    session: Session, account_id: str, buffer_bps: Decimal, *, exclude: str | None = None
) -> tuple[Decimal, Decimal, int]:
    """(cash, SQL-summed reservations, number of open buys that need a quote) in one
    round trip: the common submit path then needs no other read."""
    row = session.execute(_buy_book_statement(), _params(account_id, buffer_bps, exclude)).one()
    return Decimal(row[0]), Decimal(row[1]), int(row[2])


def sql_reserved(
    session: Session, account_id: str, buffer_bps: Decimal, *, exclude: str | None = None
) -> Decimal:
    """Cash reserved by open buys that need no quote (see the module docstring)."""
    return buy_book(session, account_id, buffer_bps, exclude=exclude)[1]


def priced_buys(session: Session, account_id: str, *, exclude: str | None = None) -> list[Order]:
    """Open market and trailing-stop buys: their reservation needs the current ask."""
    stmt = select(orders.c.id).where(*_open_buys(), _needs_price())
    ids = list(session.execute(stmt, _params(account_id, Decimal(0), exclude)).scalars())
    if not ids:
        return []
    return repo.open_orders(session, account_id=account_id, where=[orders.c.id.in_(ids)])


def open_sells(
    session: Session, account_id: str, symbol: str, *, exclude: str | None = None
) -> list[Order]:
    """Open sells of one symbol: what they promise comes out of the sellable shares."""
    c = orders.c
    where = [c.side == Side.SELL.value, c.symbol == symbol]
    if exclude is not None:
        where.append(c.id != uuid.UUID(exclude))
    return repo.open_orders(session, account_id=account_id, where=where)


def orders_since(session: Session, account_id: str, since: datetime) -> int:
    """Orders the account placed after ``since`` (the rate limit; an index range scan of
    ``ix_orders_account_id_created_at_id``, counted under the account lock so two replicas
    cannot both let the limit's last order through)."""
    stmt = (
        select(func.count())
        .select_from(orders)
        .where(orders.c.account_id == uuid.UUID(account_id), orders.c.created_at > since)
    )
    return int(session.execute(stmt).scalar_one())


class LockedFacts(NamedTuple):
    """What a submit reads with the account lock, in the same round trip."""

    status: str
    position: Decimal
    recent: int | None  # orders after ``since``; None when no rate limit asked


def lock_with_facts(
    session: Session, account_id: str, symbol: str, since: datetime | None
) -> LockedFacts:
    """``SELECT ... FOR UPDATE`` of the account row (as ``repository.lock_account``) that
    also reads the position in ``symbol`` and, when a rate limit applies, the orders placed
    after ``since``: one round trip where the checks used to take three."""
    account = uuid.UUID(account_id)
    position = (
        select(balances.c.amount)
        .where(
            balances.c.account_id == accounts_table.c.id,
            balances.c.ledger_account == position_account(symbol),
        )
        .scalar_subquery()
    )
    columns: list[Any] = [accounts_table.c.status, position]
    if since is not None:
        columns.append(
            select(func.count())
            .select_from(orders)
            .where(orders.c.account_id == accounts_table.c.id, orders.c.created_at > since)
            .scalar_subquery()
        )
    row = session.execute(
        select(*columns).where(accounts_table.c.id == account).with_for_update(of=accounts_table)
    ).first()
    if row is None:
        raise NotFound(f"account {account_id} not found")
    return LockedFacts(
        str(row[0]),
        Decimal(row[1] or 0),
        None if since is None else int(row[2]),
    )
