from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from domain.errors import Conflict, IllegalTransition, NotFound, ValidationFailed
from domain.fees import FeeModel
from domain.ids import AccountId, OrderId
from domain.order_request import OrderRequest, ReplaceRequest
from domain.orders import Order, OrderEvent, OrderEventKind, OrderStatus
from domain.paper import FillModel, PaperEngine, TopOfBook

E = OrderEventKind
S = OrderStatus
D = Decimal

# Two sessions (UTC): a full day, then an early close at 18:00.
OPEN1 = datetime(2026, 11, 25, 14, 30, tzinfo=UTC)
CLOSE1 = datetime(2026, 11, 25, 21, 0, tzinfo=UTC)
OPEN2 = datetime(2026, 11, 27, 14, 30, tzinfo=UTC)
CLOSE2 = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
EXT = timedelta(hours=4)


class FakeSession:
    """Scripted sessions; extended hours are the 4 hours either side of each session."""

    def __init__(self, sessions: list[tuple[datetime, datetime]] | None = None) -> None:
        self.sessions = sessions or [(OPEN1, CLOSE1), (OPEN2, CLOSE2)]

    def _around(self, at: datetime) -> tuple[datetime, datetime] | None:
        return next((s for s in self.sessions if s[0] - EXT <= at < s[1] + EXT), None)

    def is_open(self, at: datetime) -> bool:
        return any(o <= at < c for o, c in self.sessions)

    def is_extended(self, at: datetime) -> bool:
        return any(o - EXT <= at < o or c <= at < c + EXT for o, c in self.sessions)

    def session_open(self, at: datetime) -> datetime | None:
        session = self._around(at)
        return None if session is None else session[0]

    def session_close(self, at: datetime) -> datetime | None:
        session = self._around(at)
        return None if session is None else session[1]

    def next_open(self, at: datetime) -> datetime:
        return min(o for o, _ in self.sessions if o > at)


class Harness:
    """Engine plus the caller's own order records, to which every emitted event applies."""

    def __init__(self, model: FillModel | None = None) -> None:
        self.engine = PaperEngine(model or FillModel(), FakeSession())
        self.orders: dict[str, Order] = {}
        self.log: list[tuple[str, OrderEvent]] = []
        self.count = 0

    def submit(self, now: datetime, **fields: Any) -> OrderId:
        self.count += 1
        spec: dict[str, Any] = {"symbol": "AAPL", "side": "buy", "type": "market"}
        spec.update({"time_in_force": "day", "qty": "10"} | fields)
        order = OrderRequest.parse(**spec).to_order(OrderId(f"o{self.count}"), AccountId("a"), now)
        self.orders[order.id] = order
        self._record([(order.id, e) for e in self.engine.submit(order, now)])
        return order.id

    def quote(
        self,
        at: datetime,
        bid: str = "99",
        ask: str = "100",
        bid_size: str = "100",
        ask_size: str = "100",
        now: datetime | None = None,
        symbol: str = "AAPL",
    ) -> list[tuple[str, OrderEvent]]:
        top = TopOfBook(symbol, D(bid), D(ask), D(bid_size), D(ask_size), at)
        return self._record(self.engine.on_quote(top, now or at))

    def clock(self, now: datetime) -> list[tuple[str, OrderEvent]]:
        return self._record(self.engine.on_clock(now))

    def cancel(self, order_id: OrderId, now: datetime) -> None:
        self._record([(order_id, e) for e in self.engine.cancel(order_id, now)])

    def replace(self, order_id: OrderId, now: datetime, **changes: Any) -> OrderId:
        old = self.orders[order_id]
        self.count += 1
        new = ReplaceRequest.parse(old, **changes).to_order(old, OrderId(f"o{self.count}"), now)
        self.orders[new.id] = new
        self._record([(order_id, e) for e in self.engine.replace(order_id, new, now)])
        return new.id

    def _record(self, emitted: list[Any]) -> list[tuple[str, OrderEvent]]:
        for order_id, event in emitted:
            assert self.orders[order_id].apply(event) is True
            self.log.append((order_id, event))
        return list(emitted)

    def status(self, order_id: str) -> OrderStatus:
        return self.orders[order_id].status

    def fills(self, order_id: str) -> list[tuple[Decimal, Decimal]]:
        return [
            (e.qty.value, e.price.value)
            for oid, e in self.log
            if oid == order_id and e.is_fill and e.qty and e.price
        ]

    def kinds(self, order_id: str) -> list[OrderEventKind]:
        return [e.kind for oid, e in self.log if oid == order_id]


T = OPEN1 + timedelta(hours=1)


def at(minutes: float) -> datetime:
    return T + timedelta(minutes=minutes)


# -- acknowledgement and release --------------------------------------------------------


def test_submit_while_open_then_new() -> None:
    h = Harness()
    oid = h.submit(T)
    assert h.kinds(oid) == [E.ACKNOWLEDGE]
    assert h.orders[oid].submitted_at == T


def test_submit_while_closed_then_accepted_and_released_at_next_open() -> None:
    h = Harness()
    night = CLOSE1 + timedelta(hours=6)
    oid = h.submit(night)
    assert h.status(oid) is S.ACCEPTED
    assert h.quote(night + timedelta(minutes=1)) == []  # closed: no release, no fill
    h.clock(OPEN2 - timedelta(seconds=1))
    assert h.status(oid) is S.ACCEPTED
    h.clock(OPEN2)
    assert h.kinds(oid) == [E.ACCEPT_CLOSED, E.RELEASE]
    h.quote(OPEN2 + timedelta(seconds=1))
    assert h.status(oid) is S.FILLED


def test_quote_release_then_fill_in_one_step() -> None:
    h = Harness()
    oid = h.submit(OPEN1 - timedelta(hours=8))
    h.quote(OPEN1)
    assert h.kinds(oid) == [E.ACCEPT_CLOSED, E.RELEASE, E.FILL]


# -- market, limit, slippage, size ------------------------------------------------------


def test_market_buy_fills_at_ask_and_sell_at_bid() -> None:
    h = Harness()
    buy = h.submit(T)
    sell = h.submit(T, side="sell")
    h.quote(at(1), bid="99.5", ask="99.75")
    assert h.fills(buy) == [(D(10), D("99.75"))]
    assert h.fills(sell) == [(D(10), D("99.5"))]
    assert h.status(buy) is h.status(sell) is S.FILLED


def test_fills_only_on_quotes_of_the_order_symbol() -> None:
    h = Harness()
    oid = h.submit(T)
    assert h.quote(at(1), symbol="MSFT") == []
    assert h.status(oid) is S.NEW


def test_limit_buy_rests_until_ask_at_or_below_limit() -> None:
    h = Harness()
    oid = h.submit(T, type="limit", limit_price="99")
    h.quote(at(1), ask="99.01")
    assert h.status(oid) is S.NEW
    h.quote(at(2), ask="98.5")
    assert h.fills(oid) == [(D(10), D("98.5"))]


def test_limit_sell_rests_until_bid_at_or_above_limit() -> None:
    h = Harness()
    oid = h.submit(T, side="sell", type="limit", limit_price="101")
    h.quote(at(1), bid="100.99", ask="101.5")
    assert h.status(oid) is S.NEW
    h.quote(at(2), bid="101.2", ask="101.5")
    assert h.fills(oid) == [(D(10), D("101.2"))]


def test_slippage_moves_price_against_order_rounded_to_tick() -> None:
    h = Harness(FillModel(slippage_bps=D(5)))
    buy = h.submit(T)
    sell = h.submit(T, side="sell")
    h.quote(at(1), bid="99.99", ask="100.01")
    # 100.01 x 1.0005 = 100.060005 -> 100.07 (up); 99.99 x 0.9995 = 99.940005 -> 99.94 (down)
    assert h.fills(buy) == [(D(10), D("100.07"))]
    assert h.fills(sell) == [(D(10), D("99.94"))]
    detail = h.log[-1][1].detail
    assert detail is not None
    assert (detail.reference_price, detail.slippage_bps, detail.partial) == (
        D("99.99"),
        D(5),
        False,
    )


def test_slippage_never_pushes_a_limit_past_its_limit() -> None:
    h = Harness(FillModel(slippage_bps=D(50)))
    oid = h.submit(T, type="limit", limit_price="100.2")
    h.quote(at(1), ask="100")
    assert h.fills(oid) == [(D(10), D("100.2"))]


def test_partial_fills_limited_by_quoted_size() -> None:
    h = Harness()
    oid = h.submit(T)
    h.quote(at(1), ask_size="3")
    assert h.status(oid) is S.PARTIALLY_FILLED
    h.quote(at(2), ask="100.5", ask_size="4")
    h.quote(at(3), ask="101", ask_size="50")
    assert h.fills(oid) == [(D(3), D(100)), (D(4), D("100.5")), (D(3), D(101))]
    assert h.kinds(oid)[1:] == [E.PARTIAL_FILL, E.PARTIAL_FILL, E.FILL]
    order = h.orders[oid]
    assert order.status is S.FILLED
    assert order.filled_avg_price == D("100.5")
    first = h.log[1][1].detail
    assert first is not None and first.partial is True and first.quote_size == D(3)


def test_orders_share_displayed_size_in_time_priority() -> None:
    h = Harness()
    first = h.submit(T, qty="6")
    second = h.submit(T, qty="6")
    sell = h.submit(T, side="sell", qty="2")
    h.quote(at(1), ask_size="8", bid_size="2")
    assert h.fills(first) == [(D(6), D(100))]
    assert h.fills(second) == [(D(2), D(100))]
    assert h.fills(sell) == [(D(2), D(99))]


def test_empty_side_of_book_does_not_fill() -> None:
    h = Harness()
    oid = h.submit(T)
    h.quote(at(1), ask="0", ask_size="0")
    assert h.status(oid) is S.NEW


def test_without_partial_fills_the_whole_order_fills_at_once() -> None:
    h = Harness(FillModel(allow_partial=False))
    oid = h.submit(T, qty="1000")
    h.quote(at(1), ask_size="1")
    assert h.fills(oid) == [(D(1000), D(100))]


def test_latency_quote_before_submitted_plus_latency_does_not_fill() -> None:
    h = Harness(FillModel(latency=timedelta(seconds=2)))
    oid = h.submit(T)
    h.quote(T + timedelta(seconds=1))
    assert h.status(oid) is S.NEW
    h.quote(T + timedelta(seconds=2), ask="100.5")
    assert h.fills(oid) == [(D(10), D("100.5"))]


def test_notional_market_order_fills_resolved_quantity() -> None:
    h = Harness()
    oid = h.submit(T, qty=None, notional="1000")
    h.quote(at(1), ask="300", ask_size="2")
    h.quote(at(2), ask="300", ask_size="100")
    order = h.orders[oid]
    assert order.status is S.FILLED
    assert order.filled_qty == D("3.333333333")
    assert order.filled_notional <= D(1000)


# -- stops --------------------------------------------------------------------------------


def test_stop_buy_triggers_when_ask_reaches_stop_then_trades_as_market() -> None:
    h = Harness()
    oid = h.submit(T, type="stop", stop_price="101")
    h.quote(at(1), ask="100.99")
    assert h.status(oid) is S.NEW
    h.quote(at(2), ask="101.3")
    assert h.fills(oid) == [(D(10), D("101.3"))]


def test_stop_sell_triggers_when_bid_falls_to_stop() -> None:
    h = Harness()
    oid = h.submit(T, side="sell", type="stop", stop_price="95")
    h.quote(at(1), bid="95.01")
    assert h.status(oid) is S.NEW
    h.quote(at(2), bid="94.8", ask="95")
    assert h.fills(oid) == [(D(10), D("94.8"))]


def test_stop_limit_triggers_then_rests_as_limit() -> None:
    h = Harness()
    oid = h.submit(T, side="sell", type="stop_limit", stop_price="95", limit_price="94.5")
    h.quote(at(1), bid="94", ask="94.2")  # triggers, but 94 < limit 94.5
    assert h.status(oid) is S.NEW
    h.quote(at(2), bid="96", ask="96.5")  # stays triggered; now marketable as a limit
    assert h.fills(oid) == [(D(10), D(96))]


def test_trailing_stop_sell_follows_high_water_mark() -> None:
    h = Harness()
    oid = h.submit(T, side="sell", type="trailing_stop", trail_price="2", time_in_force="gtc")
    for minute, bid in enumerate(["100", "103", "102", "101.01"], start=1):
        h.quote(at(minute), bid=bid, ask=str(D(bid) + 1))
    assert h.status(oid) is S.NEW
    assert h.engine.order(oid).high_water_mark == D(103)
    h.quote(at(9), bid="101", ask="102")  # 103 - 2
    assert h.fills(oid) == [(D(10), D(101))]


def test_trailing_stop_percent_buy_follows_low_water_mark() -> None:
    h = Harness()
    oid = h.submit(T, type="trailing_stop", trail_percent="1", time_in_force="gtc")
    h.quote(at(1), ask="100")
    h.quote(at(2), ask="90")
    h.quote(at(3), ask="90.89")  # stop = 90 x 1.01 = 90.9
    assert h.status(oid) is S.NEW
    h.quote(at(4), ask="90.9")
    assert h.fills(oid) == [(D(10), D("90.9"))]


# -- time in force -----------------------------------------------------------------------


def test_ioc_fills_what_is_available_then_cancels_rest() -> None:
    h = Harness()
    oid = h.submit(T, time_in_force="ioc")
    h.quote(at(1), ask_size="4")
    assert h.kinds(oid) == [E.ACKNOWLEDGE, E.PARTIAL_FILL, E.CANCELED]
    assert h.orders[oid].filled_qty == D(4)


def test_ioc_when_not_marketable_then_canceled() -> None:
    h = Harness()
    oid = h.submit(T, type="limit", limit_price="90", time_in_force="ioc")
    h.quote(at(1))
    assert h.kinds(oid) == [E.ACKNOWLEDGE, E.CANCELED]


def test_fok_when_size_short_then_canceled_without_fill() -> None:
    h = Harness()
    oid = h.submit(T, time_in_force="fok")
    h.quote(at(1), ask_size="9")
    assert h.kinds(oid) == [E.ACKNOWLEDGE, E.CANCELED]


def test_fok_when_size_enough_then_fills_entirely() -> None:
    h = Harness()
    oid = h.submit(T, time_in_force="fok")
    h.quote(at(1), ask_size="10")
    assert h.kinds(oid) == [E.ACKNOWLEDGE, E.FILL]


def test_day_order_expires_at_early_close() -> None:
    h = Harness()
    oid = h.submit(OPEN2 + timedelta(hours=1), type="limit", limit_price="50")
    h.clock(CLOSE2 - timedelta(seconds=1))
    assert h.status(oid) is S.NEW
    h.clock(CLOSE2)
    assert h.status(oid) is S.EXPIRED
    assert h.orders[oid].expired_at == CLOSE2


def test_day_order_expires_before_a_late_quote_can_fill_it() -> None:
    h = Harness()
    oid = h.submit(T)
    h.quote(CLOSE1 + timedelta(minutes=1))
    assert h.kinds(oid) == [E.ACKNOWLEDGE, E.EXPIRE]


def test_gtc_order_survives_the_close_and_trades_next_session() -> None:
    h = Harness()
    oid = h.submit(T, type="limit", limit_price="50", time_in_force="gtc")
    h.clock(CLOSE1 + timedelta(hours=1))
    h.quote(CLOSE1 + timedelta(hours=2), ask="40")  # closed: no fill
    assert h.status(oid) is S.NEW
    h.quote(OPEN2, ask="40")
    assert h.fills(oid) == [(D(10), D(40))]


def test_extended_hours_limit_trades_after_hours_then_expires() -> None:
    h = Harness()
    oid = h.submit(
        CLOSE1 + timedelta(minutes=5), type="limit", limit_price="99", extended_hours=True, qty="20"
    )
    assert h.status(oid) is S.NEW
    h.quote(CLOSE1 + timedelta(minutes=6), ask="98", ask_size="5")
    assert h.orders[oid].filled_qty == D(5)
    h.clock(CLOSE1 + EXT)
    assert h.status(oid) is S.EXPIRED


def test_opg_executes_at_first_quote_after_open_and_cancels_rest() -> None:
    h = Harness()
    oid = h.submit(OPEN1 - timedelta(hours=1), time_in_force="opg")
    h.quote(OPEN1 - timedelta(minutes=1))  # pre-open quote: ignored
    assert h.status(oid) is S.ACCEPTED
    h.quote(OPEN1, ask="100.5", ask_size="6")
    assert h.kinds(oid) == [E.ACCEPT_CLOSED, E.RELEASE, E.PARTIAL_FILL, E.CANCELED]
    assert h.fills(oid) == [(D(6), D("100.5"))]


def test_opg_during_session_then_rejected() -> None:
    h = Harness()
    oid = h.submit(T, time_in_force="opg")
    assert h.status(oid) is S.REJECTED
    assert h.engine.working() == []


def test_opg_without_any_quote_by_close_then_canceled() -> None:
    h = Harness()
    oid = h.submit(OPEN1 - timedelta(hours=1), time_in_force="opg")
    h.clock(OPEN1)
    h.clock(CLOSE1)
    assert h.kinds(oid) == [E.ACCEPT_CLOSED, E.RELEASE, E.CANCELED]


def test_cls_executes_at_close_against_last_quote() -> None:
    h = Harness()
    oid = h.submit(T, time_in_force="cls")
    h.quote(at(1), ask="100")
    h.quote(CLOSE1 - timedelta(seconds=1), ask="101.25")
    assert h.status(oid) is S.NEW  # not during the session
    h.clock(CLOSE1)
    assert h.fills(oid) == [(D(10), D("101.25"))]


def test_cls_without_quote_then_canceled_at_close() -> None:
    h = Harness()
    oid = h.submit(T, time_in_force="cls")
    h.clock(CLOSE1)
    assert h.kinds(oid) == [E.ACKNOWLEDGE, E.CANCELED]


def test_cls_limit_not_marketable_at_close_then_canceled() -> None:
    h = Harness()
    oid = h.submit(T, type="limit", limit_price="90", time_in_force="cls")
    h.quote(at(1))
    h.clock(CLOSE1 + timedelta(minutes=3))
    assert h.kinds(oid) == [E.ACKNOWLEDGE, E.CANCELED]


# -- cancel and replace -------------------------------------------------------------------


def test_cancel_goes_pending_then_canceled_at_next_step() -> None:
    h = Harness()
    oid = h.submit(T, type="limit", limit_price="50")
    h.cancel(oid, at(1))
    assert h.status(oid) is S.PENDING_CANCEL
    h.clock(at(1))
    assert h.kinds(oid) == [E.ACKNOWLEDGE, E.CANCEL_REQUESTED, E.CANCELED]
    assert h.engine.working() == []


def test_fill_racing_a_cancel_then_ends_filled() -> None:
    h = Harness(FillModel(latency=timedelta(seconds=1)))
    oid = h.submit(T)
    h.cancel(oid, T + timedelta(seconds=2))
    # Stamped before the cancel reaches the venue (t+3): it fills, and the fill wins.
    h.quote(T + timedelta(seconds=2.5), now=T + timedelta(seconds=4))
    assert h.kinds(oid) == [E.ACKNOWLEDGE, E.CANCEL_REQUESTED, E.FILL]
    assert h.status(oid) is S.FILLED
    assert h.clock(T + timedelta(seconds=5)) == []


def test_partial_fill_racing_a_cancel_then_rest_canceled() -> None:
    h = Harness(FillModel(latency=timedelta(seconds=1)))
    oid = h.submit(T)
    h.cancel(oid, T + timedelta(seconds=2))
    h.quote(T + timedelta(seconds=2.5), ask_size="3", now=T + timedelta(seconds=3))
    assert h.kinds(oid) == [E.ACKNOWLEDGE, E.CANCEL_REQUESTED, E.PARTIAL_FILL, E.CANCELED]
    assert h.orders[oid].filled_qty == D(3)


def test_quote_after_cancel_took_effect_does_not_fill() -> None:
    h = Harness()
    oid = h.submit(T)
    h.cancel(oid, at(1))
    h.quote(at(1))
    assert h.kinds(oid) == [E.ACKNOWLEDGE, E.CANCEL_REQUESTED, E.CANCELED]


def test_cancel_unknown_order_then_not_found_and_twice_then_illegal() -> None:
    h = Harness()
    with pytest.raises(NotFound):
        h.engine.cancel(OrderId("nope"), T)
    oid = h.submit(T, type="limit", limit_price="50")
    h.cancel(oid, T)
    with pytest.raises(IllegalTransition):
        h.engine.cancel(oid, T)


def test_cancel_while_pending_replace_then_refused() -> None:
    h = Harness(FillModel(latency=timedelta(seconds=1)))
    oid = h.submit(T, type="limit", limit_price="50")
    h.replace(oid, at(1), limit_price="51")
    with pytest.raises(IllegalTransition):
        h.engine.cancel(oid, at(1))


def test_replace_then_old_replaced_and_new_acknowledged() -> None:
    h = Harness()
    old = h.submit(T, type="limit", limit_price="50")
    new = h.replace(old, at(1), limit_price="99.5")
    assert h.status(old) is S.PENDING_REPLACE
    h.quote(at(2), ask="99.25")
    assert h.kinds(old) == [E.ACKNOWLEDGE, E.REPLACE_REQUESTED, E.REPLACED]
    assert h.orders[old].replaced_by == new and h.orders[new].replaces == old
    assert h.status(new) is S.NEW
    h.quote(at(3), ask="99.25")
    assert h.fills(new) == [(D(10), D("99.25"))]


def test_replace_when_old_fills_first_then_replacement_rejected() -> None:
    h = Harness(FillModel(latency=timedelta(seconds=1)))
    old = h.submit(T)
    new = h.replace(old, T + timedelta(seconds=2), qty="5")
    h.quote(T + timedelta(seconds=2.5), now=T + timedelta(seconds=3))
    assert h.status(old) is S.FILLED
    assert h.status(new) is S.REJECTED


def test_duplicate_submit_then_conflict() -> None:
    h = Harness()
    oid = h.submit(T)
    with pytest.raises(Conflict):
        h.engine.submit(h.orders[oid], T)


# -- determinism -------------------------------------------------------------------------


def _script(h: Harness) -> list[tuple[str, OrderEvent]]:
    h.submit(T, qty="25")
    h.submit(T, side="sell", type="limit", limit_price="100.5", qty="7")
    h.submit(T, side="sell", type="trailing_stop", trail_percent="0.5", time_in_force="gtc")
    for minute, (bid, ask, size) in enumerate(
        [("99", "100", "5"), ("100.6", "100.8", "3"), ("99.9", "100.1", "40"), ("98", "98.5", "9")]
    ):
        h.quote(at(minute + 1), bid=bid, ask=ask, bid_size=size, ask_size=size)
    h.clock(CLOSE1)
    return h.log


def test_same_quotes_twice_then_identical_events_and_execution_ids() -> None:
    model = FillModel(slippage_bps=D("2.5"))
    first, second = _script(Harness(model)), _script(Harness(model))
    assert first == second
    ids = [e.execution_id for _, e in first if e.is_fill]
    assert ids == ["o1-1", "o1-2", "o2-1", "o1-3", "o3-1"]


# -- inputs ------------------------------------------------------------------------------


@dataclass
class _FeedQuote:
    symbol: str
    bid_price: Decimal
    bid_size: int
    ask_price: Decimal
    ask_size: int
    exchange_ts: datetime


def test_top_of_book_adapts_a_feed_quote() -> None:
    top = TopOfBook.adapt(_FeedQuote("AAPL", D("1.5"), 3, D("1.6"), 4, T))
    assert (top.bid, top.ask, top.bid_size, top.ask_size, top.at) == (
        D("1.5"),
        D("1.6"),
        D(3),
        D(4),
        T,
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [("bid", D(-1)), ("ask", D("NaN")), ("ask_size", 1.5), ("bid", D("0.0000000001"))],
)
def test_top_of_book_refuses_bad_numbers(field: str, value: object) -> None:
    fields: dict[str, Any] = {"bid": D(1), "ask": D(2), "bid_size": D(1), "ask_size": D(1)}
    fields[field] = value
    with pytest.raises(ValidationFailed) as exc:
        TopOfBook("AAPL", at=T, **fields)
    assert exc.value.field == field


def test_top_of_book_refuses_naive_time() -> None:
    with pytest.raises(ValidationFailed):
        TopOfBook("AAPL", D(1), D(2), D(1), D(1), datetime(2026, 1, 1))


@pytest.mark.parametrize(
    "kwargs",
    [{"slippage_bps": D(-1)}, {"slippage_bps": 1.0}, {"latency": timedelta(seconds=-1)}],
)
def test_fill_model_refuses_bad_settings(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailed):
        FillModel(**kwargs)


# -- fees --------------------------------------------------------------------------------


def test_fills_carry_the_fee_model_fee_per_order_on_the_first_fill_only() -> None:
    fees = FeeModel(per_order=D("1.00"), per_share=D("0.01"), taf_per_share=D(0))
    h = Harness(FillModel(fees=fees))
    oid = h.submit(T, type="limit", limit_price="100")
    h.quote(at(1), ask="100", ask_size="4")
    h.quote(at(2), ask="100", ask_size="100")
    got = [e.fee for o, e in h.log if o == oid and e.is_fill]
    assert got == [D("1.04"), D("0.06")]  # 4 shares + per order, then 6 shares


def test_sell_fill_carries_the_regulatory_fees_and_default_model_charges_none() -> None:
    h = Harness(FillModel(fees=FeeModel(sec_rate=D("0.0000278"))))
    oid = h.submit(T, side="sell")
    h.quote(at(1), bid="50")  # 10 x 50: SEC 0.0139 -> 0.02, TAF 0.00166 -> 0.01
    assert [e.fee for o, e in h.log if o == oid and e.is_fill] == [D("0.03")]
    plain = Harness()
    sold = plain.submit(T, side="sell")
    plain.quote(at(1), bid="50")
    assert [e.fee for o, e in plain.log if o == sold and e.is_fill] == [D(0)]
