"""The read side of ``OrderService``: orders, positions and ledger pages of one account.

Reads take no locks and change nothing; each is one short transaction. They live apart
from the write paths (submit, broker events, cancel, replace) so each module stays small;
``OrderService`` inherits them and supplies ``_tx`` (its transaction with retryable
database errors translated). The portfolio calls (marked positions, the account summary,
closing positions, bulk cancels) come in through ``PortfolioOps`` (``portfolio.py``).
"""

from __future__ import annotations

import base64
from contextlib import AbstractContextManager
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from cluster.orders import ledger_repo
from cluster.orders import repository as repo
from cluster.orders.portfolio import PortfolioOps
from cluster.orders.types import Position
from domain.clock import require_aware
from domain.cost_basis import FillLine, average_entry_price, cost_bases
from domain.errors import NotFound, ValidationFailed
from domain.ids import AccountId, OrderId, Symbol
from domain.ledger import JournalEntry, to_cents
from domain.order_request import parse_enum
from domain.orders import Order, OrderStatus, Side


class OrderReads(PortfolioOps):
    def _tx(self) -> AbstractContextManager[Session]:
        raise NotImplementedError

    def _owned(self, s: Session, account_id: str, order_id: str, *, lock: bool) -> Order:
        """The order if it belongs to ``account_id``; otherwise ``NotFound`` (the same
        answer whether it does not exist or is someone else's)."""
        order = repo.load_order(s, order_id, lock=lock)
        if order is None or order.account_id != str(account_id):
            raise NotFound(f"order {order_id} not found")
        return order

    def positions(self, account_id: AccountId) -> list[Position]:
        """Quantities from postings; average entry price from fills since the last reset
        (average cost, ``domain.cost_basis``)."""
        with self._tx() as s:
            held = {
                account.split(":", 1)[1]: qty
                for account, qty in ledger_repo.balances(s, account_id).items()
                if account.startswith("position:") and qty != 0
            }
            rows = ledger_repo.fills_since(s, account_id, ledger_repo.last_reset_seq(s, account_id))
        costs = cost_bases(FillLine(sym, side, qty, price) for sym, side, qty, price, _ in rows)
        out = []
        for symbol in sorted(held):
            basis = costs.get(symbol, Decimal(0))
            out.append(
                Position(
                    symbol=symbol,
                    qty=held[symbol],
                    avg_entry_price=average_entry_price(basis, held[symbol]),
                    cost_basis=to_cents(basis),
                )
            )
        return out

    def activities(
        self, account_id: AccountId, *, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[JournalEntry], str | None]:
        """Ledger entries with their postings, newest first; the cursor is opaque."""
        before = None if cursor is None else _decode_seq(cursor)
        with self._tx() as s:
            entries, next_seq = ledger_repo.entries_page(
                s, account_id, limit=repo.page_limit(limit), before_seq=before
            )
        return entries, None if next_seq is None else _encode_seq(next_seq)

    def get(self, account_id: AccountId, order_id: OrderId) -> Order:
        with self._tx() as s:
            return self._owned(s, account_id, order_id, lock=False)

    def get_by_client_id(self, account_id: AccountId, client_order_id: str) -> Order:
        with self._tx() as s:
            row = repo.find_by_client_id(s, account_id, str(client_order_id))
            order = None if row is None else repo.load_order(s, str(row.id))
        if order is None:
            raise NotFound(f"order with client_order_id {client_order_id!r} not found")
        return order

    def get_order(self, order_id: OrderId) -> Order:
        """Any account's order: for the broker and the reconciler, never for clients."""
        with self._tx() as s:
            order = repo.load_order(s, order_id)
        if order is None:
            raise NotFound(f"order {order_id} not found")
        return order

    def list_orders(
        self,
        account_id: AccountId,
        *,
        status: str | None = None,
        side: str | None = None,
        symbols: list[str] | None = None,
        after: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
        direction: str = "desc",
    ) -> tuple[list[Order], str | None]:
        """A page of the account's orders (``status`` defaults to ``open`` as at Alpaca),
        ordered by (created_at, id), newest first unless ``direction='asc'``."""
        statuses = _statuses(status)
        parsed_side = None if side is None else parse_enum(Side, side, "side").value
        names = None if not symbols else sorted({str(Symbol.parse(x)) for x in symbols})
        if direction not in ("asc", "desc"):
            raise ValidationFailed("direction", "one-of", "direction must be asc or desc")
        for field, value in (("after", after), ("until", until)):
            if value is not None:
                require_aware(field, value)
        with self._tx() as s:
            return repo.list_orders(
                s,
                account_id,
                statuses=statuses,
                side=parsed_side,
                symbols=names,
                after=after,
                until=until,
                limit=repo.page_limit(limit),
                cursor=cursor,
                descending=direction == "desc",
            )

    def open_orders(self, *, broker: str | None = None) -> list[Order]:
        with self._tx() as s:
            return repo.open_orders(s, broker=broker)


def _statuses(status: str | None) -> tuple[str, ...] | None:
    if status is None or status == "open":
        return repo.OPEN_STATUSES
    if status == "closed":
        return repo.CLOSED_STATUSES
    if status == "all":
        return None
    try:
        return (OrderStatus(status).value,)
    except ValueError as exc:
        raise ValidationFailed(
            "status", "one-of", "status must be open, closed, all or an order status"
        ) from exc


def _encode_seq(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def _decode_seq(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = text.partition(":")
        if prefix != "seq":
            raise ValueError(text)
        return int(number)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed("cursor", "cursor-format", "cursor is not valid") from exc
