"""Value types the order service returns, and the quote port it needs.

Kept apart from ``service.py`` so the REST layer, the broker actor and the reconciler can
import them without pulling in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from domain.marketdata import Quote
from domain.orders import Order


class QuoteLookup(Protocol):
    """The latest top of book for a symbol, or ``None`` when none is known."""

    def latest_quote(self, symbol: str) -> Quote | None: ...


class NoQuotes:
    """A lookup that knows no quotes: market buys fail closed (stored ``rejected``)."""

    def latest_quote(self, symbol: str) -> Quote | None:
        return None


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """``created`` is False when a retry returned the order stored the first time."""

    order: Order
    created: bool


@dataclass(frozen=True, slots=True)
class Position:
    """A holding derived from postings (qty) and fills since the last reset (cost)."""

    symbol: str
    qty: Decimal
    avg_entry_price: Decimal
    cost_basis: Decimal


@dataclass(frozen=True, slots=True)
class Difference:
    """One broken invariant: ``check`` names it, ``subject`` says where, values show how."""

    check: str
    account_id: str | None
    subject: str
    expected: str
    actual: str

    def __str__(self) -> str:
        where = f"account {self.account_id} " if self.account_id else ""
        return f"{self.check}: {where}{self.subject}: expected {self.expected}, got {self.actual}"
