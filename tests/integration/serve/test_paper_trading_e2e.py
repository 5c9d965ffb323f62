"""End to end through Serve: register, fund, trade on paper with simulated live data, and
watch it happen on the WebSocket gateway.

The deployment runs on a shifted clock (Tuesday 10:00 New York, see MARKET_OPEN in
tests/integration/conftest.py), so the market is open whatever day the suite runs. Quotes
come from the simulated provider through the feed shards; the paper broker fills against
them; order events travel OrderService (the record, in PostgreSQL) -> relay -> Redis Streams ->
gateway -> client, and the outbox dispatcher carries each order to the paper broker.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.kit.users import login, register
from tests.kit.ws import authenticate, connect, recv_until, send

pytestmark = [pytest.mark.ray, pytest.mark.slow]
WS = "ws://127.0.0.1:8000/ws"


async def test_register_fund_trade_and_see_events_positions_and_ledger(serve_app: str) -> None:
    async with httpx.AsyncClient(base_url=serve_app, timeout=30) as http:
        user = await _signed_in(http)
        h = user["headers"]
        acct = user["account_id"]
        r = await http.post(f"/v1/accounts/{acct}/fund", json={"amount": "100000"}, headers=h)
        assert r.status_code == 200, r.text

        ws = await connect(WS)
        await authenticate(ws, user["token"])
        stream = f"orders:{acct}"
        await send(
            ws,
            {
                "type": "subscribe",
                "resume": {stream: 0},
                "channels": [
                    {"channel": "orders", "account_id": acct},
                    {"channel": "market.quotes", "symbols": ["AAPL"]},
                ],
            },
        )
        await recv_until(ws, lambda m: m["type"] == "subscribed", within=15)
        quote, _ = await recv_until(
            ws, lambda m: m["type"] == "market" and m["symbol"] == "AAPL", within=30
        )
        ask = Decimal(quote["data"]["ask_price"])

        # market buy: filled against the live quote
        market = await _order(http, acct, h, type="market", qty="5")
        # stored and answered at once; the dispatcher sends it to the broker after commit
        assert market["status"] == "pending_new", market
        filled, seen = await recv_until(
            ws, lambda m: _order_event(m, market["id"], "fill"), within=30
        )
        names = [
            m["event"]
            for m in seen
            if m["type"] == "event" and m["data"]["order"]["id"] == market["id"]
        ]
        assert names[:2] == ["pending_new", "new"], names  # stored, acknowledged, then filled
        assert Decimal(filled["data"]["order"]["filled_qty"]) == 5
        fill_price = Decimal(filled["data"]["order"]["filled_avg_price"])
        assert fill_price >= ask * Decimal("0.95")

        # limit buy far below the market: rests as `new`, then we cancel it
        limit = await _order(
            http,
            acct,
            h,
            type="limit",
            qty="3",
            limit_price=str((ask / 2).quantize(Decimal("0.01"))),
        )
        await recv_until(ws, lambda m: _order_event(m, limit["id"], "new"), within=30)
        r = await http.delete(f"/v1/accounts/{acct}/orders/{limit['id']}", headers=h)
        assert r.status_code == 200, r.text
        await recv_until(ws, lambda m: _order_event(m, limit["id"], "canceled"), within=30)
        await ws.close()

        # the position and the ledger changed, to the cent
        pos = (await http.get(f"/v1/accounts/{acct}/positions/AAPL", headers=h)).json()
        assert Decimal(pos["qty"]) == 5
        summary = (await http.get(f"/v1/accounts/{acct}/summary", headers=h)).json()
        assert Decimal(summary["cash"]) == Decimal("100000") - (fill_price * 5).quantize(
            Decimal("0.01")
        )
        acts = (await http.get(f"/v1/accounts/{acct}/activities", headers=h)).json()["activities"]
        assert [a["activity_type"] for a in acts].count("fill") >= 1
        orders = (
            await http.get(f"/v1/accounts/{acct}/orders", params={"status": "all"}, headers=h)
        ).json()
        statuses = {o["id"]: o["status"] for o in orders["orders"]}
        assert statuses == {market["id"]: "filled", limit["id"]: "canceled"}


def _order_event(msg: dict[str, Any], order_id: str, event: str) -> bool:
    return (
        msg.get("type") == "event"
        and msg.get("event") == event
        and msg["data"].get("order", {}).get("id") == order_id
    )


async def _order(
    http: httpx.AsyncClient, acct: str, headers: dict[str, str], **body: str
) -> dict[str, Any]:
    payload = {
        "symbol": "AAPL",
        "side": "buy",
        "time_in_force": "day",
        "client_order_id": uuid.uuid4().hex,
        **body,
    }
    r = await http.post(f"/v1/accounts/{acct}/orders", json=payload, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def _signed_in(http: httpx.AsyncClient) -> dict[str, Any]:
    import asyncio

    def sync() -> dict[str, Any]:
        with httpx.Client(base_url=str(http.base_url), timeout=30) as c:
            user = register(c)
            login(c, user)
            return {"headers": user.headers, "token": user.access, "account_id": user.account_id}

    return await asyncio.to_thread(sync)
