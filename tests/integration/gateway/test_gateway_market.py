"""Market data: one upstream feed subscription per replica, fanned out to local sockets."""

from __future__ import annotations

from tests.kit.ws import FakeFeed, authenticate, connect, recv, send


async def test_market_quotes_when_many_sockets_then_one_upstream_and_each_gets_its_symbols(
    make_gateway, new_member, feed: FakeFeed
) -> None:
    alice = new_member()
    with make_gateway() as gw:
        sockets = []
        for symbols in (["AAPL"], ["AAPL", "MSFT"], ["MSFT"]):
            ws = await connect(gw.ws_url)
            await authenticate(ws, alice.token)
            await send(
                ws,
                {
                    "type": "subscribe",
                    "channels": [{"channel": "market.quotes", "symbols": symbols}],
                },
            )
            assert (await recv(ws))["type"] == "subscribed"
            sockets.append(ws)
        assert sorted(s for sub in feed.subscriptions for s in sub) == ["AAPL", "MSFT"]
        feed.push(
            [
                feed.quote("AAPL"),
                feed.quote("MSFT"),
                feed.quote("TSLA"),
                {"symbol": "AAPL", "seq": 2, "type": "trade", "price": "1"},
            ]
        )
        got = []
        for ws, n in zip(sockets, (1, 2, 1), strict=True):
            got.append([await recv(ws) for _ in range(n)])
        assert [(m["symbol"], m["seq"]) for m in got[0]] == [("AAPL", 1)]
        assert [m["symbol"] for m in got[1]] == ["AAPL", "MSFT"]
        assert [m["symbol"] for m in got[2]] == ["MSFT"]
        m = got[0][0]
        assert m["type"] == "market" and m["channel"] == "market.quotes"
        assert m["stream"] == "market:AAPL" and m["epoch"] == 1 and m["data"]["bid"] == "1.00"
        for ws in sockets:
            await ws.close()
