"""Acceptance 5: every refusal closes with its documented code, on a real server; and
connection churn leaves no tasks, subscriptions or memory behind."""

from __future__ import annotations

import asyncio
import gc
import json
import socket
import time
import tracemalloc

from websockets.asyncio.client import connect as ws_connect

from cluster.events import EventBus
from tests.kit.ws import FakeFeed, authenticate, close_code, connect, recv, recv_until, send


async def test_no_authenticate_within_timeout_then_closes_4408(make_gateway) -> None:
    with make_gateway(auth_timeout_s=0.3) as gw:
        ws = await connect(gw.ws_url)
        code, seen = await close_code(ws, within=5)
        assert code == 4408
        assert seen[-1]["type"] == "error" and seen[-1]["code"] == "auth-timeout"


async def test_bad_token_then_closes_4401(make_gateway) -> None:
    with make_gateway() as gw:
        ws = await connect(gw.ws_url)
        await send(ws, {"type": "authenticate", "token": "not-a-jwt"})
        code, seen = await close_code(ws)
        assert code == 4401
        assert seen[-1]["close_code"] == 4401


async def test_subscribe_before_authenticate_then_closes_4401(make_gateway) -> None:
    with make_gateway() as gw:
        ws = await connect(gw.ws_url)
        await send(ws, {"type": "subscribe", "channels": [{"channel": "feed"}]})
        assert (await close_code(ws))[0] == 4401


async def test_other_users_account_then_closes_4403(make_gateway, new_member) -> None:
    alice, bob = new_member(), new_member()
    with make_gateway() as gw:
        ws = await connect(gw.ws_url)
        await authenticate(ws, alice.token)
        await send(
            ws,
            {
                "type": "subscribe",
                "channels": [{"channel": "orders", "account_id": bob.account_id}],
            },
        )
        code, seen = await close_code(ws)
        assert code == 4403
        assert seen[-1]["code"] == "forbidden-channel"
        assert gw.hub.stats.subscriptions == 0


async def test_own_account_then_subscribed(make_gateway, new_member) -> None:
    alice = new_member()
    with make_gateway() as gw:
        ws = await connect(gw.ws_url)
        await authenticate(ws, alice.token)
        await send(
            ws,
            {
                "type": "subscribe",
                "channels": [{"channel": "orders", "account_id": alice.account_id}],
            },
        )
        msg = await recv(ws)
        assert msg["type"] == "subscribed"
        assert msg["channels"][0]["stream"] == f"orders:{alice.account_id}"
        await ws.close()


async def test_oversized_frame_then_closes_1009(make_gateway, new_member) -> None:
    alice = new_member()
    with make_gateway() as gw:
        ws = await connect(gw.ws_url)
        await authenticate(ws, alice.token)
        await ws.send(json.dumps({"type": "pong", "id": 1, "pad": "x" * 70_000}))
        assert (await close_code(ws))[0] == 1009


async def test_bad_json_then_1008_and_binary_then_1003(make_gateway, new_member) -> None:
    alice = new_member()
    with make_gateway() as gw:
        ws = await connect(gw.ws_url)
        await authenticate(ws, alice.token)
        await ws.send("{not json")
        assert (await close_code(ws))[0] == 1008
        ws = await connect(gw.ws_url)
        await authenticate(ws, alice.token)
        await send(ws, {"type": "dance"})
        assert (await close_code(ws))[0] == 1008
        ws = await connect(gw.ws_url)
        await authenticate(ws, alice.token)
        await ws.send(b"\x00\x01")
        assert (await close_code(ws))[0] == 1003


async def test_too_many_subscriptions_then_closes_4429(make_gateway, new_member) -> None:
    alice = new_member()
    with make_gateway(max_subscriptions=5) as gw:
        ws = await connect(gw.ws_url)
        await authenticate(ws, alice.token)
        symbols = [f"S{i}" for i in range(6)]
        await send(
            ws,
            {"type": "subscribe", "channels": [{"channel": "market.quotes", "symbols": symbols}]},
        )
        code, seen = await close_code(ws)
        assert code == 4429 and seen[-1]["code"] == "too-many-subscriptions"


async def test_missing_pong_then_closes_4000(make_gateway, new_member) -> None:
    alice = new_member()
    with make_gateway(heartbeat_s=0.2, heartbeat_timeout_s=0.3) as gw:
        ws = await connect(gw.ws_url)
        await authenticate(ws, alice.token)
        code, seen = await close_code(ws)  # never answers the ping
        assert code == 4000
        assert [m["type"] for m in seen] == ["ping", "error"]


async def test_slow_consumer_then_warned_and_closed_4429(
    make_gateway, new_member, feed: FakeFeed
) -> None:
    alice = new_member()
    with make_gateway(send_queue=64, send_timeout_s=0.5) as gw:
        # A tiny receive buffer and a one-frame client queue: the server's writes back up fast.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", int(gw.ws_url.split(":")[2].split("/")[0])))
        ws = await ws_connect(
            gw.ws_url, sock=sock, max_queue=1, ping_interval=None, close_timeout=2, open_timeout=5
        )
        await authenticate(ws, alice.token)
        await send(
            ws,
            {"type": "subscribe", "channels": [{"channel": "market.quotes", "symbols": ["AAPL"]}]},
        )
        assert (await recv(ws))["type"] == "subscribed"
        pad = "p" * 2000
        deadline = time.monotonic() + 20
        while gw.hub.stats.closes.get(4429, 0) == 0 and time.monotonic() < deadline:
            feed.push([feed.quote("AAPL", pad=pad) for _ in range(200)])
            await asyncio.sleep(0.02)
        assert gw.hub.stats.closes.get(4429, 0) == 1, "server never gave up on the reader"
        code, seen = await close_code(ws, within=20)
        assert code == 4429
        assert any(m.get("type") == "warning" and m["code"] == "slow-consumer" for m in seen)
        assert gw.hub.stats.tasks == 0 and gw.hub.stats.subscriptions == 0


async def test_500_cycles_then_no_growth_in_tasks_subscriptions_or_memory(
    make_gateway, new_member, services
) -> None:
    alice = new_member()
    bus: EventBus = services.events
    stream = f"orders:{alice.account_id}"
    bus.publish(stream, "new", {"n": 0})

    async def cycle(i: int) -> None:
        ws = await connect(gw.ws_url)
        await authenticate(ws, alice.token)
        await send(
            ws,
            {
                "type": "subscribe",
                "resume": {stream: 0},
                "channels": [
                    {"channel": "orders", "account_id": alice.account_id},
                    {"channel": "market.quotes", "symbols": ["AAPL", f"X{i % 7}"]},
                ],
            },
        )
        await recv_until(ws, lambda m: m["type"] == "event")
        await ws.close()

    def loop_tasks() -> int:
        return len(asyncio.all_tasks(gw.loop))

    with make_gateway() as gw:
        for i in range(50):  # warm-up: pools, caches, lazily built singletons
            await cycle(i)
        await _settle(gw)
        base_tasks = loop_tasks()
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        for i in range(500):
            await cycle(i)
        await _settle(gw)
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        growth = sum(s.size_diff for s in after.compare_to(before, "filename"))
        assert gw.hub.stats.connections == 0
        assert gw.hub.stats.subscriptions == 0
        assert gw.hub.stats.tasks == 0
        assert gw.hub.snapshot()["tailed_streams"] == 0
        assert gw.hub.market.symbols == set()
        assert loop_tasks() <= base_tasks
        assert growth < 1_000_000, f"memory grew by {growth} bytes over 500 cycles"


async def _settle(gw, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while gw.hub.stats.connections and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
