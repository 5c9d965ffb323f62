"""The portfolio routes after the move to ``cluster.orders.portfolio``: closing by
percentage, the 207 bulk answers, positions marked with the orders that hold them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from domain.marketdata import Quote
from serve.services import Services
from tests.integration.api.test_trading_routes import fill, fund, place
from tests.kit.users import ApiUser, assert_problem


@pytest.fixture
def holder(client: httpx.Client, alice: ApiUser, api_services: Services) -> ApiUser:
    fund(client, alice)
    for symbol in ("AAPL", "MSFT"):
        order = place(client, alice, symbol=symbol, qty="4", limit_price="50.00")
        fill(api_services, order["id"], "4", "50.00")
    return alice


def test_close_position_when_percentage_then_market_sell_of_that_share(
    client: httpx.Client, holder: ApiUser
) -> None:
    r = client.delete(
        f"/v1/accounts/{holder.account_id}/positions/AAPL",
        params={"percentage": "37.5"},
        headers=holder.headers,
    )
    assert r.status_code == 200, r.text
    order = r.json()
    assert (order["side"], order["type"], Decimal(order["qty"])) == ("sell", "market", 1.5)
    pos = client.get(
        f"/v1/accounts/{holder.account_id}/positions/AAPL", headers=holder.headers
    ).json()
    assert Decimal(pos["qty_available"]) == Decimal("2.5")  # the close holds 1.5


def test_close_position_when_qty_and_percentage_then_422(
    client: httpx.Client, holder: ApiUser
) -> None:
    r = client.delete(
        f"/v1/accounts/{holder.account_id}/positions/AAPL",
        params={"qty": "1", "percentage": "10"},
        headers=holder.headers,
    )
    problem = assert_problem(r, 422, "validation")
    assert any(e["field"] == "qty" for e in problem["errors"]), problem


def test_close_position_when_none_held_then_404(client: httpx.Client, holder: ApiUser) -> None:
    r = client.delete(f"/v1/accounts/{holder.account_id}/positions/TSLA", headers=holder.headers)
    assert_problem(r, 404, "not-found")


def test_close_all_then_207_with_one_sell_per_position(
    client: httpx.Client, holder: ApiUser
) -> None:
    r = client.delete(f"/v1/accounts/{holder.account_id}/positions", headers=holder.headers)
    assert r.status_code == 207, r.text
    results = {x["id"]: x for x in r.json()}
    assert set(results) == {"AAPL", "MSFT"}
    assert all(x["status"] == 200 and Decimal(x["body"]["qty"]) == 4 for x in results.values())


def test_cancel_all_then_207_with_each_open_order(client: httpx.Client, holder: ApiUser) -> None:
    ids = {place(client, holder, limit_price=p)["id"] for p in ("10.00", "11.00")}
    r = client.delete(f"/v1/accounts/{holder.account_id}/orders", headers=holder.headers)
    assert r.status_code == 207, r.text
    assert {x["id"] for x in r.json()} == ids
    assert {x["body"]["status"] for x in r.json()} == {"pending_cancel"}


def test_summary_when_positions_held_then_equity_is_cash_plus_their_market_value(
    client: httpx.Client, holder: ApiUser
) -> None:
    # marked at the quote's mid when the feed cache has one (another test may have run
    # the feed), else at cost: compare with the positions' own figures
    positions = client.get(
        f"/v1/accounts/{holder.account_id}/positions", headers=holder.headers
    ).json()
    value = sum(Decimal(p["market_value"]) for p in positions)
    for p in positions:
        mark = Decimal(p["current_price"])
        assert Decimal(p["market_value"]) == (4 * mark).quantize(Decimal("0.01"))
        assert Decimal(p["unrealized_pl"]) == Decimal(p["market_value"]) - Decimal("200.00")
    s = client.get(f"/v1/accounts/{holder.account_id}/summary", headers=holder.headers).json()
    assert (Decimal(s["cash"]), Decimal(s["long_market_value"])) == (Decimal(99600), value)
    assert Decimal(s["equity"]) == Decimal(s["portfolio_value"]) == Decimal(99600) + value
    assert Decimal(s["positions_value"]) == value and s["id"] == s["account_id"]


def test_position_when_the_feed_cache_has_a_quote_then_marked_at_its_mid(
    client: httpx.Client, alice: ApiUser, api_services: Services
) -> None:
    symbol = f"Q{uuid.uuid4().hex[:4].upper()}"  # no feed writes it: the quote is ours
    fund(client, alice)
    order = place(client, alice, symbol=symbol, qty="3", limit_price="50.00")
    fill(api_services, order["id"], "3", "50.00")
    now = datetime.now(UTC)
    quote = Quote(symbol, Decimal("52.00"), 100, Decimal("52.05"), 100, now, now, "simulated")
    key = api_services.redis.key("feed", "last", symbol)
    api_services.redis.call("hset", lambda r: r.hset(key, "quote", json.dumps(quote.to_wire())))
    try:
        pos = client.get(
            f"/v1/accounts/{alice.account_id}/positions/{symbol}", headers=alice.headers
        ).json()
    finally:
        api_services.redis.call("del", lambda r: r.delete(key))
    # mid 52.025; 3 x 52.025 = 156.075 -> 156.08 (half-even); cost 150.00
    assert (pos["current_price"], pos["market_value"]) == ("52.025", "156.08")
    assert (pos["unrealized_pl"], pos["unrealized_plpc"]) == ("6.08", "0.040533")
    assert pos["exchange"] == "" and pos["lastday_price"] == "52.025"
