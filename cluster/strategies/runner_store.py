"""What a runner reads from PostgreSQL: its intended position and the last bar it traded.

Both come from the order path's own tables, so a restarted runner resumes from the record
(the ledger and its stored orders), not from memory it lost.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select

from cluster.db import Database
from cluster.orders import ledger_repo
from cluster.orders.tables import OPEN_STATUSES, orders
from domain.strategy.runner_core import parse_client_order_id

__all__ = ["intended_position", "last_traded_bar"]


def intended_position(db: Database, account_id: str, symbol: str) -> Decimal:
    """Shares held plus what the account's open orders for the symbol will still move."""
    c = orders.c
    remaining = func.coalesce(c.qty, 0) - c.filled_qty
    with db.session() as s:
        held = ledger_repo.position(s, account_id, symbol)
        rows = s.execute(
            select(c.side, func.coalesce(func.sum(remaining), 0))
            .where(
                c.account_id == uuid.UUID(account_id),
                c.symbol == symbol,
                c.status.in_(OPEN_STATUSES),
            )
            .group_by(c.side)
        ).all()
    pending = sum(
        (Decimal(total) if side == "buy" else -Decimal(total) for side, total in rows), Decimal(0)
    )
    return Decimal(held) + pending


def last_traded_bar(db: Database, strategy_id: str, symbol: str) -> datetime | None:
    """Start of the latest bar the instance placed an order for (any version), or None."""
    c = orders.c
    with db.session() as s:
        ids = s.execute(
            select(c.client_order_id)
            .where(c.strategy_id == strategy_id, c.symbol == symbol)
            .order_by(c.created_at.desc())
            .limit(20)
        ).scalars()
        starts = [p[3] for p in map(parse_client_order_id, ids) if p is not None]
    return max(starts, default=None)
