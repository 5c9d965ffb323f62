"""The WebSocket protocol probe: connect, authenticate, subscribe, receive a message with a
sequence number, close cleanly. A port check would pass against anything that accepts TCP;
this passes only against a gateway that speaks the protocol (serve/gateway_schemas.py)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from cluster.check.result import CheckFailed

_MARKET_OK = {"market", "market_status"}  # a quote, or "closed until next_open"


async def _recv(ws: Any, deadline: float) -> dict[str, Any]:
    """The next message that is not a ping (pings are answered)."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise CheckFailed("no message before the deadline")
        async with asyncio.timeout(left):
            raw = await ws.recv()
        msg = json.loads(raw)
        if isinstance(msg, list):  # batched frames are opt-in; the probe never asks
            raise CheckFailed("gateway sent a batched frame the probe did not ask for")
        if msg.get("type") == "ping":
            await ws.send(json.dumps({"type": "pong", "id": msg["id"]}))
            continue
        return dict(msg)


async def probe(url: str, token: str, symbol: str, timeout_s: float) -> str:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidHandshake

    deadline = time.monotonic() + timeout_s
    step = "connect"
    try:
        ws = await connect(
            url, open_timeout=timeout_s, close_timeout=2, ping_interval=None, max_size=2**22
        )
        try:
            step = "authenticate"
            await ws.send(json.dumps({"type": "authenticate", "token": token}))
            msg = await _recv(ws, deadline)
            if msg.get("type") != "authenticated":
                raise CheckFailed(f"authenticate answered {msg.get('type')}: {msg}")
            step = "subscribe"
            spec = {"channel": "market.quotes", "symbols": [symbol]}
            await ws.send(json.dumps({"type": "subscribe", "channels": [spec]}))
            msg = await _recv(ws, deadline)
            if msg.get("type") != "subscribed":
                raise CheckFailed(f"subscribe answered {msg.get('type')}: {msg}")
            step = "receive"
            while True:
                msg = await _recv(ws, deadline)
                if msg.get("type") in _MARKET_OK and isinstance(msg.get("seq"), int):
                    break
            step = "close"
            await ws.close(1000, "probe done")
        finally:
            if ws.state.name != "CLOSED":
                await ws.close()
        if ws.close_code != 1000 or ws.protocol.close_rcvd is None:
            raise CheckFailed(f"close not clean: code {ws.close_code}")
    except CheckFailed as exc:
        raise CheckFailed(f"{step}: {exc}") from exc
    except (TimeoutError, OSError, InvalidHandshake, ConnectionClosed) as exc:
        raise CheckFailed(f"{step}: {type(exc).__name__}: {exc}") from exc
    what = f"quote seq {msg['seq']}" if msg["type"] == "market" else "market closed notice"
    stream = msg.get("stream")
    return f"{url}: authenticated, subscribed {symbol}, {what} ({stream}), closed 1000"
