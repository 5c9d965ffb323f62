"""Python client of the gateway protocol (see ``serve.gateway``): connect, authenticate,
subscribe, and keep going across drops by reconnecting with exponential backoff and full
jitter (``cluster.retry.Backoff``) and resuming every event stream from the last ``seq``
it delivered, so the caller sees each event once and in order (or an explicit ``gap``).

    async with GatewayClient(url, token=lambda: login().access_token,
                             channels=[{"channel": "orders", "account_id": acct}]) as c:
        async for msg in c:
            ...

Closes that retrying cannot fix (4401, 4403, 1003, 1008, 1009) end the iteration with
``GatewayClosed``; anything else (network drop, 1001, 1011, 1013, 4000, 4429) reconnects.
``token`` may be a callable, so a reconnect can present a fresh access token.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect

from cluster.retry import Backoff

log = logging.getLogger(__name__)

FATAL_CLOSES = frozenset({4401, 4403, 1003, 1008, 1009})
TokenSource = str | Callable[[], str | Awaitable[str]]


class GatewayClosed(Exception):
    """The server closed for a reason a reconnect would not fix."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"gateway closed the socket: {code} {reason}")
        self.code, self.reason = code, reason


class GatewayClient:
    def __init__(
        self,
        url: str,
        token: TokenSource,
        *,
        channels: list[dict[str, Any]] | None = None,
        resume: dict[str, int] | None = None,
        backoff: Backoff = Backoff(base_s=0.2, cap_s=10.0, max_attempts=20),
        timeout_s: float = 10.0,
        rng: random.Random | None = None,
    ) -> None:
        self.url, self.token = url, token
        self.channels: list[dict[str, Any]] = list(channels or [])
        self.last_seq: dict[str, int] = dict(resume or {})
        self.backoff, self.timeout_s, self.rng = backoff, timeout_s, rng
        self.reconnects = 0
        self.user_id: str | None = None
        self.ws: ClientConnection | None = None
        self._closed = False

    async def __aenter__(self) -> GatewayClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> dict[str, Any]:
        """Open, authenticate and (re)subscribe with ``resume``; the ``authenticated`` reply."""
        ws = await connect(
            self.url, open_timeout=self.timeout_s, ping_interval=None, close_timeout=2
        )
        try:
            await ws.send(json.dumps({"type": "authenticate", "token": await self._token()}))
            reply = await self._recv_control(ws, "authenticated")
            self.user_id = str(reply["user_id"])
            if self.channels:
                await self._send_subscribe(ws, self.channels)
        except BaseException:
            await ws.close()
            raise
        self.ws = ws
        return reply

    async def subscribe(self, channels: list[dict[str, Any]]) -> None:
        self.channels.extend(channels)
        if self.ws is not None:
            await self._send_subscribe(self.ws, channels)

    async def close(self) -> None:
        self._closed = True
        if self.ws is not None:
            await self.ws.close()
            self.ws = None

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[dict[str, Any]]:
        while not self._closed:
            if self.ws is None:
                await self._reconnect()
            ws = self.ws
            assert ws is not None
            try:
                async for raw in ws:
                    msg = json.loads(raw)
                    if msg.get("type") == "ping":
                        await ws.send(json.dumps({"type": "pong", "id": msg["id"]}))
                        continue
                    if self._is_duplicate(msg):
                        continue
                    yield msg
            except websockets.ConnectionClosed:
                pass
            if self._closed:
                return
            code, reason = ws.close_code, ws.close_reason or ""
            self.ws = None
            if code in FATAL_CLOSES:
                raise GatewayClosed(code, reason)
            log.info("gateway socket closed (%s %s); reconnecting", code, reason)

    def _is_duplicate(self, msg: dict[str, Any]) -> bool:
        """Track the last seq per event stream; drop anything at or below it."""
        if msg.get("type") not in ("event", "gap"):
            return False
        stream, seq = msg["stream"], int(msg["seq"])
        if seq <= self.last_seq.get(stream, 0):
            return True
        self.last_seq[stream] = seq
        return False

    async def _reconnect(self) -> None:
        attempt = 0
        while True:
            await asyncio.sleep(self.backoff.delay(attempt, self.rng))
            try:
                await self.connect()
                self.reconnects += 1
                return
            except (OSError, TimeoutError, websockets.WebSocketException) as exc:
                attempt += 1
                if self.backoff.exhausted(attempt):
                    raise GatewayClosed(None, f"reconnect failed: {exc}") from exc
                log.info("reconnect attempt %d failed: %s", attempt, exc)

    async def _send_subscribe(self, ws: ClientConnection, channels: list[dict[str, Any]]) -> None:
        streams = {_stream_of(c, self.user_id) for c in channels} - {None}
        resume = {s: seq for s, seq in self.last_seq.items() if s in streams}
        await ws.send(json.dumps({"type": "subscribe", "channels": channels, "resume": resume}))

    async def _recv_control(self, ws: ClientConnection, kind: str) -> dict[str, Any]:
        async with asyncio.timeout(self.timeout_s):
            while True:
                try:
                    msg = json.loads(await ws.recv())
                except websockets.ConnectionClosed as exc:
                    raise GatewayClosed(ws.close_code, ws.close_reason or "") from exc
                if msg.get("type") == kind:
                    return dict(msg)

    async def _token(self) -> str:
        if isinstance(self.token, str):
            return self.token
        value = self.token()
        return str(await value) if inspect.isawaitable(value) else str(value)


def _stream_of(channel: dict[str, Any], user_id: str | None) -> str | None:
    """The event stream a channel maps to (as the server names it), or None for market."""
    name = channel.get("channel")
    if name in ("orders", "positions", "account", "risk"):
        account = str(channel.get("account_id"))
        with contextlib.suppress(ValueError):
            account = str(uuid.UUID(account))
        return f"{name}:{account}"
    if name == "jobs":
        return f"jobs:{user_id}" if user_id else None
    if name == "feed":
        return "feed"
    return None
