"""``RestorableEngine.restore`` (pure): an engine rebuilt from stored orders continues
exactly where an uninterrupted one goes, execution ids included."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from actors.paper_state import RestorableEngine, fill_counter
from cluster.orders.wiring import calendar_around
from domain.ids import AccountId, OrderId
from domain.orders import Order
from domain.paper import FillModel, PaperEngine, TopOfBook
from tests.kit.orders import request

T0 = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)  # Friday, early close at 18:00 UTC
S = timedelta(seconds=1)
CAL = calendar_around(T0)


def top(n: int, ask: str = "99.90", size: str = "3") -> TopOfBook:
    return TopOfBook(
        "AAPL", Decimal("99.80"), Decimal(ask), Decimal(100), Decimal(size), T0 + n * S
    )


def new_order(**fields: str) -> Order:
    spec = {"type": "limit", "qty": "10", "limit_price": "100", **fields}
    return request(**spec).to_order(OrderId(str(uuid.uuid4())), AccountId(str(uuid.uuid4())), T0)


def run(engine: PaperEngine, steps: range, mirror: dict[str, Order]) -> list[str]:
    ids = []
    for n in steps:
        for oid, event in engine.on_quote(top(n), T0 + n * S):
            mirror[oid].apply(event)
            ids.append(str(event.execution_id or event.kind.value))
    return ids


def test_restore_midway_then_same_events_and_ids_as_uninterrupted() -> None:
    orders = [new_order(), new_order(time_in_force="gtc")]
    whole = PaperEngine(FillModel(), CAL)
    mine = {o.id: copy.deepcopy(o) for o in orders}
    for o in orders:
        for event in whole.submit(copy.deepcopy(o), T0):
            mine[o.id].apply(event)
    expected = run(whole, range(1, 9), mine)

    first = PaperEngine(FillModel(), CAL)
    stored = {o.id: copy.deepcopy(o) for o in orders}
    for o in orders:
        for event in first.submit(copy.deepcopy(o), T0):
            stored[o.id].apply(event)
    got = run(first, range(1, 4), stored)
    assert "partially_filled" in {o.status.value for o in stored.values()}

    second = RestorableEngine(FillModel(), CAL)
    for o in stored.values():
        second.restore(o)
        assert fill_counter(o) == len(o.execution_ids)
    got += run(second, range(4, 9), stored)
    assert got == expected


def test_restored_day_order_then_expires_at_the_early_close() -> None:
    order = new_order()
    engine = PaperEngine(FillModel(), CAL)
    for event in engine.submit(copy.deepcopy(order), T0):
        order.apply(event)
    restored = RestorableEngine(FillModel(), CAL)
    restored.restore(order)
    early_close = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
    assert restored.on_clock(early_close - S) == []
    assert [e.kind.value for _, e in restored.on_clock(early_close)] == ["expire"]
