"""The ledger read as Alpaca's account activities: a ``FILL`` per execution, and a
non-trade activity per other entry (``CSD`` deposit, ``CSW`` withdrawal, ``FEE``, and
``JNLC`` for a paper reset, a cash journal).

An activity id is Alpaca's form, ``<YYYYMMDDHHMMSSmmm>::<ledger entry id>``, so each one
names the ledger entry it shows (``GET .../activities``); the id of a page's last
activity is the ``page_token`` of the next page, as at Alpaca.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session

from cluster.orders.tables import fills, journal_entries, orders, postings
from domain.errors import ValidationFailed
from domain.ledger import CASH, EntryKind

_NY = ZoneInfo("America/New_York")
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class TradeActivity:
    id: str
    account_id: str
    transaction_time: datetime
    type: str  # "fill" | "partial_fill"
    price: Decimal
    qty: Decimal
    side: str
    symbol: str
    leaves_qty: Decimal
    order_id: str
    cum_qty: Decimal
    order_status: str  # the order's status right after this fill


@dataclass(frozen=True, slots=True)
class CashActivity:
    id: str
    account_id: str
    activity_type: str  # CSD | CSW | FEE | JNLC
    date: date
    net_amount: Decimal
    description: str


Activity = TradeActivity | CashActivity


def activity_id(at: datetime, entry_id: str) -> str:
    utc = at.astimezone(UTC)
    return f"{utc:%Y%m%d%H%M%S}{utc.microsecond // 1000:03d}::{entry_id}"


def cash_type(kind: str, cash: Decimal) -> str:
    if kind == EntryKind.FUNDING:
        return "CSD" if cash >= 0 else "CSW"
    return "FEE" if kind == EntryKind.FEE else "JNLC"


def page(s: Session, account_id: str, size: int, token: str | None) -> list[Activity]:
    acct = uuid.UUID(account_id)
    stmt = select(journal_entries).where(journal_entries.c.account_id == acct)
    if token is not None:
        before = s.execute(
            select(journal_entries.c.seq).where(
                journal_entries.c.account_id == acct,
                journal_entries.c.id == token.partition("::")[2],
            )
        ).scalar_one_or_none()
        if before is None:
            raise ValidationFailed("page_token", "unknown", "page_token names no activity")
        stmt = stmt.where(journal_entries.c.seq < before)
    heads = s.execute(stmt.order_by(journal_entries.c.seq.desc()).limit(size)).mappings().all()
    ids = [h["id"] for h in heads]
    cash = dict(
        s.execute(
            select(postings.c.entry_id, postings.c.amount).where(
                postings.c.entry_id.in_(ids), postings.c.ledger_account == CASH
            )
        ).all()
    )
    trades = _fills(s, [i.removeprefix("fill:") for i in ids if i.startswith("fill:")])
    out: list[Activity] = []
    for h in heads:
        aid = activity_id(h["at"], h["id"])
        if h["kind"] == EntryKind.FILL and h["id"] in trades:
            out.append(_trade(aid, account_id, trades[h["id"]]))
        else:
            amount = Decimal(cash.get(h["id"], ZERO))
            kind = cash_type(h["kind"], amount)
            day = h["at"].astimezone(_NY).date()
            out.append(CashActivity(aid, account_id, kind, day, amount, h["memo"]))
    return out


def _fills(s: Session, executions: list[str]) -> dict[str, dict[str, object]]:
    """The fills of ``executions`` with their order's quantity and the cumulative quantity
    of that order up to and including each fill (in booking order)."""
    if not executions:
        return {}
    order_ids = select(fills.c.order_id).where(fills.c.execution_id.in_(executions))
    entry = literal("fill:") + fills.c.execution_id
    cum = (
        func.sum(fills.c.qty)
        .over(partition_by=fills.c.order_id, order_by=journal_entries.c.seq)
        .label("cum_qty")
    )
    inner = (
        select(fills, cum, entry.label("entry_id"))
        .join(journal_entries, journal_entries.c.id == entry)
        .where(fills.c.order_id.in_(order_ids))
        .subquery()
    )
    rows = s.execute(
        select(inner, orders.c.qty.label("order_qty"), orders.c.filled_qty.label("order_filled"))
        .join(orders, orders.c.id == inner.c.order_id)
        .where(inner.c.execution_id.in_(executions))
    ).mappings()
    return {r["entry_id"]: dict(r) for r in rows}


def _trade(aid: str, account_id: str, r: dict[str, object]) -> TradeActivity:
    cum = Decimal(str(r["cum_qty"]))
    target = r["order_qty"] if r["order_qty"] is not None else r["order_filled"]
    leaves = max(ZERO, Decimal(str(target)) - cum)
    at = r["at"]
    assert isinstance(at, datetime)
    return TradeActivity(
        id=aid,
        account_id=account_id,
        transaction_time=at,
        type="fill" if leaves == 0 else "partial_fill",
        price=Decimal(str(r["price"])),
        qty=Decimal(str(r["qty"])),
        side=str(r["side"]),
        symbol=str(r["symbol"]),
        leaves_qty=leaves,
        order_id=str(r["order_id"]),
        cum_qty=cum,
        order_status="filled" if leaves == 0 else "partially_filled",
    )
