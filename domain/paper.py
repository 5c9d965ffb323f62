"""A deterministic paper-trading engine: orders in, quotes and clock ticks in, events out.

Why pure and deterministic: the paper broker actor replays its inputs after a restart, and
fills are deduplicated downstream by execution id. So the same quote sequence must yield
the same events with the same ids (``"<order_id>-<n>"``): no randomness, no clock reads.

API (all times aware; ``now`` is the engine's time, passed in):

- ``submit(order, now) -> list[OrderEvent]``: acknowledge a ``pending_new`` order:
  ``new`` if it can trade now, ``accepted`` if the market is closed (``opg`` is always
  accepted first and is rejected during the regular session). Fills come only from quotes.
- ``on_quote(top, now) -> list[(order_id, OrderEvent)]``: housekeeping (below), then match
  every live order of the quote's symbol, then settle due cancels and replaces.
- ``on_clock(now) -> list[(order_id, OrderEvent)]``: housekeeping and settling only.
- ``cancel(order_id, now)`` / ``replace(order_id, replacement, now) -> list[OrderEvent]``:
  the request event now; the outcome at the first step at or after ``now + latency``.
- ``restore(order, replacement=None)``: take back a *working* order after a restart, in
  the state the database has (see :meth:`PaperEngine.restore`).
- ``take_marks() -> dict[OrderId, StopMark]``: the water marks and stop triggers that
  moved since the last call (quotes move them without any event), for the caller to
  store once per quote batch so that a restart resumes from them.

The engine keeps its own copy of each order and applies every event it emits to it; the
caller applies the same events to its record (they apply cleanly: same start, same events).
Terminal orders are dropped from the engine.

Housekeeping at each step: accepted orders are released (``RELEASE``) once they can trade
(regular session; extended session too for ``extended_hours``); day orders expire at the
close of the session they went live in (``SessionClock.session_close``, so early closes
count), extended-hours day orders once neither session is open; ``opg`` orders still
live at the close are canceled; ``cls`` orders execute at the close (first step at or
after it) against the last quote seen for the symbol, the remainder canceled.

Matching visits orders in submission order (time priority); each fill takes from the
quote's displayed size, so two orders cannot both take the same shares. ``top.at`` is when
the quote was true (latency and the cancel race use it); sessions use ``now``. An order
ignores quotes stamped before ``submitted_at + latency``.

- market: buys at the ask, sells at the bid, moved against the order by ``slippage_bps``
  and rounded to the tick away from the order's favour;
- limit: marketable when ask <= limit (buy) / bid >= limit (sell); fills at the slipped
  quote price capped at the limit (a limit is a promise about price);
- stop: triggers when ask >= stop (buy) / bid <= stop (sell), then trades as market on that
  same quote; stop_limit triggers alike, then trades as limit;
- trailing_stop: a sell tracks the high-water mark of the bid, stop = hwm - trail_price or
  hwm x (1 - pct/100); a buy mirrors it with the low-water mark of the ask;
- size: with ``allow_partial`` a quote fills at most its displayed size; without it the
  book is deep enough for any order (the classic paper model);
- ioc, fok, opg act on the first quote the order sees (opg: first quote at or after the
  open): fill what is possible (fok: all or nothing), cancel the rest. A non-marketable
  ioc is canceled at once, as at a real venue.
- Notional (market, day) orders: the share quantity is ``remaining notional / price``
  rounded down to 9 decimals.
- fees: each fill carries ``fee``, from the fill model's ``domain.fees.FeeModel`` (the
  per-order commission on the order's first fill).

Cancel race: a quote stamped before the cancel takes effect (``requested + latency``) can
still fill the order; a full fill wins and the order ends ``filled``. A replace whose old
order filled or expired first rejects the replacement.

Exchange halts (optional ``halts``, ``domain.risk.exchange``): a quote feeds them first;
while its symbol or the market is halted (at ``top.at`` or ``now``) nothing matches and
orders keep working; a ``cls`` order whose symbol is halted at the close is canceled.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal
from typing import Any, Final, Protocol

from domain.clock import require_aware
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.fees import FeeModel
from domain.ids import ExecutionId, OrderId
from domain.money import EXACT, MAX_DECIMALS, Price, Quantity, decimals_of, tick_size, to_decimal
from domain.orders import (
    FillDetail,
    Order,
    OrderEvent,
    OrderEventKind,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from domain.risk.exchange import ExchangeHalts, HaltChange

Emitted = tuple[OrderId, OrderEvent]

_E = OrderEventKind
_S = OrderStatus
_BPS: Final = Decimal(10_000)
_SHARE_QUANTUM: Final = Decimal(1).scaleb(-MAX_DECIMALS)
_LIVE: Final = frozenset({_S.NEW, _S.PARTIALLY_FILLED, _S.PENDING_CANCEL, _S.PENDING_REPLACE})
_PENDING: Final = frozenset({_S.PENDING_CANCEL, _S.PENDING_REPLACE})
_STOPS: Final = frozenset({OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP})
_LIMITS: Final = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})
_IMMEDIATE: Final = frozenset({TimeInForce.IOC, TimeInForce.FOK, TimeInForce.OPG})
_ARMED: Final = _LIVE | {_S.DONE_FOR_DAY}


class SessionClock(Protocol):
    """The market-hours questions the engine asks (``domain.market_hours`` answers them)."""

    def is_open(self, at: datetime) -> bool: ...

    def is_extended(self, at: datetime) -> bool: ...

    def session_open(self, at: datetime) -> datetime | None: ...

    def session_close(self, at: datetime) -> datetime | None: ...

    def next_open(self, at: datetime) -> datetime: ...


@dataclass(frozen=True)
class FillModel:
    """How optimistic the simulation is. Defaults: no slippage, no latency, partial fills,
    no fees (the settings give the paper broker the published regulatory fees)."""

    slippage_bps: Decimal = Decimal(0)
    allow_partial: bool = True
    latency: timedelta = timedelta(0)
    fees: FeeModel = field(default_factory=FeeModel.free)

    def __post_init__(self) -> None:
        bps = to_decimal(self.slippage_bps, "slippage_bps")
        if bps < 0 or bps >= _BPS:
            raise ValidationFailed("slippage_bps", "range", "slippage_bps must be in [0, 10000)")
        object.__setattr__(self, "slippage_bps", bps)
        if self.latency < timedelta(0):
            raise ValidationFailed("latency", "non-negative", "latency must not be negative")


@dataclass(frozen=True)
class TopOfBook:
    """Best bid and ask. A side with price or size 0 has no liquidity."""

    symbol: str
    bid: Decimal
    ask: Decimal
    bid_size: Decimal
    ask_size: Decimal
    at: datetime

    def __post_init__(self) -> None:
        for name in ("bid", "ask", "bid_size", "ask_size"):
            number = to_decimal(getattr(self, name), name)
            if number < 0 or decimals_of(number) > MAX_DECIMALS:
                raise ValidationFailed(name, "range", f"{name} must be >= 0, <= 9 decimals")
            object.__setattr__(self, name, number)
        require_aware("at", self.at)

    @classmethod
    def adapt(cls, quote: Any) -> TopOfBook:
        """From a ``domain.marketdata.Quote``-shaped object, duck-typed so the engine does
        not depend on the feed's model (its ``exchange_ts`` becomes ``at``)."""
        return cls(
            symbol=str(quote.symbol),
            bid=quote.bid_price,
            ask=quote.ask_price,
            bid_size=quote.bid_size,
            ask_size=quote.ask_size,
            at=quote.exchange_ts,
        )


@dataclass(frozen=True)
class StopMark:
    """What a stop order has seen of the market: its water mark (trailing stops) and
    whether its trigger was crossed. Stored with the order (``high_water_mark``,
    ``stop_triggered``) so that a restarted engine neither forgets nor re-arms it."""

    high_water_mark: Decimal | None
    triggered: bool


def fill_counter(order: Order) -> int:
    """The largest ``n`` among the order's ``"<order_id>-<n>"`` execution ids (0 if none)."""
    prefix = f"{order.id}-"
    numbers = [
        int(tail)
        for eid in order.execution_ids
        if eid.startswith(prefix) and (tail := eid[len(prefix) :]).isdigit()
    ]
    return max(numbers, default=0)


@dataclass
class _Working:
    """The engine's private state for one order beyond what ``Order`` records."""

    order: Order
    live_from: datetime
    expires_at: datetime | None = None
    close_at: datetime | None = None
    triggered: bool = False
    mark: Decimal | None = None
    fills: int = 0
    settle_at: datetime | None = None
    replacement: Order | None = None
    done: bool = False


class PaperEngine:
    """Matches working orders against quotes under a :class:`FillModel`."""

    def __init__(
        self, fill_model: FillModel, session: SessionClock, halts: ExchangeHalts | None = None
    ) -> None:
        self._model = fill_model
        self._session = session
        self.halts = halts  # exchange halt rules (LULD, market-wide); None: never halted
        self._book: dict[OrderId, _Working] = {}
        self._quotes: dict[str, TopOfBook] = {}
        self._moved: set[OrderId] = set()  # marks changed since ``take_marks``

    # -- queries -----------------------------------------------------------------------
    def order(self, order_id: OrderId) -> Order:
        """A copy of the engine's view (trailing-stop ``high_water_mark`` included)."""
        return copy.deepcopy(self._get(order_id).order)

    def working(self) -> list[OrderId]:
        return list(self._book)

    def take_marks(self) -> dict[OrderId, StopMark]:
        """Marks and triggers that moved since the last call, of orders still working."""
        moved, self._moved = self._moved, set()
        return {
            oid: StopMark(w.mark, w.triggered)
            for oid in sorted(moved)
            if (w := self._book.get(oid)) is not None
        }

    def take_halts(self) -> list[HaltChange]:
        """Exchange halts started and ended since the last call (``ExchangeHalts``)."""
        return [] if self.halts is None else self.halts.take_changes()

    # -- requests ----------------------------------------------------------------------
    def submit(self, order: Order, now: datetime) -> list[OrderEvent]:
        require_aware("now", now)
        if order.id in self._book:
            raise Conflict(f"order {order.id} is already in the paper engine")
        out: list[Emitted] = []
        self._admit(copy.deepcopy(order), now, out)
        return [event for _, event in out]

    def cancel(self, order_id: OrderId, now: datetime) -> list[OrderEvent]:
        require_aware("now", now)
        working = self._get(order_id)
        out: list[Emitted] = []
        self._emit(working, OrderEvent(_E.CANCEL_REQUESTED, now), out)
        working.settle_at = now + self._model.latency
        return [event for _, event in out]

    def replace(self, order_id: OrderId, replacement: Order, now: datetime) -> list[OrderEvent]:
        """Request a replace; ``replacement`` is the new ``pending_new`` order."""
        require_aware("now", now)
        working = self._get(order_id)
        old = working.order
        if replacement.replaces != old.id or replacement.status is not _S.PENDING_NEW:
            raise Conflict(f"order {replacement.id} is not a pending replacement of {old.id}")
        if (replacement.symbol, replacement.side) != (old.symbol, old.side):
            raise ValidationFailed("order", "replace-changes-instrument", "same symbol and side")
        out: list[Emitted] = []
        self._emit(working, OrderEvent(_E.REPLACE_REQUESTED, now), out)
        working.settle_at = now + self._model.latency
        working.replacement = copy.deepcopy(replacement)
        return [event for _, event in out]

    def restore(self, order: Order, *, replacement: Order | None = None) -> None:
        """Take back an order this engine (or a previous one) was working, as stored.

        The engine's per-order state is rebuilt from the stored ``Order``:

        - execution-id counter: the largest ``n`` of its ``"<order_id>-<n>"`` ids, so the
          next fill is ``n + 1`` and an id is never reused;
        - ``live_from``: ``submitted_at + latency``, as at submission;
        - day/opg/cls deadlines: the close of the session the order went live in (that of
          ``submitted_at`` when it could trade then, else the next open after it);
        - stop trigger: ``stop_triggered`` as stored (or anything filled: a stop fills only
          once triggered), so a triggered stop-limit that has not filled stays triggered;
          a trailing stop's water mark: ``high_water_mark`` as stored (``None``: from the
          next quote, as when it went live);
        - pending cancel/replace: due at ``updated_at + latency``; ``replacement`` is the
          stored ``pending_new`` order whose ``replaces`` is this order.
        """
        if order.status is _S.PENDING_NEW or order.status.is_terminal:
            raise ValidationFailed("order", "restorable", f"{order.status.value} is not working")
        if order.id in self._book:
            raise Conflict(f"order {order.id} is already in the paper engine")
        latency = self._model.latency
        submitted = order.submitted_at or order.created_at
        updated = order.updated_at or submitted
        working = _Working(order=copy.deepcopy(order), live_from=submitted + latency)
        working.fills = fill_counter(order)
        if order.type in _STOPS:
            working.triggered = order.stop_triggered or order.filled_qty > 0
            working.order.stop_triggered = working.triggered
            working.mark = order.high_water_mark
        if order.status in _ARMED:
            self._arm(working, self._went_live(order, submitted))
        if order.status in _PENDING:
            working.settle_at = updated + latency
        if order.status is _S.PENDING_REPLACE and replacement is not None:
            working.replacement = copy.deepcopy(replacement)
        self._book[order.id] = working

    # -- inputs ------------------------------------------------------------------------
    def on_clock(self, now: datetime) -> list[Emitted]:
        require_aware("now", now)
        out: list[Emitted] = []
        if self.halts is not None:
            self.halts.on_clock(now)
        self._housekeep(now, out)
        self._settle(now, out)
        return out

    def on_quote(self, top: TopOfBook, now: datetime) -> list[Emitted]:
        require_aware("now", now)
        out: list[Emitted] = []
        self._housekeep(now, out)
        self._quotes[top.symbol] = top
        halts = self.halts  # a halted symbol matches nothing; its orders keep working
        halted = halts is not None and (
            halts.on_quote(top.symbol, top.bid, top.ask, top.at) or halts.is_halted(top.symbol, now)
        )
        for working in list(self._book.values()):
            if not halted and not working.done and working.order.symbol == top.symbol:
                taken = self._match(working, top, now, out)
                if taken and working.order.side is Side.BUY:
                    top = replace(top, ask_size=max(top.ask_size - taken, Decimal(0)))
                elif taken:
                    top = replace(top, bid_size=max(top.bid_size - taken, Decimal(0)))
        self._settle(now, out)
        return out

    # -- lifecycle ---------------------------------------------------------------------
    def _get(self, order_id: OrderId) -> _Working:
        working = self._book.get(order_id)
        if working is None:
            raise NotFound(f"order {order_id} is not working in the paper engine")
        return working

    def _admit(self, order: Order, now: datetime, out: list[Emitted]) -> None:
        working = _Working(order=order, live_from=now + self._model.latency)
        if order.time_in_force is TimeInForce.OPG and self._session.is_open(now):
            event = OrderEvent(_E.REJECT, now, reason="opg orders must arrive before the open")
            self._emit(working, event, out)
            return
        self._book[order.id] = working
        if order.time_in_force is not TimeInForce.OPG and self._can_trade(order, now):
            self._emit(working, OrderEvent(_E.ACKNOWLEDGE, now), out)
            self._arm(working, now)
        else:
            self._emit(working, OrderEvent(_E.ACCEPT_CLOSED, now), out)

    def _went_live(self, order: Order, submitted: datetime) -> datetime:
        """When the order started to trade: at submission if it could, else the next open."""
        if order.time_in_force is not TimeInForce.OPG and self._can_trade(order, submitted):
            return submitted
        return self._session.next_open(submitted)

    def _can_trade(self, order: Order, now: datetime) -> bool:
        if self._session.is_open(now):
            return True
        return order.extended_hours and self._session.is_extended(now)

    def _arm(self, working: _Working, now: datetime) -> None:
        """Fix the deadlines of an order that has just gone live."""
        tif = working.order.time_in_force
        if tif is TimeInForce.DAY and not working.order.extended_hours:
            working.expires_at = self._session.session_close(now)
        elif tif in (TimeInForce.OPG, TimeInForce.CLS):
            working.close_at = self._session.session_close(now)

    def _housekeep(self, now: datetime, out: list[Emitted]) -> None:
        for working in list(self._book.values()):
            order = working.order
            if order.status is _S.ACCEPTED and self._releasable(order, now):
                self._emit(working, OrderEvent(_E.RELEASE, now), out)
                self._arm(working, now)
            if working.done or order.status not in _LIVE:
                continue
            tif = order.time_in_force
            if tif is TimeInForce.DAY and self._day_over(working, now):
                self._emit(working, OrderEvent(_E.EXPIRE, now, reason="day order"), out)
            elif working.close_at is not None and now >= working.close_at:
                if tif is TimeInForce.CLS:
                    self._close_auction(working, now, out)
                else:
                    self._emit(working, OrderEvent(_E.CANCELED, now, reason="missed open"), out)

    def _releasable(self, order: Order, now: datetime) -> bool:
        if order.time_in_force is TimeInForce.OPG:
            return self._session.is_open(now)
        return self._can_trade(order, now)

    def _day_over(self, working: _Working, now: datetime) -> bool:
        if working.expires_at is not None:
            return now >= working.expires_at
        return not self._can_trade(working.order, now)

    def _close_auction(self, working: _Working, now: datetime, out: list[Emitted]) -> None:
        last = self._quotes.get(working.order.symbol)
        if self.halts is not None and self.halts.is_halted(working.order.symbol, now):
            self._emit(working, OrderEvent(_E.CANCELED, now, reason="halted at the close"), out)
            return
        if last is None:
            self._emit(working, OrderEvent(_E.CANCELED, now, reason="no closing quote"), out)
            return
        self._execute(working, last, now, out, immediate=True)

    def _settle(self, now: datetime, out: list[Emitted]) -> None:
        for working in list(self._book.values()):
            due = working.settle_at
            if working.done or due is None or now < due:
                continue
            if working.order.status is _S.PENDING_CANCEL:
                self._emit(working, OrderEvent(_E.CANCELED, now), out)
            elif working.order.status is _S.PENDING_REPLACE and working.replacement:
                new = working.replacement
                working.replacement = None
                self._emit(working, OrderEvent(_E.REPLACED, now, replaced_by=new.id), out)
                self._admit(new, now, out)

    def _emit(self, working: _Working, event: OrderEvent, out: list[Emitted]) -> None:
        """Apply to the engine's copy (raising if illegal), record, drop terminal orders."""
        order = working.order
        order.apply(event)
        out.append((order.id, event))
        if not order.status.is_terminal:
            return
        working.done = True
        self._book.pop(order.id, None)
        if working.replacement is not None:
            reason = f"order {order.id} ended {order.status.value} before the replace"
            out.append((working.replacement.id, OrderEvent(_E.REJECT, event.at, reason=reason)))
            working.replacement = None

    # -- matching ----------------------------------------------------------------------
    def _match(
        self, working: _Working, top: TopOfBook, now: datetime, out: list[Emitted]
    ) -> Decimal:
        """Try one order against one quote; returns the quantity it took from the quote."""
        order = working.order
        tif = order.time_in_force
        if order.status not in _LIVE or tif is TimeInForce.CLS:
            return Decimal(0)
        if not self._can_trade(order, now) or top.at < working.live_from:
            return Decimal(0)
        if order.status in _PENDING and working.settle_at and top.at >= working.settle_at:
            return Decimal(0)  # the cancel/replace reached the venue before this quote
        if tif is TimeInForce.OPG:
            opened = self._session.session_open(now)
            if opened is not None and top.at < opened:
                return Decimal(0)
        return self._execute(working, top, now, out, immediate=tif in _IMMEDIATE)

    def _execute(
        self,
        working: _Working,
        top: TopOfBook,
        now: datetime,
        out: list[Emitted],
        *,
        immediate: bool,
    ) -> Decimal:
        order = working.order
        buy = order.side is Side.BUY
        ref, size = (top.ask, top.ask_size) if buy else (top.bid, top.bid_size)
        if order.type in _STOPS and not self._triggered(working, top):
            price: Decimal | None = None
        elif ref <= 0 or (self._model.allow_partial and size <= 0):
            price = None
        else:
            price = self._fill_price(order, ref)
        sized = None if price is None else self._size(order, price, size)
        qty = Decimal(0)
        if price is not None and sized is not None:
            qty, complete = sized
            fee = self._model.fees.fill_fee(order.side, qty, price, first_fill=working.fills == 0)
            working.fills += 1
            event = OrderEvent(
                _E.FILL if complete else _E.PARTIAL_FILL,
                now,
                execution_id=ExecutionId(f"{order.id}-{working.fills}"),
                qty=Quantity(qty),
                price=Price(price),
                detail=FillDetail(ref, self._model.slippage_bps, size, partial=not complete),
                fee=fee,
            )
            self._emit(working, event, out)
        if immediate and not working.done:
            self._emit(working, OrderEvent(_E.CANCELED, now, reason="unfilled remainder"), out)
        return qty

    def _triggered(self, working: _Working, top: TopOfBook) -> bool:
        if working.triggered:
            return True
        order = working.order
        buy = order.side is Side.BUY
        ref = top.ask if buy else top.bid
        if ref <= 0:
            return False
        if order.type is OrderType.TRAILING_STOP:
            stop = self._trail(working, ref)
        else:
            assert order.stop_price is not None
            stop = order.stop_price.value
        if (ref >= stop) if buy else (ref <= stop):
            working.triggered = order.stop_triggered = True
            self._moved.add(order.id)
        return working.triggered

    def _trail(self, working: _Working, ref: Decimal) -> Decimal:
        """Move the water mark with the market and return the stop level it implies."""
        order = working.order
        buy = order.side is Side.BUY
        mark = ref if working.mark is None else (min if buy else max)(working.mark, ref)
        if mark != working.mark:
            working.mark = order.high_water_mark = mark
            self._moved.add(order.id)
        if order.trail_price is not None:
            offset = order.trail_price.value
        else:
            assert order.trail_percent is not None
            offset = EXACT.multiply(mark, order.trail_percent) / 100
        return EXACT.add(mark, offset) if buy else EXACT.subtract(mark, offset)

    def _fill_price(self, order: Order, ref: Decimal) -> Decimal | None:
        buy = order.side is Side.BUY
        price = self._slipped(ref, buy)
        if order.type not in _LIMITS:
            return price
        assert order.limit_price is not None
        limit = order.limit_price.value
        if (ref > limit) if buy else (ref < limit):
            return None
        return min(price, limit) if buy else max(price, limit)

    def _slipped(self, ref: Decimal, buy: bool) -> Decimal:
        bps = self._model.slippage_bps
        if bps == 0:
            return ref
        factor = (_BPS + bps) / _BPS if buy else (_BPS - bps) / _BPS
        raw = EXACT.multiply(ref, factor)
        tick = tick_size(raw)
        moved = raw.quantize(tick, rounding=ROUND_CEILING if buy else ROUND_FLOOR, context=EXACT)
        return moved if moved > 0 else tick

    def _size(self, order: Order, price: Decimal, size: Decimal) -> tuple[Decimal, bool] | None:
        """(fill qty, completes the order) or ``None`` when nothing can fill."""
        remaining = order.remaining_qty
        if remaining is None:
            assert order.notional is not None
            left = EXACT.subtract(order.notional.amount, order.filled_notional)
            remaining = EXACT.divide(left, price).quantize(_SHARE_QUANTUM, rounding=ROUND_DOWN)
        if remaining <= 0:
            return None
        if not self._model.allow_partial:
            return remaining, True
        available = size.quantize(_SHARE_QUANTUM, rounding=ROUND_DOWN, context=EXACT)
        if available <= 0 or (order.time_in_force is TimeInForce.FOK and available < remaining):
            return None
        qty = min(remaining, available)
        return qty, qty == remaining
