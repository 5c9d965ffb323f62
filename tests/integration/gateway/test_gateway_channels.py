"""jobs (per user) and feed (global) channels; unsubscribe releases the subscription."""

from __future__ import annotations

import asyncio

from tests.kit.ws import authenticate, connect, recv, send


async def test_jobs_and_feed_channels_then_own_jobs_and_global_feed_events(
    make_gateway, new_member, services
) -> None:
    alice, bob = new_member(), new_member()
    with make_gateway() as gw:
        ws = await connect(gw.ws_url)
        await authenticate(ws, alice.token)
        await send(
            ws, {"type": "subscribe", "channels": [{"channel": "jobs"}, {"channel": "feed"}]}
        )
        sub = await recv(ws)
        assert [c["stream"] for c in sub["channels"]] == [f"jobs:{alice.user_id}", "feed"]
        services.events.publish(f"jobs:{bob.user_id}", "done", {"job": "bob"})
        services.events.publish(f"jobs:{alice.user_id}", "done", {"job": "alice"})
        services.events.publish("feed", "status", {"provider": "simulated"})
        got = [await recv(ws), await recv(ws)]
        assert sorted((m["stream"], m["event"]) for m in got) == [
            ("feed", "status"),
            (f"jobs:{alice.user_id}", "done"),
        ]
        assert all(m["data"].get("job") != "bob" for m in got)
        await ws.close()


async def test_unsubscribe_then_no_more_events_and_subscription_released(
    make_gateway, new_member, services
) -> None:
    alice = new_member()
    stream = f"positions:{alice.account_id}"
    channel = {"channel": "positions", "account_id": alice.account_id}
    with make_gateway() as gw:
        ws = await connect(gw.ws_url)
        await authenticate(ws, alice.token)
        await send(ws, {"type": "subscribe", "channels": [channel]})
        assert (await recv(ws))["type"] == "subscribed"
        services.events.publish(stream, "changed", {"n": 1})
        assert (await recv(ws))["data"] == {"n": 1}
        assert gw.hub.stats.subscriptions == 1
        await send(ws, {"type": "unsubscribe", "channels": [channel]})
        assert (await recv(ws))["type"] == "unsubscribed"
        assert gw.hub.stats.subscriptions == 0 and gw.hub.snapshot()["tailed_streams"] == 0
        services.events.publish(stream, "changed", {"n": 2})
        try:
            extra = await recv(ws, within=0.7)
        except TimeoutError:
            extra = None
        assert extra is None
        await ws.close()
        await asyncio.sleep(0)
