"""``PaperEngine.restore`` and ``take_marks``: an engine rebuilt from stored orders goes on
exactly where an uninterrupted one goes (execution ids, water marks, stop triggers)."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from domain.errors import Conflict, ValidationFailed
from domain.ids import AccountId, OrderId
from domain.market_hours import MarketCalendar
from domain.order_request import OrderRequest
from domain.orders import Order
from domain.paper import FillModel, PaperEngine, StopMark, TopOfBook, fill_counter

D = Decimal
T0 = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)  # Friday, early close at 18:00 UTC
S = timedelta(seconds=1)
CAL = MarketCalendar(date(2026, 1, 1), date(2027, 6, 30))


def top(n: int, ask: str = "99.90", size: str = "3", bid: str = "99.80") -> TopOfBook:
    return TopOfBook("AAPL", D(bid), D(ask), D(100), D(size), T0 + n * S)


def new_order(**fields: str) -> Order:
    spec = {"symbol": "AAPL", "side": "buy", "type": "limit", "time_in_force": "day"}
    spec |= {"qty": "10", **fields}
    if spec["type"] == "limit":
        spec.setdefault("limit_price", "100")
    return OrderRequest.parse(**spec).to_order(
        OrderId(str(uuid.uuid4())), AccountId(str(uuid.uuid4())), T0
    )


def submitted(engine: PaperEngine, order: Order) -> Order:
    for event in engine.submit(copy.deepcopy(order), T0):
        order.apply(event)
    return order


def step(engine: PaperEngine, quote: TopOfBook, orders: dict[str, Order]) -> list[str]:
    out = []
    for oid, event in engine.on_quote(quote, quote.at):
        orders[oid].apply(event)
        out.append(event.kind.value)
    return out


def stored(order: Order, marks: dict[OrderId, StopMark]) -> Order:
    """What the database has after the desk stored the batch's marks."""
    copy_ = copy.deepcopy(order)
    if order.id in marks:
        copy_.high_water_mark = marks[order.id].high_water_mark
        copy_.stop_triggered = marks[order.id].triggered
    return copy_


def test_restore_midway_then_same_events_and_ids_as_uninterrupted() -> None:
    orders = [new_order(), new_order(time_in_force="gtc")]
    whole = PaperEngine(FillModel(), CAL)
    mine = {o.id: submitted(whole, copy.deepcopy(o)) for o in orders}
    expected = [
        str(e.execution_id or e.kind.value)
        for n in range(1, 9)
        for oid, e in whole.on_quote(top(n), T0 + n * S)
        if mine[oid].apply(e) or True
    ]

    first = PaperEngine(FillModel(), CAL)
    kept = {o.id: submitted(first, copy.deepcopy(o)) for o in orders}
    got = [
        str(e.execution_id or e.kind.value)
        for n in range(1, 4)
        for oid, e in first.on_quote(top(n), T0 + n * S)
        if kept[oid].apply(e) or True
    ]
    assert "partially_filled" in {o.status.value for o in kept.values()}

    second = PaperEngine(FillModel(), CAL)
    for o in kept.values():
        second.restore(o)
        assert fill_counter(o) == len(o.execution_ids)
    got += [
        str(e.execution_id or e.kind.value)
        for n in range(4, 9)
        for oid, e in second.on_quote(top(n), T0 + n * S)
        if kept[oid].apply(e) or True
    ]
    assert got == expected


def test_restored_day_order_then_expires_at_the_early_close() -> None:
    order = submitted(PaperEngine(FillModel(), CAL), new_order())
    restored = PaperEngine(FillModel(), CAL)
    restored.restore(order)
    early_close = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
    assert restored.on_clock(early_close - S) == []
    assert [e.kind.value for _, e in restored.on_clock(early_close)] == ["expire"]


def test_trailing_stop_marks_then_restored_mark_decides_the_trigger() -> None:
    engine = PaperEngine(FillModel(), CAL)
    order = submitted(engine, new_order(side="sell", type="trailing_stop", trail_price="2"))
    orders = {order.id: order}
    assert step(engine, top(1, bid="100", ask="100.1"), orders) == []
    assert engine.take_marks() == {order.id: StopMark(D(100), False)}
    step(engine, top(2, bid="104", ask="104.1"), orders)
    step(engine, top(3, bid="103", ask="103.1"), orders)  # mark stays 104
    marks = engine.take_marks()
    assert marks == {order.id: StopMark(D(104), False)}
    assert engine.take_marks() == {}  # nothing moved since

    restored = PaperEngine(FillModel(), CAL)
    restored.restore(stored(order, marks))
    assert restored.order(order.id).high_water_mark == D(104)
    assert step(restored, top(4, bid="102.5", ask="102.6"), orders) == []
    assert restored.take_marks() == {}  # below the stored mark: nothing moved
    # 102 is the stop of the stored mark (104 - 2); a mark restarted from the last quote
    # (102.5) would put the stop at 100.5 and not trigger here.
    assert step(restored, top(5, bid="102", ask="102.1"), orders) == ["fill"]


def test_trailing_stop_without_a_stored_mark_then_starts_from_the_next_quote() -> None:
    engine = PaperEngine(FillModel(), CAL)
    order = submitted(engine, new_order(side="sell", type="trailing_stop", trail_price="2"))
    restored = PaperEngine(FillModel(), CAL)
    restored.restore(order)
    orders = {order.id: order}
    assert step(restored, top(1, bid="102", ask="102.1"), orders) == []  # mark 102, stop 100
    assert restored.take_marks() == {order.id: StopMark(D(102), False)}


def test_triggered_stop_limit_then_restored_triggered_and_fills_without_a_new_trigger() -> None:
    engine = PaperEngine(FillModel(), CAL)
    order = submitted(
        engine, new_order(side="sell", type="stop_limit", stop_price="95", limit_price="94.5")
    )
    orders = {order.id: order}
    assert step(engine, top(1, bid="94", ask="94.2"), orders) == []  # triggers, not marketable
    marks = engine.take_marks()
    assert marks == {order.id: StopMark(None, True)}
    assert engine.order(order.id).stop_triggered is True

    rearmed = PaperEngine(FillModel(), CAL)  # the old behaviour: trigger not stored
    rearmed.restore(copy.deepcopy(order))
    assert step(rearmed, top(2, bid="96", ask="96.5"), copy.deepcopy(orders)) == []

    restored = PaperEngine(FillModel(), CAL)
    restored.restore(stored(order, marks))
    assert restored.order(order.id).stop_triggered is True
    assert step(restored, top(2, bid="96", ask="96.5"), orders) == ["fill"]


def test_restore_refuses_orders_not_working_or_twice() -> None:
    engine = PaperEngine(FillModel(), CAL)
    with pytest.raises(ValidationFailed):
        engine.restore(new_order())  # pending_new: never reached the engine
    order = submitted(PaperEngine(FillModel(), CAL), new_order())
    engine.restore(order)
    with pytest.raises(Conflict):
        engine.restore(order)
