"""Issue 19's acceptance: a scripted paper-trading run through the API app on uvicorn,
and every order, position, account, asset, activity, clock and calendar answer parsed by
alpaca-py's own models, then compared with Elson's values field by field.

No broker runs here: fills are booked through the order service's ``apply_events`` as a
broker would book them (as in ``test_trading_routes.py``). The ``client`` fixture also
checks every answer against the OpenAPI document.
"""

from __future__ import annotations

import uuid
import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from domain.ids import AccountId, ExecutionId, OrderId
from domain.money import Price, Quantity
from domain.orders import OrderEvent, OrderEventKind
from serve.services import Services
from tests.kit.users import ApiUser

with warnings.catch_warnings():
    # alpaca.trading imports websockets.legacy (deprecated since websockets 14) at import
    warnings.simplefilter("ignore", DeprecationWarning)
    from alpaca.trading import models as alpaca
    from alpaca.trading.enums import (
        AccountStatus,
        ActivityType,
        AssetClass,
        AssetExchange,
        OrderSide,
        OrderStatus,
        PositionSide,
        TradeActivityType,
    )

D = Decimal


@dataclass
class Run:
    """What the script did, in Elson's own terms, to compare the answers with."""

    user: ApiUser
    buy: dict[str, Any]
    msft: dict[str, Any]
    sell: dict[str, Any]
    cancelled: dict[str, Any]


def _acknowledge(services: Services, order_id: str) -> None:
    event = OrderEvent(OrderEventKind.ACKNOWLEDGE, datetime.now(UTC))
    services.orders.apply_events(OrderId(order_id), [event])


def _fill(services: Services, order_id: str, execution: str, qty: str, price: str) -> None:
    event = OrderEvent(
        OrderEventKind.FILL,
        datetime.now(UTC),
        execution_id=ExecutionId(f"{order_id}-{execution}"),
        qty=Quantity.parse(qty),
        price=Price.parse(price),
    )
    services.orders.apply_events(OrderId(order_id), [event])


def _order(client: httpx.Client, user: ApiUser, **body: str) -> dict[str, Any]:
    body = {"type": "limit", "time_in_force": "gtc", "client_order_id": uuid.uuid4().hex} | body
    r = client.post(f"/v1/accounts/{user.account_id}/orders", json=body, headers=user.headers)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def _get(client: httpx.Client, user: ApiUser, path: str, **params: str) -> Any:
    r = client.get(path.format(a=user.account_id), params=params, headers=user.headers)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def run(client: httpx.Client, alice: ApiUser, api_services: Services) -> Run:
    """Deposit 100,000, withdraw 100; buy 10 AAPL at 100 filled 4 + 6 at 99.50; buy 1
    MSFT at 50 filled; an open sell of 2 AAPL at 120; a buy of 1 AAPL cancelled."""
    r = client.post(
        f"/v1/accounts/{alice.account_id}/fund", json={"amount": "100000"}, headers=alice.headers
    )
    assert r.status_code == 200, r.text
    api_services.orders.fund(AccountId(alice.account_id), D("-100"))
    buy = _order(client, alice, symbol="AAPL", side="buy", qty="10", limit_price="100")
    _acknowledge(api_services, buy["id"])
    _fill(api_services, buy["id"], "x1", "4", "99.50")
    _fill(api_services, buy["id"], "x2", "6", "99.50")
    msft = _order(client, alice, symbol="MSFT", side="buy", qty="1", limit_price="50")
    _acknowledge(api_services, msft["id"])
    _fill(api_services, msft["id"], "x1", "1", "50")
    sell = _order(client, alice, symbol="AAPL", side="sell", qty="2", limit_price="120")
    _acknowledge(api_services, sell["id"])
    cancelled = _order(client, alice, symbol="AAPL", side="buy", qty="1", limit_price="90")
    r = client.delete(
        f"/v1/accounts/{alice.account_id}/orders/{cancelled['id']}", headers=alice.headers
    )
    assert r.status_code == 200, r.text
    return Run(alice, buy, msft, sell, cancelled)


def test_orders_parse_as_alpaca_orders_with_the_same_values(client: httpx.Client, run: Run) -> None:
    listed = _get(client, run.user, "/v1/accounts/{a}/orders", status="all")["orders"]
    assets = {a["symbol"]: a["id"] for a in _get(client, run.user, "/v1/assets")}
    assert len(listed) == 4
    for wire in listed:
        one = _get(client, run.user, f"/v1/accounts/{{a}}/orders/{wire['id']}")
        order = alpaca.Order(**one)
        assert str(order.id) == wire["id"] and order.client_order_id == wire["client_order_id"]
        assert order.status == OrderStatus(wire["status"])
        assert order.side == OrderSide(wire["side"])
        assert D(str(order.qty)) == D(wire["qty"])
        assert D(str(order.filled_qty)) == D(wire["filled_qty"])
        assert D(str(order.limit_price)) == D(wire["limit_price"])
        assert str(order.asset_id) == assets[wire["symbol"]]
        assert order.asset_class == AssetClass.US_EQUITY
    by_id = {o["id"]: o for o in listed}
    filled = alpaca.Order(**by_id[run.buy["id"]])
    assert filled.status == OrderStatus.FILLED
    assert (D(str(filled.filled_qty)), D(str(filled.filled_avg_price))) == (D(10), D("99.5"))
    assert alpaca.Order(**by_id[run.sell["id"]]).status == OrderStatus.NEW
    assert alpaca.Order(**by_id[run.cancelled["id"]]).status in {
        OrderStatus.PENDING_CANCEL,
        OrderStatus.CANCELED,
    }


def test_positions_parse_as_alpaca_positions_with_the_same_values(
    client: httpx.Client, run: Run
) -> None:
    listed = _get(client, run.user, "/v1/accounts/{a}/positions")
    assert [p["symbol"] for p in listed] == ["AAPL", "MSFT"]
    for wire in listed:
        asset = alpaca.Asset(**_get(client, run.user, f"/v1/assets/{wire['symbol']}"))
        one = _get(client, run.user, f"/v1/accounts/{{a}}/positions/{wire['symbol']}")
        assert one == wire
        pos = alpaca.Position(**one)
        assert (pos.asset_id, pos.exchange) == (asset.id, asset.exchange)
        assert pos.asset_class == AssetClass.US_EQUITY and pos.side == PositionSide.LONG
        for name in (
            "market_value",
            "unrealized_pl",
            "unrealized_plpc",
            "unrealized_intraday_pl",
            "current_price",
            "lastday_price",
            "change_today",
            "qty_available",
        ):
            assert getattr(pos, name) is not None, name
        # at the quote's mid if the feed cache has one (another test may have run the
        # feed), else at cost
        value = (D(pos.qty) * D(pos.current_price or "")).quantize(D("0.01"))
        assert D(pos.market_value or "") == value
        assert D(pos.unrealized_pl or "") == value - D(pos.cost_basis)
    aapl = alpaca.Position(**listed[0])
    assert (D(aapl.qty), D(aapl.avg_entry_price), D(aapl.cost_basis)) == (
        D(10),
        D("99.5"),
        D("995.00"),
    )
    assert D(aapl.qty_available or "") == D(8)  # 2 held by the open sell
    assert aapl.avg_entry_price == "99.5" and aapl.cost_basis == "995.00"  # no 12 places
    assert aapl.exchange == AssetExchange.NASDAQ


def test_account_parses_as_alpaca_trade_account_with_the_same_values(
    client: httpx.Client, run: Run
) -> None:
    wire = _get(client, run.user, "/v1/accounts/{a}/summary")
    account = alpaca.TradeAccount(**wire)
    cash = D("100000") - D("100") - D("995.00") - D("50.00")
    assert str(account.id) == run.user.account_id == wire["account_id"]
    assert account.status == AccountStatus.ACTIVE and account.currency == "USD"
    assert D(account.cash or "") == cash
    positions = _get(client, run.user, "/v1/accounts/{a}/positions")
    value = sum(D(alpaca.Position(**p).market_value or "") for p in positions)
    assert D(account.long_market_value or "") == value and D(account.short_market_value or "") == 0
    assert D(account.equity or "") == cash + value == D(account.portfolio_value or "")
    # the cancel of the 1 x 90 buy is not confirmed yet (no broker here): its cash stays held
    assert D(account.buying_power or "") == cash - D("90.00")
    assert account.pattern_day_trader is False and account.daytrade_count == 0
    assert account.trading_blocked is False and account.account_blocked is False
    assert account.account_number and account.created_at is not None


def test_activities_parse_as_alpaca_activities_with_the_same_values(
    client: httpx.Client, run: Run
) -> None:
    page = _get(client, run.user, "/v1/accounts/{a}/account-activities")
    assert page["next_page_token"] is None
    fills: list[alpaca.TradeActivity] = []
    cash: list[alpaca.NonTradeActivity] = []
    for wire in page["activities"]:
        if ActivityType(wire["activity_type"]).is_trade_activity():
            fills.append(alpaca.TradeActivity(**wire))
        else:
            cash.append(alpaca.NonTradeActivity(**wire))
    assert [(a.activity_type, a.net_amount) for a in reversed(cash)] == [
        (ActivityType.CSD, 100000.0),
        (ActivityType.CSW, -100.0),
    ]
    assert all(str(a.account_id) == run.user.account_id for a in fills + cash)
    ledger = {e["id"] for e in _get(client, run.user, "/v1/accounts/{a}/activities")["activities"]}
    assert {a.id.split("::", 1)[1] for a in fills + cash} == ledger
    aapl = [a for a in reversed(fills) if str(a.order_id) == run.buy["id"]]
    assert [(a.type, a.qty, a.cum_qty, a.leaves_qty, a.order_status) for a in aapl] == [
        (TradeActivityType.PARTIAL_FILL, 4, 4, 6, OrderStatus.PARTIALLY_FILLED),
        (TradeActivityType.FILL, 6, 10, 0, OrderStatus.FILLED),
    ]
    assert all(a.side == OrderSide.BUY and a.price == 99.5 and a.symbol == "AAPL" for a in aapl)
    # pages of two, chained by next_page_token, give the same activities in order
    ids, token = [], None
    while True:
        params = {"page_size": "2"} | ({"page_token": token} if token else {})
        chunk = _get(client, run.user, "/v1/accounts/{a}/account-activities", **params)
        ids += [a["id"] for a in chunk["activities"]]
        token = chunk["next_page_token"]
        if token is None:
            break
    assert ids == [a["id"] for a in page["activities"]]


def test_assets_parse_as_alpaca_assets(client: httpx.Client, run: Run) -> None:
    listed = _get(client, run.user, "/v1/assets")
    assert {"AAPL", "MSFT", "SPY"} <= {a["symbol"] for a in listed}
    for wire in listed:
        asset = alpaca.Asset(**wire)
        assert asset.asset_class == AssetClass.US_EQUITY and asset.tradable
        assert asset == alpaca.Asset(**_get(client, run.user, f"/v1/assets/{asset.id}"))
        assert asset.symbol == wire["symbol"] and asset.fractionable and not asset.shortable


def test_clock_and_calendar_parse_as_alpaca_models(client: httpx.Client, run: Run) -> None:
    wire = _get(client, run.user, "/v1/clock")
    clock = alpaca.Clock(**wire)
    assert clock.is_open is wire["is_open"] and clock.next_open > clock.timestamp
    days = _get(client, run.user, "/v1/calendar", start="2026-11-25", end="2026-11-30")
    parsed = [alpaca.Calendar(**d) for d in days]
    assert [c.date for c in parsed] == [date(2026, 11, 25), date(2026, 11, 27), date(2026, 11, 30)]
    early = parsed[1]
    assert (early.open.hour, early.open.minute, early.close.hour) == (9, 30, 13)
    assert [(d["session_open"], d["session_close"]) for d in days] == [
        ("0400", "2000"),
        ("0400", "1700"),
        ("0400", "2000"),
    ]
    assert days[1]["close_at"] == "2026-11-27T18:00:00+00:00"


def test_portfolio_history_parses_as_alpaca_portfolio_history(
    client: httpx.Client, run: Run
) -> None:
    wire = _get(client, run.user, "/v1/accounts/{a}/portfolio/history")
    history = alpaca.PortfolioHistory(**wire)
    assert history.base_value == 100000.0 and len(history.equity) == len(wire["timestamp"])
    # deposit, withdrawal, 3 fills at cost: equity only moves with the cash taken out
    assert history.equity == [100000.0, 99900.0, 99900.0, 99900.0, 99900.0]
    assert history.profit_loss_pct[-1] == -0.001
