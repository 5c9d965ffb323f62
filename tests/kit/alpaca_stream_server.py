"""A local stand-in for Alpaca's market-data v2 stream and snapshot REST endpoint.

It speaks the vendor protocol over a real socket (``websockets`` server on 127.0.0.1,
ephemeral port) so the client under test runs its real handshake, auth, subscription and
reconnect code. It records every subscription request per connection, can drop every
connection abruptly (``drop_all``) and pushes scripted ``t``/``q``/``b`` messages to the
connections subscribed to them.

Protocol as documented by Alpaca: on connect ``[{"T":"success","msg":"connected"}]``;
``{"action":"auth",...}`` answers ``authenticated`` or error 402; subscribe/unsubscribe
answer a ``subscription`` message with the full current set.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from http import HTTPStatus
from typing import Any

from aiohttp import web
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

CHANNELS = ("trades", "quotes", "bars")
_CHANNEL_OF = {"t": "trades", "q": "quotes", "b": "bars"}

ERROR_MESSAGES = {
    400: "invalid syntax",
    401: "not authenticated",
    402: "auth failed",
    403: "already authenticated",
    404: "auth timeout",
    405: "symbol limit exceeded",
    406: "connection limit exceeded",
    407: "slow client",
    409: "insufficient subscription",
    500: "internal error",
}


_RAW = re.compile(r'"@@dec:([^"@]+)@@"')


def dumps(obj: Any) -> str:
    """JSON with ``Decimal`` written as a bare number of exactly its digits, as the
    vendor writes prices (``json`` alone would need a float and could lose digits)."""

    def default(value: Any) -> str:
        if isinstance(value, Decimal):
            return f"@@dec:{value}@@"
        raise TypeError(f"cannot serialize {type(value).__name__}")

    return _RAW.sub(r"\1", json.dumps(obj, default=default))


def error(code: int) -> dict[str, Any]:
    return {"T": "error", "code": code, "msg": ERROR_MESSAGES[code]}


@dataclass
class ConnectionRecord:
    """What one client connection did, for assertions."""

    ws: ServerConnection
    authenticated: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)
    subs: dict[str, set[str]] = field(default_factory=lambda: {c: set() for c in CHANNELS})

    def subscribed(self, channel: str, symbol: str) -> bool:
        return symbol in self.subs[channel] or "*" in self.subs[channel]


class AlpacaStreamServer:
    """Run with ``async with AlpacaStreamServer(...) as server:``."""

    def __init__(
        self,
        *,
        key_id: str = "test-key",
        secret: str = "test-secret",
        feed: str = "iex",
        script: Sequence[Mapping[str, Any]] = (),
        snapshots: Mapping[str, Mapping[str, Any]] | None = None,
        auth_timeout_s: float = 10.0,
    ) -> None:
        self.key_id = key_id
        self.secret = secret
        self.feed = feed
        #: Messages sent to a connection when it newly subscribes to their symbol.
        self.script = [dict(m) for m in script]
        self.snapshots = dict(snapshots or {})
        self.auth_timeout_s = auth_timeout_s
        self.connections: list[ConnectionRecord] = []
        #: Snapshot REST requests seen (headers and query), for assertions.
        self.rest_requests: list[dict[str, str]] = []
        #: Statuses the snapshot endpoint answers first, one per request, before succeeding.
        self.rest_fail_with: list[int] = []
        self._ws_server: Server | None = None
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Condition()
        self.ws_url = ""
        self.rest_url = ""

    async def __aenter__(self) -> AlpacaStreamServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self._ws_server = await serve(
            self._handle, "127.0.0.1", 0, process_request=self._check_path, ping_interval=None
        )
        port = self._ws_server.sockets[0].getsockname()[1]
        self.ws_url = f"ws://127.0.0.1:{port}"
        app = web.Application()
        app.router.add_get("/v2/stocks/snapshots", self._snapshots)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, rest_port = self._runner.addresses[0][:2]
        self.rest_url = f"http://{host}:{rest_port}"

    async def stop(self) -> None:
        if self._ws_server is not None:
            self._ws_server.close()
            await self._ws_server.wait_closed()
            self._ws_server = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- test controls -------------------------------------------------------------

    @property
    def live(self) -> list[ConnectionRecord]:
        return [c for c in self.connections if c.ws.state.name == "OPEN"]

    async def drop_all(self) -> None:
        """Cut every connection without a close handshake, like a network failure."""
        for record in self.live:
            transport = record.ws.transport
            if transport is not None:
                transport.abort()

    async def publish(self, *messages: Mapping[str, Any]) -> int:
        """Send each message to live, authenticated connections subscribed to it."""
        sent = 0
        for record in self.live:
            batch = [dict(m) for m in messages if self._wants(record, m)]
            if batch and record.authenticated:
                with contextlib.suppress(ConnectionClosed):
                    await record.ws.send(dumps(batch))
                    sent += len(batch)
        return sent

    async def wait_for(self, predicate: Any, within: float = 2.0) -> None:
        """Wait until ``predicate(self)`` holds, re-checked on every protocol event."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: predicate(self))

    def subscribed_connections(self, channel: str, symbol: str) -> list[ConnectionRecord]:
        return [c for c in self.connections if c.subscribed(channel, symbol)]

    # -- protocol ------------------------------------------------------------------

    def _check_path(self, ws: ServerConnection, request: Request) -> Response | None:
        if request.path != f"/v2/{self.feed}":
            return ws.respond(HTTPStatus.NOT_FOUND, "no such feed\n")
        return None

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _handle(self, ws: ServerConnection) -> None:
        record = ConnectionRecord(ws=ws)
        self.connections.append(record)
        await self._notify()
        try:
            await ws.send(dumps([{"T": "success", "msg": "connected"}]))
            async with asyncio.timeout(self.auth_timeout_s):
                first = await ws.recv()
            if not await self._on_message(record, first):
                return
            async for raw in ws:
                if not await self._on_message(record, raw):
                    return
        except TimeoutError:
            await ws.send(dumps([error(404)]))
        except ConnectionClosed:
            pass
        finally:
            await self._notify()

    async def _on_message(self, record: ConnectionRecord, raw: str | bytes) -> bool:
        """Handle one client message; False closes the connection."""
        ws = record.ws
        try:
            msg = json.loads(raw)
            action = msg["action"]
        except (ValueError, KeyError, TypeError):
            await ws.send(dumps([error(400)]))
            return True
        record.requests.append(msg)
        if action == "auth":
            if record.authenticated:
                await ws.send(dumps([error(403)]))
                return True
            if msg.get("key") != self.key_id or msg.get("secret") != self.secret:
                await ws.send(dumps([error(402)]))
                await ws.close()
                return False
            record.authenticated = True
            await ws.send(dumps([{"T": "success", "msg": "authenticated"}]))
        elif action in ("subscribe", "unsubscribe"):
            if not record.authenticated:
                await ws.send(dumps([error(401)]))
                return True
            await self._on_subscription(record, action, msg)
        else:
            await ws.send(dumps([error(400)]))
        await self._notify()
        return True

    async def _on_subscription(
        self, record: ConnectionRecord, action: str, msg: Mapping[str, Any]
    ) -> None:
        added: dict[str, set[str]] = {c: set() for c in CHANNELS}
        for channel in CHANNELS:
            symbols = set(_str_list(msg.get(channel, [])))
            if action == "subscribe":
                added[channel] = symbols - record.subs[channel]
                record.subs[channel] |= symbols
            else:
                record.subs[channel] -= symbols
        reply: dict[str, Any] = {"T": "subscription"}
        reply.update({c: sorted(record.subs[c]) for c in CHANNELS})
        await record.ws.send(dumps([reply]))
        scripted = [
            m
            for m in self.script
            if m.get("S") in added.get(_CHANNEL_OF.get(str(m.get("T")), ""), set())
        ]
        if scripted:
            await record.ws.send(dumps(scripted))

    @staticmethod
    def _wants(record: ConnectionRecord, message: Mapping[str, Any]) -> bool:
        channel = _CHANNEL_OF.get(str(message.get("T")))
        return channel is not None and record.subscribed(channel, str(message.get("S")))

    # -- REST ----------------------------------------------------------------------

    async def _snapshots(self, request: web.Request) -> web.Response:
        self.rest_requests.append(
            {
                "key": request.headers.get("APCA-API-KEY-ID", ""),
                "symbols": request.query.get("symbols", ""),
                "feed": request.query.get("feed", ""),
            }
        )
        if self.rest_fail_with:
            status = self.rest_fail_with.pop(0)
            return web.json_response({"message": "scripted failure"}, status=status)
        if (
            request.headers.get("APCA-API-KEY-ID") != self.key_id
            or request.headers.get("APCA-API-SECRET-KEY") != self.secret
        ):
            return web.json_response({"message": "forbidden."}, status=403)
        wanted = [s for s in request.query.get("symbols", "").split(",") if s]
        body = {s: self.snapshots[s] for s in wanted if s in self.snapshots}
        # Alpaca sends prices as JSON numbers; keep the literal text of the fixtures.
        return web.Response(text=dumps(body), content_type="application/json")


def _str_list(value: Iterable[Any]) -> list[str]:
    return [str(v) for v in value]


__all__ = ["AlpacaStreamServer", "ConnectionRecord", "error"]
