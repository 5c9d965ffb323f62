"""Gateway test kit: a fake ``FeedClient``, the gateway app on a real uvicorn in a thread,
and small helpers over the ``websockets`` client (real sockets: a close before ``accept``
would show as HTTP 403 here, which Starlette's TestClient hides).
"""

from __future__ import annotations

import asyncio
import collections
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from serve.gateway import GatewayDeps, GatewayHub, create_gateway_app
from tests.kit.redis_server import free_port


class FakeFeed:
    """The ``FeedClient`` contract: ``subscribe(symbols)``, ``batches()``, ``close()``.

    ``push`` may be called from any thread; batches are handed to the gateway's loop.
    """

    def __init__(self) -> None:
        self.subscriptions: list[list[str]] = []
        self.symbols: set[str] = set()
        self.closed = False
        self.epoch = 1
        self._items: collections.deque[dict[str, Any]] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._seq: collections.Counter[str] = collections.Counter()

    def subscribe(self, symbols: list[str]) -> None:
        """Adds symbols, like the real client (the upstream set only grows)."""
        self.subscriptions.append(list(symbols))
        self.symbols |= set(symbols)

    async def batches(self) -> AsyncIterator[dict[str, Any]]:
        self._loop, self._event = asyncio.get_running_loop(), asyncio.Event()
        while not self.closed:
            while self._items:
                yield self._items.popleft()
            self._event.clear()
            try:
                async with asyncio.timeout(0.05):
                    await self._event.wait()
            except TimeoutError:
                pass

    def close(self) -> None:
        self.closed = True

    def quote(self, symbol: str, **extra: Any) -> dict[str, Any]:
        self._seq[symbol] += 1
        return {
            "symbol": symbol,
            "seq": self._seq[symbol],
            "type": "quote",
            "bid": "1.00",
            "ask": "1.01",
            **extra,
        }

    def push(self, events: list[dict[str, Any]], dropped: int = 0) -> None:
        self._items.append({"epoch": self.epoch, "events": events, "dropped": dropped})
        loop, event = self._loop, self._event
        if loop is not None and event is not None:
            loop.call_soon_threadsafe(event.set)


@dataclass
class RunningGateway:
    base: str
    ws_url: str
    hub: GatewayHub
    loop: asyncio.AbstractEventLoop


@contextmanager
def gateway_server(
    deps: GatewayDeps,
    *,
    port: int | None = None,
    on_socket: Callable[[], None] | None = None,
    drain_on_exit: bool = False,
) -> Iterator[RunningGateway]:
    """The gateway app from the same builder Serve uses, on uvicorn in a thread.

    ``port``: a fixed one (a "restarted" gateway where the clients look for the old one);
    ``on_socket``: called (on the server's loop) for every WebSocket that reaches the app,
    the test's server-side connection counter; ``drain_on_exit``: leave as a replica
    shutting down does (1012 to every socket, bounded), not by cancelling the sockets."""
    app = create_gateway_app(deps, mount="/ws")
    port = port or free_port()

    async def counted(scope: Any, receive: Any, send: Any) -> None:
        if on_socket is not None and scope["type"] == "websocket":
            on_socket()
        await app(scope, receive, send)

    config = uvicorn.Config(
        counted,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        ws_ping_interval=None,
    )
    server = uvicorn.Server(config)
    loops: list[asyncio.AbstractEventLoop] = []

    def run() -> None:
        loop = asyncio.new_event_loop()
        loops.append(loop)
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.serve())
        loop.close()

    thread = threading.Thread(target=run, daemon=True, name=f"gateway-{port}")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("gateway uvicorn did not start")
        time.sleep(0.02)
    try:
        yield RunningGateway(
            f"http://127.0.0.1:{port}/ws", f"ws://127.0.0.1:{port}/ws", app.hub, loops[0]
        )
    finally:
        if drain_on_exit and thread.is_alive():
            hub: GatewayHub = app.hub
            done = asyncio.run_coroutine_threadsafe(_drain(hub), loops[0])
            done.result(hub.limits.drain_s + 5)
        server.should_exit = True
        thread.join(15)


async def _drain(hub: GatewayHub) -> int:
    return await hub.drain.start()


async def connect(url: str, **kwargs: Any) -> ClientConnection:
    kwargs.setdefault("open_timeout", 5)
    kwargs.setdefault("ping_interval", None)
    kwargs.setdefault("close_timeout", 2)
    kwargs.setdefault("max_size", 2**24)
    return await ws_connect(url, **kwargs)


async def send(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(json.dumps(message))


async def recv(ws: ClientConnection, within: float = 5.0) -> dict[str, Any]:
    """Next message, answering server pings on the way."""
    while True:
        async with asyncio.timeout(within):
            raw = await ws.recv()
        msg = json.loads(raw)
        if msg.get("type") == "ping":
            await send(ws, {"type": "pong", "id": msg["id"]})
            continue
        return dict(msg)


async def recv_until(
    ws: ClientConnection, pred: Callable[[dict[str, Any]], bool], within: float = 5.0
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the first message matching ``pred``, every message before it)."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + within
    while True:
        msg = await recv(ws, max(0.01, deadline - time.monotonic()))
        if pred(msg):
            return msg, seen
        seen.append(msg)


async def authenticate(ws: ClientConnection, token: str) -> dict[str, Any]:
    await send(ws, {"type": "authenticate", "token": token})
    msg = await recv(ws)
    assert msg["type"] == "authenticated", msg
    return msg


async def close_code(ws: ClientConnection, within: float = 10.0) -> tuple[int | None, list[Any]]:
    """Read until the server closes; (close code, messages read on the way)."""
    seen: list[Any] = []
    try:
        async with asyncio.timeout(within):
            async for raw in ws:
                seen.append(json.loads(raw) if isinstance(raw, str) else raw)
    except websockets.ConnectionClosed:
        pass
    return ws.close_code, seen
