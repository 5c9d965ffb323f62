"""The paper engine under exchange halts: nothing fills while halted, orders keep working."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from domain.ids import AccountId, OrderId
from domain.market_hours import EXCHANGE_TZ, MarketCalendar
from domain.order_request import OrderRequest
from domain.orders import Order, OrderEvent, OrderEventKind, OrderStatus
from domain.paper import FillModel, PaperEngine, TopOfBook
from domain.risk.exchange import ExchangeHalts

E = OrderEventKind
S = OrderStatus
D = Decimal
CAL = MarketCalendar(date(2026, 11, 1), date(2026, 12, 31))
DAY = date(2026, 12, 1)


def ny(h: int, m: int, s: float = 0) -> datetime:
    return datetime(DAY.year, DAY.month, DAY.day, h, m, tzinfo=EXCHANGE_TZ) + timedelta(seconds=s)


class Desk:
    """Engine with halts (AAPL Tier 1, SPY the index at a 500.00 prior close)."""

    def __init__(self) -> None:
        self.halts = ExchangeHalts(frozenset({"AAPL", "SPY"}), "SPY", session=CAL)
        assert self.halts.breaker is not None
        self.halts.breaker.set_prior_close(DAY, D(500))
        self.engine = PaperEngine(FillModel(), CAL, halts=self.halts)
        self.orders: dict[str, Order] = {}
        self.count = 0

    def submit(self, now: datetime, **fields: Any) -> OrderId:
        self.count += 1
        spec: dict[str, Any] = {"symbol": "AAPL", "side": "buy", "type": "market", "qty": "10"}
        spec |= {"time_in_force": "day"} | fields
        order = OrderRequest.parse(**spec).to_order(OrderId(f"o{self.count}"), AccountId("a"), now)
        self.orders[order.id] = order
        self._apply([(order.id, e) for e in self.engine.submit(order, now)])
        return order.id

    def quote(self, symbol: str, bid: str, ask: str, at: datetime) -> None:
        top = TopOfBook(symbol, D(bid), D(ask), D(100), D(100), at)
        self._apply(self.engine.on_quote(top, at))

    def clock(self, now: datetime) -> None:
        self._apply(self.engine.on_clock(now))

    def _apply(self, emitted: list[tuple[OrderId, OrderEvent]]) -> None:
        for order_id, event in emitted:
            assert self.orders[order_id].apply(event)

    def status(self, order_id: OrderId) -> OrderStatus:
        return self.orders[order_id].status


def test_luld_pause_when_in_force_then_no_fill_and_fill_after() -> None:
    d = Desk()
    d.quote("AAPL", "99.99", "100.01", ny(10, 0))  # reference 100: bands [95.00, 105.00]
    d.quote("AAPL", "105.00", "105.05", ny(10, 1))  # bid at the upper band: limit state
    d.quote("AAPL", "105.00", "105.05", ny(10, 1, 15))  # held 15 s: paused to 10:06:15
    oid = d.submit(ny(10, 2))
    d.quote("AAPL", "104.00", "104.05", ny(10, 3))
    d.quote("AAPL", "104.00", "104.05", ny(10, 6, 14.9))
    assert d.status(oid) is S.NEW  # working, not filled, not canceled
    [pause] = d.engine.take_halts()
    assert (pause.symbol, pause.at, pause.until) == ("AAPL", ny(10, 1, 15), ny(10, 6, 15))
    d.quote("AAPL", "104.00", "104.05", ny(10, 6, 15))
    assert d.status(oid) is S.FILLED
    assert d.orders[oid].filled_avg_price == D("104.05")
    assert [c.reason for c in d.engine.take_halts()] == ["luld_pause_ended"]


def test_limit_state_when_shorter_than_15_s_then_trading_goes_on() -> None:
    d = Desk()
    d.quote("AAPL", "99.99", "100.01", ny(10, 0))
    oid = d.submit(ny(10, 0, 30), type="limit", limit_price="94")
    d.quote("AAPL", "94.00", "95.00", ny(10, 1))  # offer at the lower band, above 94
    d.quote("AAPL", "93.50", "94.00", ny(10, 1, 14.9))  # still limit state; fills at 94
    assert d.status(oid) is S.FILLED
    assert d.engine.take_halts() == []


def test_market_halt_when_index_down_7_percent_then_nothing_fills_for_15_minutes() -> None:
    d = Desk()
    oid = d.submit(ny(10, 0), type="limit", limit_price="101")
    d.quote("SPY", "464.99", "465.01", ny(10, 0, 1))  # midpoint 465.00 = 500 x 0.93
    d.quote("AAPL", "99.99", "100.01", ny(10, 5))
    assert d.status(oid) is S.NEW
    d.clock(ny(10, 15))
    assert d.status(oid) is S.NEW
    d.clock(ny(10, 15, 1))  # 15 minutes after 10:00:01
    assert [(c.symbol, c.halted) for c in d.engine.take_halts()] == [(None, True), (None, False)]
    d.quote("AAPL", "99.99", "100.01", ny(10, 15, 2))
    assert d.status(oid) is S.FILLED


def test_level_3_when_close_comes_then_cls_order_canceled_not_executed() -> None:
    d = Desk()
    d.quote("AAPL", "99.99", "100.01", ny(15, 0))
    oid = d.submit(ny(15, 10), time_in_force="cls")
    d.quote("SPY", "399.99", "400.01", ny(15, 50))  # 20% down: halted to midnight
    d.clock(ny(16, 0))
    assert d.status(oid) is S.CANCELED
    assert d.orders[oid].filled_qty == 0


def test_engine_when_no_halts_then_take_halts_empty_and_fills_as_before() -> None:
    engine = PaperEngine(FillModel(), CAL)
    assert engine.halts is None
    assert engine.take_halts() == []
