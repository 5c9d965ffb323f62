"""The client's requests: submit, cancel, replace. Each is ONE transaction that checks,
stores the order change, its order-event rows, its durable events and the broker outbox
row together; nothing here waits on a broker (the dispatcher sends the outbox).

``submit`` looks the quote up *before* taking the account lock (a slow quote source must
not hold the lock), then locks the account row (``SELECT ... FOR UPDATE``) and runs the
pre-trade checks against the materialized balances and the reservations of open orders,
so two submits on one account check one after the other: no overdraft under concurrency.
A retry with the same ``client_order_id`` (or idempotency key) finds the first order; a
racing twin that loses the unique index gets the winner's order.
"""

from __future__ import annotations

import uuid
from contextlib import AbstractContextManager
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cluster import metrics
from cluster.orders import exposure, ledger_repo, outbox
from cluster.orders import repository as repo
from cluster.orders.types import SubmitResult
from cluster.risk.events import stream_of
from domain.clock import Clock
from domain.errors import Conflict, IdempotencyMismatch
from domain.fees import FeeModel, buy_fee_reserve
from domain.ids import AccountId, OrderId
from domain.market_hours import MarketCalendar
from domain.order_request import OrderRequest, ReplaceRequest
from domain.orders import Order, OrderEvent, OrderEventKind, OrderStatus, Side, order_event_name
from domain.risk import checks
from domain.risk.codes import Denial, ReasonCode
from domain.risk.gate import RiskBook, denied_error
from domain.risk.states import Scope

Message = tuple[str, str, dict[str, Any]]


class Prices(NamedTuple):
    """The quote a check prices an order at; ``why`` says why there is none."""

    ask: Decimal | None = None
    bid: Decimal | None = None
    why: str = ""


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


class SubmitOps:
    """Mixed into ``OrderService``, which supplies the attributes and plumbing below."""

    clock: Clock
    calendar: MarketCalendar
    broker_name: str
    reserve_buffer_bps: Decimal
    fees: FeeModel
    #: the replica's risk book (``cluster.risk.view.RiskView``); ``None``: no risk gate
    risk: Any = None

    def _tx(self) -> AbstractContextManager[Session]:
        raise NotImplementedError

    def _now(self) -> Any:
        raise NotImplementedError

    def _quote_prices(self, symbol: str) -> Prices:
        raise NotImplementedError

    def _asks_for(self, opens: list[Order]) -> dict[str, Decimal]:
        raise NotImplementedError

    if TYPE_CHECKING:  # from ``OrderReads``, later in ``OrderService``'s bases

        def _owned(self, s: Session, account_id: str, order_id: str, *, lock: bool) -> Order: ...

    def _publish_in(self, s: Session, messages: list[Message]) -> None:
        raise NotImplementedError

    def _message(self, name: str, order: Order, at: Any, **fill: Any) -> Message:
        raise NotImplementedError

    # -- submit ------------------------------------------------------------------------

    def submit(
        self,
        account_id: AccountId,
        request: OrderRequest,
        *,
        idempotency_key: str | None = None,
        strategy_id: str | None = None,
    ) -> SubmitResult:
        """``strategy_id``: the strategy instance placing the order (its runner), stored on
        the order and seen by the risk gate's strategy scope."""
        now = self._now()
        fingerprint = request.content_fingerprint()
        order = request.to_order(OrderId(str(uuid.uuid4())), account_id, now)
        order.strategy_id = strategy_id
        # only a market or trailing buy, or a sell, is priced at the quote: a limit buy
        # (the common case) costs no quote lookup
        priced = order.side is Side.SELL or checks.needs_ask(order)
        prices = self._quote_prices(str(order.symbol)) if priced else Prices()
        try:
            with self._tx() as s:
                result = self._submit_locked(
                    s, order, request, fingerprint, idempotency_key, prices
                )
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
        _submits().inc(
            tags={"outcome": result.order.status.value if result.created else "duplicate"}
        )
        return result

    def _submit_locked(
        self,
        s: Session,
        order: Order,
        request: OrderRequest,
        fingerprint: str,
        idempotency_key: str | None,
        prices: Prices,
    ) -> SubmitResult:
        # the risk book first (through this transaction), so the lock query can also read
        # what its rules need: the position and, under a rate limit, the recent orders
        book: RiskBook | None = None if self.risk is None else self.risk.current(s)
        window = None if book is None else book.rate_window(order.account_id, str(order.symbol))
        since = None if window is None else order.created_at - window
        facts = exposure.lock_with_facts(s, order.account_id, str(order.symbol), since)
        existing = self._existing(s, order.account_id, request, fingerprint, idempotency_key)
        if existing is not None:
            return SubmitResult(existing, created=False)
        order.fee_reserve = buy_fee_reserve(self.fees, order, prices.ask, self.reserve_buffer_bps)
        denial = self._denial(
            s, order, facts.status, prices, exclude=None, facts=(facts, window), risk_book=book
        )
        if denial is not None and denial.code is ReasonCode.PRICE_UNAVAILABLE and prices.why:
            denial = Denial(denial.code, prices.why)  # where it looked, and what it found
        now = order.created_at
        events: list[tuple[str, OrderStatus | None, OrderStatus, dict[str, Any]]] = [
            ("created", None, OrderStatus.PENDING_NEW, {})
        ]
        messages = []
        if denial is not None:
            code = denial.code.value
            order.apply(OrderEvent(OrderEventKind.REJECT, at=now, reason=denial.message, code=code))
            detail = {"reason": denial.message, "code": code}
            events.append(("reject", OrderStatus.PENDING_NEW, order.status, detail))
            denied = {"order_id": str(order.id), "symbol": str(order.symbol), **detail}
            messages.append((stream_of(Scope.account(order.account_id)), "order_denied", denied))
        elif order.side is Side.BUY and checks.needs_ask(order):
            order.reserve_price = prices[0]
        repo.insert_order(
            s,
            order,
            fingerprint=fingerprint,
            idempotency_key=idempotency_key,
            broker=self.broker_name,
        )
        for kind, before, after, detail in events:
            repo.insert_event(s, order.id, kind, before, after, now, detail)
        if order.status is OrderStatus.PENDING_NEW:
            outbox.add(s, order.id, "submit", self.broker_name)
        self._publish_in(s, [self._message(order_event_name(order.status), order, now), *messages])
        return SubmitResult(order, created=True)

    def _denial(
        self,
        s: Session,
        order: Order,
        account_status: str,
        prices: Prices,
        *,
        exclude: str | None,
        facts: tuple[exposure.LockedFacts, timedelta | None] | None = None,
        risk_book: RiskBook | None = None,
    ) -> Denial | None:
        account, symbol = order.account_id, str(order.symbol)
        ask, bid = prices.ask, prices.bid
        gate = self._gate(s, order, prices, facts, risk_book)
        if gate is not None:
            return gate
        if order.side is Side.BUY:
            cash, reserved, priced_count = exposure.buy_book(
                s, account, self.reserve_buffer_bps, exclude=exclude
            )
            priced = exposure.priced_buys(s, account, exclude=exclude) if priced_count else []
            asks = self._asks_for(priced)
            if ask is not None:
                asks[symbol] = ask
            book = checks.Book(
                status=account_status,
                cash=cash,
                reserved=reserved,
                priced_buys=tuple(priced),
                asks=asks,
            )
        else:
            book = checks.Book(
                status=account_status,
                open_sells=tuple(exposure.open_sells(s, account, symbol, exclude=exclude)),
                bids={} if bid is None else {symbol: bid},
                position=(
                    facts[0].position
                    if facts is not None
                    else ledger_repo.position(s, account, symbol)
                ),
            )
        return checks.denial(
            order,
            book,
            now=order.created_at,
            calendar=self.calendar,
            buffer_bps=self.reserve_buffer_bps,
        )

    def _gate(
        self,
        s: Session,
        order: Order,
        prices: Prices,
        facts: tuple[exposure.LockedFacts, timedelta | None] | None = None,
        book: RiskBook | None = None,
    ) -> Denial | None:
        """Trading states, locks, exchange halts and limits (``domain.risk.gate``), read
        from the replica's risk book; the position and the recent order count are asked
        only when a rule needs them."""
        if self.risk is None:
            return None
        if book is None:  # through this transaction: no second connection
            book = self.risk.current(s)
        account, symbol = order.account_id, str(order.symbol)
        if book.version == 0 and not book.limits:
            return None  # nothing was ever set: the common case costs nothing
        if facts is not None:
            position = facts[0].position
        elif book.needs_position(account, symbol, None, order.created_at):
            position = ledger_repo.position(s, account, symbol)
        else:
            position = Decimal(0)

        def recent_orders(per: timedelta) -> int:
            if facts is not None and facts[1] == per and facts[0].recent is not None:
                return facts[0].recent  # counted with the lock, in the same round trip
            return exposure.orders_since(s, account, order.created_at - per)

        fixed = order.limit_price or order.stop_price
        price = None if fixed is None else fixed.value
        if price is None:
            price = prices.ask if order.side is Side.BUY else prices.bid
        return book.denial(
            account_id=account,
            symbol=symbol,
            strategy_id=order.strategy_id,
            side=order.side,
            qty=None if order.qty is None else order.qty.value,
            notional=None if order.notional is None else order.notional.amount,
            price=price,
            position=position,
            broker=self.broker_name,
            now=order.created_at,
            recent_orders=recent_orders,
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

    # -- requests on existing orders -----------------------------------------------------

    def request_cancel(self, account_id: AccountId, order_id: OrderId) -> Order:
        """``pending_cancel`` for a working or not yet acknowledged order, with a cancel in
        the outbox; a repeated request answers the same order; a terminal one raises
        ``IllegalTransition``. (A cancel that reaches the dispatcher before the submit was
        ever sent ends the order ``canceled`` without the broker; see ``dispatch``.)"""
        now = self._now()
        with self._tx() as s:
            order = self._owned(s, account_id, order_id, lock=True)
            if order.status is OrderStatus.PENDING_CANCEL:
                return order
            before = order.status
            order.apply(OrderEvent(OrderEventKind.CANCEL_REQUESTED, at=now))
            repo.update_order(s, order)
            repo.insert_event(s, order.id, "cancel_requested", before, order.status, now)
            outbox.add(s, order.id, "cancel", self.broker_name)
            self._publish_in(s, [self._message(order_event_name(order.status), order, now)])
        return order

    def request_replace(
        self, account_id: AccountId, order_id: OrderId, replace: ReplaceRequest
    ) -> tuple[Order, Order]:
        """Old order -> ``pending_replace``; the replacement is stored ``pending_new``,
        linked both ways (``replaces`` / ``replaced_by``), with a replace in the outbox.
        The replacement passes the same pre-trade checks as a new order; a denial raises
        ``RiskDenied`` and changes nothing."""
        now = self._now()
        with self._tx() as s:  # the symbol first: the quote is looked up outside the lock
            symbol = str(self._owned(s, account_id, order_id, lock=False).symbol)
        prices = self._quote_prices(symbol)
        with self._tx() as s:
            status = repo.lock_account(s, account_id)
            old = self._owned(s, account_id, order_id, lock=True)
            before = old.status
            old.apply(OrderEvent(OrderEventKind.REPLACE_REQUESTED, at=now))
            new = replace.to_order(old, OrderId(str(uuid.uuid4())), now)
            new.fee_reserve = buy_fee_reserve(self.fees, new, prices.ask, self.reserve_buffer_bps)
            if replace.client_order_id is not None and repo.find_by_client_id(
                s, account_id, replace.client_order_id
            ):
                raise Conflict(f"client_order_id {replace.client_order_id!r} is already used")
            # the old remainder stays reserved until the broker confirms (worst case: both)
            denial = self._denial(s, new, status, prices, exclude=None)
            if denial is not None:
                raise denied_error(denial)
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
            outbox.add(s, old.id, "replace", self.broker_name, replacement_id=new.id)
            self._publish_in(
                s,
                [
                    self._message(order_event_name(old.status), old, now),
                    self._message(order_event_name(new.status), new, now),
                ],
            )
        return old, new
