"""The portfolio side of ``OrderService``: marked positions, the account's valuation,
closing positions, bulk cancels and the equity history, one call each for a route.

The I/O is here (ledger balances, open orders, the quote lookup, the account row); the
arithmetic is ``domain.portfolio``. ``OrderService`` inherits this mixin and supplies the
methods named in ``_Service``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from cluster.orders import activity_feed
from cluster.orders.types import Position, SubmitResult
from cluster.tables import accounts
from domain import portfolio as pf
from domain.errors import DomainError, NotFound
from domain.ids import AccountId, OrderId, Symbol
from domain.ledger import JournalEntry
from domain.order_request import OrderRequest, ReplaceRequest
from domain.orders import Order, OrderType, Side, TimeInForce

#: the most open orders a bulk cancel takes in one call (the order list's page limit)
BULK_LIMIT = 500
HISTORY_LIMIT = 500


class _Prices(Protocol):
    @property
    def ask(self) -> Decimal | None: ...
    @property
    def bid(self) -> Decimal | None: ...


class _Service(Protocol):
    def _tx(self) -> AbstractContextManager[Session]: ...
    def _quote_prices(self, symbol: str) -> _Prices: ...
    def positions(self, account_id: AccountId) -> list[Position]: ...
    def cash(self, account_id: AccountId) -> Decimal: ...
    def buying_power(self, account_id: AccountId) -> Decimal: ...
    def list_orders(
        self, account_id: AccountId, *, status: str | None = ..., limit: int = ...
    ) -> tuple[list[Order], str | None]: ...
    def submit(self, account_id: AccountId, request: OrderRequest) -> SubmitResult: ...
    def request_cancel(self, account_id: AccountId, order_id: OrderId) -> Order: ...
    def get(self, account_id: AccountId, order_id: OrderId) -> Order: ...
    def request_replace(
        self, account_id: AccountId, order_id: OrderId, replace: ReplaceRequest
    ) -> tuple[Order, Order]: ...
    def activities(
        self, account_id: AccountId, *, limit: int = ..., cursor: str | None = ...
    ) -> tuple[list[JournalEntry], str | None]: ...
    def marked_positions(self, account_id: AccountId) -> list[pf.MarkedPosition]: ...
    def fund(self, account_id: AccountId, amount: Decimal) -> JournalEntry: ...
    def reset(self, account_id: AccountId, starting_cash: Decimal) -> None: ...


@dataclass(frozen=True, slots=True)
class AccountSummary:
    """The valuation with the account row's facts (status, currency, opening time)."""

    account_id: str
    status: str
    currency: str
    created_at: datetime
    valuation: pf.Valuation


#: one entry of a bulk answer: the key (order id or symbol) and its order or its error
Outcome = tuple[str, Order | DomainError]


class PortfolioOps:
    def marked_positions(self: _Service, account_id: AccountId) -> list[pf.MarkedPosition]:
        """Every open position at its mark (the quote's mid; at cost without a quote)."""
        held = self.positions(account_id)
        opens, _ = (
            self.list_orders(account_id, status="open", limit=BULK_LIMIT) if held else ([], None)
        )
        out = []
        for p in held:
            quote = self._quote_prices(p.symbol)  # a failing lookup reads as none
            price = pf.mark_price(quote.bid, quote.ask, p.avg_entry_price)
            holding = pf.Holding(p.symbol, p.qty, p.avg_entry_price, p.cost_basis)
            out.append(pf.mark_position(holding, price, pf.held_by_orders(opens, p.symbol, p.qty)))
        return out

    def marked_position(self: _Service, account_id: AccountId, symbol: str) -> pf.MarkedPosition:
        sym = str(Symbol.parse(symbol, "symbol"))
        for p in self.marked_positions(account_id):
            if p.symbol == sym:
                return p
        raise NotFound(f"no open position in {sym}")

    def account_summary(self: _Service, account_id: AccountId) -> AccountSummary:
        with self._tx() as s:
            row = s.execute(
                select(accounts.c.status, accounts.c.currency, accounts.c.created_at).where(
                    accounts.c.id == uuid.UUID(str(account_id))
                )
            ).one_or_none()
        if row is None:
            raise NotFound(f"account {account_id} not found")
        valuation = pf.value_account(
            self.cash(account_id), self.buying_power(account_id), self.marked_positions(account_id)
        )
        return AccountSummary(str(account_id), row.status, row.currency, row.created_at, valuation)

    def close_position(
        self: _Service,
        account_id: AccountId,
        symbol: str,
        qty: str | None = None,
        percentage: str | None = None,
    ) -> Order:
        """A market day order closing all of a position, ``qty`` shares or ``percentage``."""
        sym = str(Symbol.parse(symbol, "symbol"))
        for p in self.positions(account_id):
            if p.symbol == sym:
                return _close(self, account_id, p, qty, percentage)
        raise NotFound(f"no open position in {sym}")

    def close_all_positions(self: _Service, account_id: AccountId) -> list[Outcome]:
        """Each position closed by its own market order; a refusal is kept, not raised."""
        out: list[Outcome] = []
        for p in self.positions(account_id):
            try:
                out.append((p.symbol, _close(self, account_id, p, None, None)))
            except DomainError as exc:
                out.append((p.symbol, exc))
        return out

    def cancel_all_orders(self: _Service, account_id: AccountId) -> list[Outcome]:
        """A cancel request for each open order; a refusal is kept, not raised."""
        opens, _ = self.list_orders(account_id, status="open", limit=BULK_LIMIT)
        out: list[Outcome] = []
        for order in opens:
            try:
                out.append((str(order.id), self.request_cancel(account_id, order.id)))
            except DomainError as exc:
                out.append((str(order.id), exc))
        return out

    def replace_order(
        self: _Service, account_id: AccountId, order_id: OrderId, changes: dict[str, object]
    ) -> Order:
        """Validate ``changes`` against the stored order and replace it; the new order."""
        replace = ReplaceRequest.parse(self.get(account_id, order_id), **changes)  # type: ignore[arg-type]
        return self.request_replace(account_id, order_id, replace)[1]

    def fund_paper(self: _Service, account_id: AccountId, amount: Decimal) -> Decimal:
        """Paper funding (``OrderService.fund``); the cash balance afterwards."""
        self.fund(account_id, amount)
        return self.cash(account_id)

    def reset_paper(self: _Service, account_id: AccountId, starting_cash: Decimal) -> Decimal:
        """Paper reset (``OrderService.reset``); the cash balance afterwards."""
        self.reset(account_id, starting_cash)
        return self.cash(account_id)

    def portfolio_history(self: _Service, account_id: AccountId) -> list[pf.HistoryPoint]:
        """Equity after each of the last ``HISTORY_LIMIT`` ledger entries, oldest first."""
        entries, _ = self.activities(account_id, limit=HISTORY_LIMIT)
        return pf.equity_history(list(reversed(entries)))

    def account_activities(
        self: _Service, account_id: AccountId, *, page_size: int, page_token: str | None
    ) -> Sequence[activity_feed.Activity]:
        """The ledger as Alpaca's account activities, newest first."""
        with self._tx() as s:
            return activity_feed.page(s, str(account_id), page_size, page_token)


def _close(
    service: _Service, account_id: AccountId, p: Position, qty: str | None, pct: str | None
) -> Order:
    amount = pf.close_quantity(p.qty, qty, pct)
    request = OrderRequest.parse(
        symbol=p.symbol,
        side=(Side.SELL if p.qty > 0 else Side.BUY).value,
        type=OrderType.MARKET.value,
        time_in_force=TimeInForce.DAY.value,
        qty=str(amount),
    )
    return service.submit(account_id, request).order
