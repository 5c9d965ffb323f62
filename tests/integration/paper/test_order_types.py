"""Each order type and time in force through the paper broker actor, the OrderService and
the real database, on scripted quotes. Prices, cash and positions are checked to the cent.

Wednesday 2026-11-25 is a full session (14:30-21:00 UTC); fills use the default fill
model (no slippage, no latency, partial fills by displayed size) unless a test says so.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from tests.integration.paper.conftest import WEDNESDAY, Desk
from tests.kit.quotes import call

D = Decimal
S = timedelta(seconds=1)
T0 = WEDNESDAY


async def test_market_buy_day_when_quote_arrives_then_fills_at_ask(desk: Desk) -> None:
    desk.driver.book("AAPL", "99.90", "100.00")
    order = await desk.place(symbol="AAPL", side="buy", type="market", qty="10")
    assert order.status.value == "new"

    await desk.driver.step(T0 + S, ("AAPL", "99.90", "100.00"))

    order = desk.order(order.id)
    assert order.status.value == "filled"
    assert order.filled_qty == 10 and order.filled_avg_price == D("100.00")
    assert desk.fills(order.id) == [(f"{order.id}-1", D("10"), D("100.00"))]
    assert desk.cash() == D("99000.00")
    assert desk.position("AAPL") == D("10")
    detail = dict(desk.events(order.id))["fill"]["fill_detail"]
    assert detail == {
        "reference_price": "100.00",
        "slippage_bps": "0",
        "quote_size": "100",
        "partial": False,
    }
    assert desk.service.check_invariants(desk.account) == []


def fill_details(desk: Desk, order: Any) -> list[dict[str, Any]]:
    return [
        detail["fill_detail"]
        for kind, detail in desk.events(order.id)
        if kind in ("fill", "partial_fill")
    ]


async def hold(desk: Desk, symbol: str, qty: str, at: Any) -> None:
    """Buy ``qty`` at 100.00 first, so sell orders have shares (no shorting in paper)."""
    desk.driver.book(symbol, "99.90", "100.00")
    order = await desk.place(symbol=symbol, side="buy", type="market", qty=qty)
    await desk.driver.step(at, (symbol, "99.90", "100.00"))
    assert desk.order(order.id).status.value == "filled"


# -- market ------------------------------------------------------------------------------


async def test_market_buy_with_slippage_on_thin_book_then_partial_fills_at_slipped_price(
    make_desk: Any,
) -> None:
    desk = await make_desk(paper_slippage_bps=D("10"))
    assert await call(desk.actor.fill_model.remote()) == {
        "slippage_bps": "10",
        "allow_partial": True,
        "latency_ms": 0,
        "fees": {  # the default paper fees: no commission, SEC and FINRA TAF on sells
            "per_share": "0",
            "per_order": "0",
            "rate": "0",
            "sec_rate": "0",
            "taf_per_share": "0.000166",
            "taf_max": "8.30",
        },
    }
    desk.driver.book("AAPL", "99.90", "100.00")
    order = await desk.place(symbol="AAPL", side="buy", type="market", qty="10")

    await desk.driver.step(T0 + S, ("AAPL", "99.90", "100.00", 100, 4))
    assert desk.order(order.id).status.value == "partially_filled"
    await desk.driver.step(T0 + 2 * S, ("AAPL", "99.90", "100.00", 100, 100))

    order = desk.order(order.id)
    assert order.status.value == "filled"
    assert [(q, p) for _, q, p in desk.fills(order.id)] == [
        (D("4"), D("100.10")),
        (D("6"), D("100.10")),
    ]
    assert desk.cash() == D("98999.00")
    assert fill_details(desk, order) == [
        {"reference_price": "100.00", "slippage_bps": "10", "quote_size": "4", "partial": True},
        {"reference_price": "100.00", "slippage_bps": "10", "quote_size": "100", "partial": False},
    ]
    assert desk.service.check_invariants(desk.account) == []


async def test_market_sell_when_bid_present_then_fills_at_bid(desk: Desk) -> None:
    await hold(desk, "MSFT", "10", T0 + S)
    order = await desk.place(symbol="MSFT", side="sell", type="market", qty="10")
    await desk.driver.step(T0 + 2 * S, ("MSFT", "100.40", "100.50"))
    assert desk.order(order.id).status.value == "filled"
    assert desk.cash() == D("100004.00") - D("0.01")  # FINRA TAF on 10 shares sold
    assert desk.position("MSFT") == 0


# -- limit -------------------------------------------------------------------------------


async def test_limit_buy_when_ask_above_limit_then_waits_and_fills_below_limit(
    desk: Desk,
) -> None:
    order = await desk.place(symbol="AAPL", side="buy", type="limit", qty="10", limit_price="99.50")
    await desk.driver.step(T0 + S, ("AAPL", "99.90", "100.00"))
    assert desk.order(order.id).status.value == "new"
    assert desk.fills(order.id) == []

    await desk.driver.step(T0 + 2 * S, ("AAPL", "99.30", "99.40"))
    order = desk.order(order.id)
    assert order.status.value == "filled" and order.filled_avg_price == D("99.40")
    assert desk.cash() == D("99006.00")


async def test_limit_sell_when_bid_reaches_limit_then_fills_at_bid(desk: Desk) -> None:
    await hold(desk, "AAPL", "10", T0 + S)
    order = await desk.place(symbol="AAPL", side="sell", type="limit", qty="10", limit_price="101")
    await desk.driver.step(T0 + 2 * S, ("AAPL", "100.50", "100.60"))
    assert desk.order(order.id).status.value == "new"
    await desk.driver.step(T0 + 3 * S, ("AAPL", "101.20", "101.30"))
    assert desk.order(order.id).status.value == "filled"
    assert desk.cash() == D("100012.00") - D("0.01")  # FINRA TAF on 10 shares sold
    assert desk.position("AAPL") == 0


# -- stops -------------------------------------------------------------------------------


async def test_stop_buy_when_ask_crosses_stop_then_fills_as_market(desk: Desk) -> None:
    order = await desk.place(symbol="AAPL", side="buy", type="stop", qty="5", stop_price="101")
    await desk.driver.step(T0 + S, ("AAPL", "100.40", "100.50"))
    assert desk.order(order.id).status.value == "new"
    await desk.driver.step(T0 + 2 * S, ("AAPL", "101.40", "101.50"))
    order = desk.order(order.id)
    assert order.status.value == "filled" and order.filled_avg_price == D("101.50")
    assert desk.cash() == D("99492.50")


async def test_stop_limit_sell_when_triggered_below_limit_then_waits_with_trigger_latched(
    desk: Desk,
) -> None:
    await hold(desk, "AAPL", "10", T0 + S)
    order = await desk.place(
        symbol="AAPL",
        side="sell",
        type="stop_limit",
        qty="10",
        stop_price="95",
        limit_price="94.50",
    )
    await desk.driver.step(T0 + 2 * S, ("AAPL", "96.00", "96.10"))  # above the stop
    await desk.driver.step(T0 + 3 * S, ("AAPL", "94.00", "94.10"))  # triggers, under limit
    assert desk.order(order.id).status.value == "new"
    # Back above the stop: the trigger stays latched, and 95.50 >= the 94.50 limit.
    await desk.driver.step(T0 + 4 * S, ("AAPL", "95.50", "95.60"))
    order = desk.order(order.id)
    assert order.status.value == "filled" and order.filled_avg_price == D("95.50")
    assert desk.cash() == D("99955.00") - D("0.01")  # FINRA TAF on 10 shares sold


async def test_trailing_stop_sell_when_bid_falls_trail_below_high_then_fills(
    desk: Desk,
) -> None:
    await hold(desk, "AAPL", "10", T0 + S)
    order = await desk.place(
        symbol="AAPL", side="sell", type="trailing_stop", qty="10", trail_price="1.00"
    )
    for i, bid in enumerate(("100.00", "102.00", "101.50"), start=2):
        await desk.driver.step(T0 + i * S, ("AAPL", bid, str(D(bid) + D("0.10"))))
        assert desk.order(order.id).status.value == "new", bid
    await desk.driver.step(T0 + 5 * S, ("AAPL", "100.90", "101.00"))  # 102 - 1.00 crossed
    order = desk.order(order.id)
    assert order.status.value == "filled" and order.filled_avg_price == D("100.90")
    assert desk.cash() == D("100009.00") - D("0.01")  # FINRA TAF on 10 shares sold


# -- immediate time in force -------------------------------------------------------------


async def test_ioc_when_book_shows_less_than_qty_then_fills_what_shows_and_cancels_rest(
    desk: Desk,
) -> None:
    order = await desk.place(
        symbol="AAPL", side="buy", type="limit", time_in_force="ioc", qty="10", limit_price="100"
    )
    await desk.driver.step(T0 + S, ("AAPL", "99.90", "100.00", 100, 4))
    order = desk.order(order.id)
    assert order.status.value == "canceled" and order.filled_qty == 4
    assert desk.kinds(order.id) == ["created", "acknowledge", "partial_fill", "canceled"]
    assert desk.cash() == D("99600.00")
    assert desk.service.buying_power(desk.account) == D("99600.00")  # nothing still held


async def test_fok_when_book_too_thin_then_cancels_unfilled_and_when_deep_enough_fills(
    desk: Desk,
) -> None:
    thin = await desk.place(
        symbol="AAPL", side="buy", type="limit", time_in_force="fok", qty="10", limit_price="100"
    )
    await desk.driver.step(T0 + S, ("AAPL", "99.90", "100.00", 100, 4))
    thin = desk.order(thin.id)
    assert thin.status.value == "canceled" and thin.filled_qty == 0

    deep = await desk.place(
        symbol="AAPL", side="buy", type="limit", time_in_force="fok", qty="10", limit_price="100"
    )
    await desk.driver.step(T0 + 2 * S, ("AAPL", "99.90", "100.00", 100, 10))
    assert desk.order(deep.id).status.value == "filled"
    assert desk.cash() == D("99000.00")


# -- cancel and replace ------------------------------------------------------------------


async def test_fill_racing_a_cancel_when_quote_precedes_cancel_latency_then_fill_wins(
    make_desk: Any,
) -> None:
    desk = await make_desk(paper_latency_ms=500)
    order = await desk.place(symbol="AAPL", side="buy", type="limit", qty="10", limit_price="100")
    await desk.driver.at(T0 + 2 * S)
    assert desk.service.request_cancel(desk.account, order.id).status.value == "pending_cancel"
    await call(desk.actor.cancel.remote(str(order.id)))
    assert desk.order(order.id).status.value == "pending_cancel"

    # Stamped 300 ms after the cancel: the venue had not seen it yet (latency 500 ms).
    await desk.driver.step(T0 + 2 * S + timedelta(milliseconds=301), ("AAPL", "99.80", "99.90"))

    order = desk.order(order.id)
    assert order.status.value == "filled" and order.filled_avg_price == D("99.90")
    assert desk.kinds(order.id) == ["created", "acknowledge", "cancel_requested", "fill"]
    assert desk.cash() == D("99001.00")


async def test_partial_fill_racing_a_cancel_then_cancel_lands_with_partial_booked(
    make_desk: Any,
) -> None:
    desk = await make_desk(paper_latency_ms=500)
    order = await desk.place(symbol="AAPL", side="buy", type="limit", qty="10", limit_price="100")
    await desk.driver.at(T0 + 2 * S)
    desk.service.request_cancel(desk.account, order.id)
    await call(desk.actor.cancel.remote(str(order.id)))
    await desk.driver.step(
        T0 + 2 * S + timedelta(milliseconds=201), ("AAPL", "99.80", "99.90", 100, 4)
    )
    assert desk.order(order.id).status.value == "pending_cancel"
    # After the cancel reached the venue a marketable quote no longer fills.
    await desk.driver.step(T0 + 3 * S, ("AAPL", "99.80", "99.90"))

    order = desk.order(order.id)
    assert order.status.value == "canceled" and order.filled_qty == 4
    assert desk.cash() == D("99600.40")
    assert desk.service.buying_power(desk.account) == D("99600.40")
    assert desk.service.check_invariants(desk.account) == []


async def test_replace_limit_then_old_replaced_and_new_fills_at_new_limit(desk: Desk) -> None:
    from domain.order_request import ReplaceRequest

    old = await desk.place(symbol="AAPL", side="buy", type="limit", qty="10", limit_price="99")
    old, new = desk.service.request_replace(
        desk.account, old.id, ReplaceRequest.parse(old, limit_price="99.50")
    )
    answer = await call(desk.actor.replace.remote(str(old.id), str(new.id)))
    assert answer["status"] == "new"
    assert desk.order(old.id).status.value == "replaced"

    await desk.driver.step(T0 + S, ("AAPL", "99.30", "99.45"))
    assert desk.order(new.id).status.value == "filled"
    assert desk.cash() == D("99005.50")


async def test_set_clock_outside_test_env_then_forbidden(
    ray_cluster: None, paper_settings: Any
) -> None:
    import uuid

    import pytest
    import ray

    from actors.paper_broker import ensure
    from domain.errors import Forbidden

    name = f"test.paper.dev.{uuid.uuid4().hex[:8]}"
    ensure(paper_settings.with_overrides(env="dev"), name=name)
    actor = ray.get_actor(name, namespace=paper_settings.ray_namespace)
    try:
        with pytest.raises(Forbidden):
            await call(actor.set_clock.remote(T0.isoformat()))
        with pytest.raises(Forbidden):
            await call(actor.fail_next_applies.remote(1))
    finally:
        ray.kill(actor, no_restart=True)
