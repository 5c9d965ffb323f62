"""OrderService: the one place orders and the ledger change, behind one small facade.

- ``SubmitOps`` (``submit.py``): the client's requests, submit, cancel, replace; each one
  transaction that stores the change with its broker outbox row.
- ``BookingOps`` (``booking.py``): broker facts, from the paper broker, the dispatcher or
  the reconciler, booked in one transaction per order.
- ``OrderReads`` (``reads.py``): orders, positions, ledger pages.
- here: the plumbing they share, and the ledger operations (funding, reset, balances).

Every change writes its durable events in its own transaction (``_publish_in`` ->
``cluster.eventlog.store.append``): an event exists if and only if its change committed,
with a gap-free per-stream sequence number, and the relay publishes it to Redis. Nothing
in this service talks to Redis or to a broker.

Balances are materialized (``balances``, kept by a trigger on ``postings`` in the same
transaction); the postings stay the truth and ``elson reconcile`` checks the two agree.
Lock order is always account, then order, so the write paths cannot deadlock each other.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from cluster.db import Database
from cluster.eventlog import store as eventlog
from cluster.orders import exposure, invariants, ledger_repo
from cluster.orders import repository as repo
from cluster.orders.booking import BookingOps
from cluster.orders.reads import OrderReads
from cluster.orders.submit import Prices, SubmitOps, request_of
from cluster.orders.types import Difference, NoQuotes, Position, QuoteLookup, SubmitResult
from cluster.orders.wire import trade_update
from domain.clock import Clock, require_aware
from domain.errors import Conflict, RiskDenied, TransientError
from domain.fees import FeeModel
from domain.ids import AccountId
from domain.ledger import JournalEntry, funding_entry, reset_entry
from domain.market_hours import MarketCalendar
from domain.money import EXACT, to_decimal
from domain.orders import Order
from domain.risk import checks as risk

__all__ = [
    "Difference",
    "OrderService",
    "Position",
    "QuoteLookup",
    "SubmitResult",
    "request_of",
]

log = logging.getLogger(__name__)

Message = tuple[str, str, dict[str, Any]]
#: serialization failure, deadlock, lock not available, statement timeout (a long lock wait)
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03", "57014"})


def _sqlstate(exc: Exception) -> str | None:
    return getattr(getattr(exc, "orig", None), "sqlstate", None)


class OrderService(SubmitOps, BookingOps, OrderReads):
    def __init__(
        self,
        db: Database,
        clock: Clock,
        calendar: MarketCalendar,
        quotes: QuoteLookup | None,
        *,
        reserve_buffer_bps: Decimal = Decimal("50"),
        broker_name: str = "paper",
        fees: FeeModel | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.calendar = calendar
        self.quotes: QuoteLookup = quotes if quotes is not None else NoQuotes()
        self.reserve_buffer_bps = reserve_buffer_bps
        self.broker_name = broker_name
        #: what a buy holds for fees on top of its cash (the paper broker's fee model)
        self.fees = fees or FeeModel.free()

    # -- plumbing --------------------------------------------------------------------

    def _now(self) -> datetime:
        return require_aware("now", self.clock.now())

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        """One transaction; lock timeouts, deadlocks and serialization failures become
        ``TransientError`` (safe to retry: nothing was committed)."""
        try:
            with self.db.session() as session:
                yield session
        except OperationalError as exc:
            if _sqlstate(exc) in _RETRYABLE_SQLSTATES:
                raise TransientError("database contention; retry") from exc
            raise

    def _publish_in(self, s: Session, messages: list[Message]) -> None:
        eventlog.append(s, messages)

    def _quote_prices(self, symbol: str) -> Prices:
        """Ask and bid of the latest quote (the feed cache, else the feed shards); a failing
        lookup reads as no quote (fail closed), and ``why`` says where it looked."""
        why = ""
        try:
            lookup = getattr(self.quotes, "lookup", None)
            if lookup is not None:
                answer = lookup(symbol)
                quote, why = answer.quote, answer.reason
            else:
                quote = self.quotes.latest_quote(symbol)
        except Exception:
            log.warning("quote lookup for %s failed", symbol, exc_info=True)
            return Prices(why=f"the quote lookup for {symbol} failed")
        if quote is None:
            return Prices(why=why)
        ask = quote.ask_price if quote.ask_price > 0 else None
        bid = quote.bid_price if quote.bid_price > 0 else None
        return Prices(ask, bid)

    @staticmethod
    def _stream(account_id: str) -> str:
        return f"orders:{account_id}"

    def _message(self, name: str, order: Order, at: datetime, **fill: Any) -> Message:
        update = trade_update(name, order, at, calendar=self.calendar, **fill)
        return (self._stream(order.account_id), name, update)

    # -- ledger ----------------------------------------------------------------------

    def fund(
        self, account_id: AccountId, amount: Decimal, *, memo: str = "deposit"
    ) -> JournalEntry:
        """Paper funding: a deposit (positive) or a withdrawal (negative) of whole cents.

        A withdrawal may not take more than the buying power (cash not reserved by open
        orders), so cash never goes below zero.
        """
        value = to_decimal(amount, "amount")
        now = self._now()
        entry = funding_entry(account_id, value, now, entry_id=f"funding:{uuid.uuid4()}")
        entry = dataclasses.replace(
            entry, memo=memo if value > 0 or memo != "deposit" else "withdrawal"
        )
        with self._tx() as s:
            repo.lock_account(s, account_id)
            if value < 0:
                available = self._buying_power_locked(s, account_id)
                if -value > available:
                    raise RiskDenied(
                        "insufficient-buying-power",
                        f"withdrawal of {-value:.2f} exceeds the available {available:.2f}",
                    )
            ledger_repo.insert_entry(s, entry)
        return entry

    def reset(self, account_id: AccountId, starting_cash: Decimal) -> None:
        """Paper reset: one entry closing every balance, then funding ``starting_cash``.

        Refused (``Conflict``) while orders are open: their fills would land after the
        reset and book against the new balance.
        """
        start = to_decimal(starting_cash, "starting_cash")
        now = self._now()
        with self._tx() as s:
            repo.lock_account(s, account_id)
            still_open = repo.count_open(s, account_id)
            if still_open:
                raise Conflict(
                    f"reset refused: {still_open} order(s) still open; cancel them first"
                )
            entry = reset_entry(
                account_id,
                ledger_repo.balance_postings(s, account_id),
                start,
                now,
                entry_id=f"reset:{uuid.uuid4()}",
            )
            ledger_repo.insert_entry(s, entry)

    def cash(self, account_id: AccountId) -> Decimal:
        with self._tx() as s:
            return ledger_repo.cash(s, account_id)

    def buying_power(self, account_id: AccountId) -> Decimal:
        with self._tx() as s:
            return self._buying_power_locked(s, account_id)

    def _buying_power_locked(self, s: Session, account_id: str) -> Decimal:
        held = self._held(s, account_id, exclude=None, asks={})
        return EXACT.subtract(ledger_repo.cash(s, account_id), held)

    def _held(
        self, s: Session, account_id: str, *, exclude: str | None, asks: dict[str, Decimal]
    ) -> Decimal:
        """Cash reserved by open buys: summed in SQL where no quote is needed, the rest
        (market, trailing stop) priced at the current ask. Fails closed without one."""
        priced = exposure.priced_buys(s, account_id, exclude=exclude)
        asks.update(self._asks_for(priced))
        in_sql = exposure.sql_reserved(s, account_id, self.reserve_buffer_bps, exclude=exclude)
        return EXACT.add(in_sql, risk.reserved_cash(priced, asks, self.reserve_buffer_bps))

    def _asks_for(self, opens: list[Order]) -> dict[str, Decimal]:
        asks: dict[str, Decimal] = {}
        for symbol in sorted({str(o.symbol) for o in opens if risk.needs_ask(o)}):
            ask = self._quote_prices(symbol).ask
            if ask is not None:
                asks[symbol] = ask
        return asks

    # -- reconciliation --------------------------------------------------------------

    def check_invariants(self, account_id: AccountId | None = None) -> list[Difference]:
        with self._tx() as s:
            return invariants.check(
                s, account_id, asks=self._asks_for, buffer_bps=self.reserve_buffer_bps
            )
