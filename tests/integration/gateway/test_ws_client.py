"""The Python client: reconnects with backoff after a drop and resumes without loss."""

from __future__ import annotations

import asyncio
import json

import pytest

from cluster.retry import Backoff
from serve.gateway_schemas import CloseCode
from serve.ws_client import GatewayClient, GatewayClosed
from tests.kit.ws import connect, send


async def test_client_when_server_drops_socket_then_reconnects_and_resumes_once_in_order(
    make_gateway, new_member, services
) -> None:
    alice = new_member()
    stream = f"orders:{alice.account_id}"
    for i in range(10):
        services.events.publish(stream, "new", {"i": i})
    with make_gateway() as gw:
        client = GatewayClient(
            gw.ws_url,
            token=lambda: alice.token,
            resume={stream: 0},
            channels=[{"channel": "orders", "account_id": alice.account_id}],
            backoff=Backoff(base_s=0.05, cap_s=0.2, max_attempts=10),
        )
        seqs: list[int] = []
        async with client:
            async with asyncio.timeout(20):
                async for msg in client:
                    if msg["type"] != "event":
                        continue
                    seqs.append(msg["seq"])
                    if msg["seq"] == 5:
                        for conn in list(gw.hub.connections.values()):
                            gw.loop.call_soon_threadsafe(conn.fail, CloseCode.GOING_AWAY, "test")
                        for i in range(10, 20):
                            services.events.publish(stream, "new", {"i": i})
                    if msg["seq"] == 20:
                        break
        assert seqs == list(range(1, 21))
        assert client.reconnects == 1
        assert client.last_seq[stream] == 20


async def test_client_when_channel_forbidden_then_raises_gateway_closed(
    make_gateway, new_member
) -> None:
    alice, bob = new_member(), new_member()
    with make_gateway() as gw:
        client = GatewayClient(
            gw.ws_url,
            token=alice.token,
            channels=[{"channel": "orders", "account_id": bob.account_id}],
        )
        await client.connect()
        with pytest.raises(GatewayClosed) as err:
            async with asyncio.timeout(10):
                async for _ in client:
                    pass
        assert err.value.code == 4403
        await client.close()


async def test_batched_frames_when_client_opts_in_then_arrays_arrive_in_order(
    make_gateway, new_member, services
) -> None:
    alice = new_member()
    stream = f"orders:{alice.account_id}"
    for i in range(30):
        services.events.publish(stream, "new", {"i": i})
    channels = [{"channel": "orders", "account_id": alice.account_id}]
    with make_gateway() as gw:
        ws = await connect(gw.ws_url)
        await send(ws, {"type": "authenticate", "token": alice.token, "batch": True})
        frames = [json.loads(await ws.recv())]
        await send(ws, {"type": "subscribe", "channels": channels, "resume": {stream: 0}})
        while sum((isinstance(f, list) and len(f)) or 1 for f in frames) < 32:
            async with asyncio.timeout(10):
                frames.append(json.loads(await ws.recv()))
        await ws.close()
        client = GatewayClient(gw.ws_url, token=alice.token, channels=channels, batch=True)
        client.last_seq[stream] = 0
        seqs: list[int] = []
        async with client:
            async with asyncio.timeout(10):
                async for msg in client:
                    if msg["type"] == "event":
                        seqs.append(msg["seq"])
                        if len(seqs) == 30:
                            break
    flat = [m for f in frames for m in (f if isinstance(f, list) else [f])]
    assert flat[0]["type"] == "authenticated" and flat[0]["batch"] is True
    assert [m["seq"] for m in flat if m["type"] == "event"] == list(range(1, 31))
    assert any(isinstance(f, list) and len(f) > 1 for f in frames)
    assert seqs == list(range(1, 31))
