"""OrderService: the one place orders and the ledger change.

Every write is one transaction, so a failure halfway leaves the database as it was:

- ``submit`` locks the account row (``SELECT ... FOR UPDATE``), runs the pre-trade checks
  against balances derived from postings and the reservations of open orders, and stores
  the order (``pending_new``, or ``rejected`` with its reason) before any broker sees it.
  Two submits on one account therefore run their checks one after the other: no overdraft
  under concurrency. A retry with the same ``client_order_id`` (or idempotency key) finds
  the first order; a racing twin that loses the unique index gets the winner's order.
- ``apply_events`` locks the account, then the order, applies broker facts through
  ``Order.apply`` (the state machine), and writes the order, fills, order events and
  journal entries together. A replayed execution id is a no-op.

Lock order is always account, then order (``request_cancel`` takes the order only), so
these paths cannot deadlock each other. Published events go out after commit; a failed
publish is logged and counted, never undoing what was committed.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from cluster import metrics
from cluster.db import Database
from cluster.orders import exposure, invariants, ledger_repo, risk
from cluster.orders import repository as repo
from cluster.orders.reads import OrderReads
from cluster.orders.types import Difference, NoQuotes, Position, QuoteLookup, SubmitResult
from cluster.orders.wire import trade_update
from domain.clock import Clock, require_aware
from domain.errors import (
    Conflict,
    IdempotencyMismatch,
    NotFound,
    RiskDenied,
    TransientError,
)
from domain.ids import AccountId, OrderId
from domain.ledger import (
    JournalEntry,
    fill_entry,
    funding_entry,
    reset_entry,
)
from domain.market_hours import MarketCalendar
from domain.money import EXACT, to_decimal
from domain.order_request import OrderRequest, ReplaceRequest
from domain.orders import (
    Order,
    OrderEvent,
    OrderEventKind,
    OrderStatus,
    Side,
    order_event_name,
)

__all__ = ["Difference", "OrderService", "Position", "QuoteLookup", "SubmitResult"]

log = logging.getLogger(__name__)

Publish = Callable[[str, str, dict[str, Any]], Any]
Message = tuple[str, str, dict[str, Any]]
#: serialization failure, deadlock, lock not available, statement timeout (a long lock wait)
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03", "57014"})


def _publish_failures() -> metrics._Metric:
    return metrics.counter(
        "elson_order_publish_failures_total", "Order events not published", ("event",)
    )


def _submits() -> metrics._Metric:
    return metrics.counter("elson_orders_submitted_total", "Order submissions", ("outcome",))


def _sqlstate(exc: Exception) -> str | None:
    return getattr(getattr(exc, "orig", None), "sqlstate", None)


def request_of(order: Order) -> OrderRequest:
    """The request an order answers to: its fingerprint identifies its content."""
    return OrderRequest(
        symbol=order.symbol,
        side=order.side,
        type=order.type,
        time_in_force=order.time_in_force,
        qty=order.qty,
        notional=order.notional,
        limit_price=order.limit_price,
        stop_price=order.stop_price,
        trail_price=order.trail_price,
        trail_percent=order.trail_percent,
        extended_hours=order.extended_hours,
        client_order_id=order.client_order_id,
    )


class OrderService(OrderReads):
    def __init__(
        self,
        db: Database,
        clock: Clock,
        calendar: MarketCalendar,
        quotes: QuoteLookup,
        *,
        reserve_buffer_bps: Decimal = Decimal("50"),
        broker_name: str = "paper",
        publish: Publish | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.calendar = calendar
        self.quotes: QuoteLookup = quotes if quotes is not None else NoQuotes()
        self.reserve_buffer_bps = reserve_buffer_bps
        self.broker_name = broker_name
        self.publish = publish

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

    def _emit(self, messages: list[Message]) -> None:
        if self.publish is None:
            return
        for stream, event, data in messages:
            try:
                self.publish(stream, event, data)
            except Exception:
                log.warning("publishing %s on %s failed", event, stream, exc_info=True)
                try:
                    _publish_failures().inc(tags={"event": event})
                except Exception:
                    log.debug("metric failed", exc_info=True)

    def _quote_prices(self, symbol: str) -> tuple[Decimal | None, Decimal | None]:
        """(ask, bid) of the latest quote; a failing lookup reads as no quote (fail closed)."""
        try:
            quote = self.quotes.latest_quote(symbol)
        except Exception:
            log.warning("quote lookup for %s failed", symbol, exc_info=True)
            return None, None
        if quote is None:
            return None, None
        ask = quote.ask_price if quote.ask_price > 0 else None
        bid = quote.bid_price if quote.bid_price > 0 else None
        return ask, bid

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
            ask, _ = self._quote_prices(symbol)
            if ask is not None:
                asks[symbol] = ask
        return asks

    # -- submission ------------------------------------------------------------------

    def submit(
        self, account_id: AccountId, request: OrderRequest, *, idempotency_key: str | None = None
    ) -> SubmitResult:
        now = self._now()
        fingerprint = request.content_fingerprint()
        order = request.to_order(OrderId(str(uuid.uuid4())), account_id, now)
        try:
            with self._tx() as s:
                result = self._submit_locked(s, order, request, fingerprint, idempotency_key)
        except IntegrityError as exc:
            if _sqlstate(exc) != "23505":
                raise
            # A concurrent twin committed first (same client order id or key): theirs wins.
            with self._tx() as s:
                existing = self._existing(s, account_id, request, fingerprint, idempotency_key)
            if existing is None:
                raise
            _submits().inc(tags={"outcome": "duplicate"})
            return SubmitResult(existing, created=False)
        if not result.created:
            _submits().inc(tags={"outcome": "duplicate"})
            return result
        _submits().inc(tags={"outcome": result.order.status.value})
        name = order_event_name(result.order.status)
        self._emit([self._message(name, result.order, now)])
        return result

    def _submit_locked(
        self,
        s: Session,
        order: Order,
        request: OrderRequest,
        fingerprint: str,
        idempotency_key: str | None,
    ) -> SubmitResult:
        account_status = repo.lock_account(s, order.account_id)
        existing = self._existing(s, order.account_id, request, fingerprint, idempotency_key)
        if existing is not None:
            return SubmitResult(existing, created=False)
        reason = self._denial(s, order, account_status, exclude=None)
        now = order.created_at
        events: list[tuple[str, OrderStatus | None, OrderStatus, dict[str, Any]]] = [
            ("created", None, OrderStatus.PENDING_NEW, {})
        ]
        if reason is not None:
            order.apply(OrderEvent(OrderEventKind.REJECT, at=now, reason=reason))
            events.append(("reject", OrderStatus.PENDING_NEW, order.status, {"reason": reason}))
        repo.insert_order(
            s,
            order,
            fingerprint=fingerprint,
            idempotency_key=idempotency_key,
            broker=self.broker_name,
        )
        for kind, before, after, detail in events:
            repo.insert_event(s, order.id, kind, before, after, now, detail)
        return SubmitResult(order, created=True)

    def _denial(
        self, s: Session, order: Order, account_status: str, *, exclude: str | None
    ) -> str | None:
        account, symbol = order.account_id, str(order.symbol)
        ask, bid = self._quote_prices(symbol)
        if order.side is Side.BUY:
            cash, reserved, priced_count = exposure.buy_book(
                s, account, self.reserve_buffer_bps, exclude=exclude
            )
            priced = exposure.priced_buys(s, account, exclude=exclude) if priced_count else []
            asks = self._asks_for(priced)
            if ask is not None:
                asks[symbol] = ask
            book = risk.Book(
                status=account_status,
                cash=cash,
                reserved=reserved,
                priced_buys=tuple(priced),
                asks=asks,
            )
        else:
            book = risk.Book(
                status=account_status,
                open_sells=tuple(exposure.open_sells(s, account, symbol, exclude=exclude)),
                bids={} if bid is None else {symbol: bid},
                position=ledger_repo.position(s, account, symbol),
            )
        return risk.denial(
            order,
            book,
            now=order.created_at,
            calendar=self.calendar,
            buffer_bps=self.reserve_buffer_bps,
        )

    def _existing(
        self,
        s: Session,
        account_id: str,
        request: OrderRequest,
        fingerprint: str,
        idempotency_key: str | None,
    ) -> Order | None:
        if idempotency_key is not None:
            row = repo.find_by_idempotency_key(s, account_id, idempotency_key)
            if row is not None:
                same_id = request.client_order_id in (None, row.client_order_id)
                if row.fingerprint != fingerprint or not same_id:
                    raise IdempotencyMismatch(
                        f"idempotency key {idempotency_key!r} was used for a different order"
                    )
                return repo.load_order(s, str(row.id))
        if request.client_order_id is not None:
            row = repo.find_by_client_id(s, account_id, request.client_order_id)
            if row is not None:
                if row.fingerprint != fingerprint:
                    raise Conflict(
                        f"client_order_id {request.client_order_id!r} is already used "
                        "by an order with different content"
                    )
                return repo.load_order(s, str(row.id))
        return None

    # -- broker facts ----------------------------------------------------------------

    def apply_events(self, order_id: OrderId, events: list[OrderEvent]) -> Order:
        """Apply broker events to one order in ONE transaction (all or nothing).

        ``IllegalTransition`` or ``Overfill`` on any event rolls the whole batch back. A
        fill whose execution id this order already has is skipped (replay); one booked to
        a different order is a ``Conflict``.
        """
        messages: list[Message] = []
        with self._tx() as s:
            account_id = repo.account_of_order(s, order_id)
            if account_id is None:
                raise NotFound(f"order {order_id} not found")
            repo.lock_account(s, account_id)
            order = repo.load_order(s, order_id, lock=True)
            assert order is not None
            position = ledger_repo.position(s, account_id, str(order.symbol))
            applied: list[tuple[OrderEvent, OrderStatus, OrderStatus]] = []
            for event in events:
                before = order.status
                if not order.apply(event):
                    continue
                applied.append((event, before, order.status))
                if event.is_fill:
                    assert event.qty is not None and event.price is not None
                    sign = 1 if order.side is Side.BUY else -1
                    position = EXACT.add(position, sign * event.qty.value)
                    name = "fill" if order.status is OrderStatus.FILLED else "partial_fill"
                    messages.append(
                        self._message(
                            name,
                            order,
                            event.at,
                            price=event.price.value,
                            qty=event.qty.value,
                            position_qty=position,
                        )
                    )
                else:
                    messages.append(self._message(order_event_name(event.kind), order, event.at))
            if not applied:
                return order
            repo.update_order(s, order)
            for event, before, after in applied:
                self._record(s, order, event, before, after)
        self._emit(messages)
        return order

    def _record(
        self, s: Session, order: Order, event: OrderEvent, before: OrderStatus, after: OrderStatus
    ) -> None:
        """Fill row, order event row and (for fills) the journal entry of one event."""
        from cluster.orders.mappers import event_detail

        if event.is_fill:
            assert event.qty is not None and event.price is not None
            assert event.execution_id is not None
            if not repo.insert_fill(s, order, event):
                raise Conflict(f"execution {event.execution_id} is booked to another order")
        repo.insert_event(
            s, order.id, event.kind.value, before, after, event.at, event_detail(event)
        )
        if event.is_fill:
            assert event.qty is not None and event.price is not None
            assert event.execution_id is not None
            entry = fill_entry(
                order.account_id,
                str(order.symbol),
                order.side,
                event.qty.value,
                event.price.value,
                Decimal(0),
                event.at,
                event.execution_id,
            )
            ledger_repo.insert_entry(s, entry)

    # -- client requests on existing orders ------------------------------------------

    def request_cancel(self, account_id: AccountId, order_id: OrderId) -> Order:
        """``pending_cancel`` for a working order; a repeated request answers the same
        order; a terminal one raises ``IllegalTransition``."""
        now = self._now()
        with self._tx() as s:
            order = self._owned(s, account_id, order_id, lock=True)
            if order.status is OrderStatus.PENDING_CANCEL:
                return order
            before = order.status
            order.apply(OrderEvent(OrderEventKind.CANCEL_REQUESTED, at=now))
            repo.update_order(s, order)
            repo.insert_event(s, order.id, "cancel_requested", before, order.status, now)
        self._emit([self._message(order_event_name(order.status), order, now)])
        return order

    def request_replace(
        self, account_id: AccountId, order_id: OrderId, replace: ReplaceRequest
    ) -> tuple[Order, Order]:
        """Old order -> ``pending_replace``; the replacement is stored ``pending_new``,
        linked both ways (``replaces`` / ``replaced_by``). The replacement passes the same
        pre-trade checks as a new order, with the old order's reservation released; a
        denial raises ``RiskDenied`` and changes nothing."""
        now = self._now()
        with self._tx() as s:
            status = repo.lock_account(s, account_id)
            old = self._owned(s, account_id, order_id, lock=True)
            before = old.status
            old.apply(OrderEvent(OrderEventKind.REPLACE_REQUESTED, at=now))
            new = replace.to_order(old, OrderId(str(uuid.uuid4())), now)
            if replace.client_order_id is not None and repo.find_by_client_id(
                s, account_id, replace.client_order_id
            ):
                raise Conflict(f"client_order_id {replace.client_order_id!r} is already used")
            reason = self._denial(s, new, status, exclude=old.id)
            if reason is not None:
                raise RiskDenied(reason.split(":", 1)[0], reason)
            old.replaced_by = new.id
            repo.insert_order(
                s,
                new,
                fingerprint=request_of(new).content_fingerprint(),
                idempotency_key=None,
                broker=self.broker_name,
            )
            repo.insert_event(s, new.id, "created", None, new.status, now, {"replaces": old.id})
            repo.update_order(s, old)
            repo.insert_event(
                s, old.id, "replace_requested", before, old.status, now, {"replaced_by": new.id}
            )
        self._emit(
            [
                self._message(order_event_name(old.status), old, now),
                self._message(order_event_name(new.status), new, now),
            ]
        )
        return old, new

    # -- broker bookkeeping (paper broker, reconciler) -------------------------------

    def set_broker_order_id(self, order_id: OrderId, broker_order_id: str) -> None:
        with self._tx() as s:
            repo.set_broker_order_id(s, order_id, broker_order_id)

    def record_ack_check(self, order_id: OrderId) -> int:
        """Count one reconciler check that found the order still unacknowledged."""
        with self._tx() as s:
            return repo.bump_ack_checks(s, order_id)

    # -- reconciliation --------------------------------------------------------------

    def check_invariants(self, account_id: AccountId | None = None) -> list[Difference]:
        with self._tx() as s:
            return invariants.check(
                s, account_id, asks=self._asks_for, buffer_bps=self.reserve_buffer_bps
            )
