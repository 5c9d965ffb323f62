"""Python client of the gateway protocol (see ``serve.gateway``): connect, authenticate,
subscribe, and keep going across drops by reconnecting (``serve.ws_reconnect``: full
jitter from the first retry over a window that scales with ``expected_clients`` or the
server's ``retry_after_s`` hint) and resuming every event stream from the last ``seq`` it
delivered, or, for a stream with no event yet, from the ``seq`` the ``subscribed`` reply
gave, so the caller sees each event published after it subscribed once and in order (or
an explicit ``gap``).

    async with GatewayClient(url, token=lambda: login().access_token,
                             channels=[{"channel": "orders", "account_id": acct}]) as c:
        async for msg in c:
            ...

Closes that retrying cannot fix (4401, 4403, 1003, 1008, 1009) end the iteration with
``GatewayClosed``; anything else (network drop, 1001, 1011, 1012, 1013, 4000, 4429)
reconnects. ``token`` may be a callable, so a reconnect can present a fresh access token.
``sleep`` and ``clock`` are injectable so tests drive the backoff on simulated time.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect

from cluster.retry import Backoff
from serve.ws_reconnect import ReconnectPolicy, ReconnectState, hint_from

log = logging.getLogger(__name__)

FATAL_CLOSES = frozenset({4401, 4403, 1003, 1008, 1009})
TokenSource = str | Callable[[], str | Awaitable[str]]


class GatewayClosed(Exception):
    """The server closed for a reason a reconnect would not fix."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"gateway closed the socket: {code} {reason}")
        self.code, self.reason = code, reason


Sleep = Callable[[float], Awaitable[None]]


class GatewayClient:
    def __init__(
        self,
        url: str,
        token: TokenSource,
        *,
        channels: list[dict[str, Any]] | None = None,
        resume: dict[str, int] | None = None,
        backoff: Backoff = Backoff(base_s=0.5, cap_s=30.0, max_attempts=20),
        expected_clients: int = 1,
        reconnect_rate_per_s: float = 20.0,
        healthy_s: float = 30.0,
        timeout_s: float = 10.0,
        batch: bool = False,
        rng: random.Random | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url, self.token = url, token
        self.channels: list[dict[str, Any]] = list(channels or [])
        self.last_seq: dict[str, int] = dict(resume or {})
        self.policy = ReconnectPolicy(backoff, expected_clients, reconnect_rate_per_s, healthy_s)
        self.retry = ReconnectState(self.policy)
        self.timeout_s, self.rng, self.sleep, self.clock = timeout_s, rng, sleep, clock
        self.batch = batch  # ask for batched frames (``serve.gateway_batch``)
        self.reconnects = 0
        self.delays: list[float] = []  # every reconnect wait drawn, for operators and tests
        self.closes: list[int | None] = []  # the close code of every socket that dropped
        self.user_id: str | None = None
        self.ws: ClientConnection | None = None
        self._closed = False
        self._early: list[dict[str, Any]] = []  # read while connecting, yielded first
        self._error: dict[str, Any] | None = None  # the last ``error`` before a close
        self._last_reason: str | None = None  # the last close reason (may carry a hint)

    async def __aenter__(self) -> GatewayClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> dict[str, Any]:
        """Open, authenticate and (re)subscribe with ``resume``; the ``authenticated`` reply.

        Waits for ``subscribed`` too, so the stream positions it carries are recorded
        before the caller can lose the socket."""
        ws = await connect(
            self.url, open_timeout=self.timeout_s, ping_interval=None, close_timeout=2
        )
        self._early, self._error = [], None
        try:
            hello: dict[str, Any] = {"type": "authenticate", "token": await self._token()}
            if self.batch:
                hello["batch"] = True
            await ws.send(json.dumps(hello))
            reply = await self._recv_control(ws, "authenticated")
            self.user_id = str(reply["user_id"])
            if self.channels:
                await self._send_subscribe(ws, self.channels)
                await self._await_subscribed(ws)
        except BaseException:
            await ws.close()
            raise
        self.ws = ws
        self.retry.connected(self.clock())
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
            while self._early:
                msg = self._early.pop(0)
                if not self._is_duplicate(msg):
                    yield msg
            try:
                async for raw in ws:
                    for msg in _messages_of(raw):
                        if await self._answer(ws, msg) or self._is_duplicate(msg):
                            continue
                        yield msg
            except websockets.ConnectionClosed:
                pass
            if self._closed:
                return
            code, reason = ws.close_code, ws.close_reason or ""
            self.ws, self._last_reason = None, reason
            self.closes.append(code)
            self.retry.dropped(self.clock())
            if code in FATAL_CLOSES:
                raise GatewayClosed(code, reason)
            log.info("gateway socket closed (%s %s); reconnecting", code, reason)

    async def _answer(self, ws: ClientConnection, msg: dict[str, Any]) -> bool:
        """Protocol housekeeping on every message; True if the caller should not see it."""
        kind = msg.get("type")
        if kind == "ping":
            await ws.send(json.dumps({"type": "pong", "id": msg["id"]}))
            return True
        if kind == "subscribed":
            self._note_positions(msg)
        elif kind == "error":
            self._error = msg
        return False

    def _note_positions(self, msg: dict[str, Any]) -> None:
        """A stream this client holds no ``seq`` for resumes from where it subscribed."""
        for channel in msg.get("channels", ()):
            stream, seq = channel.get("stream"), channel.get("seq")
            if stream is not None and seq is not None:
                self.last_seq.setdefault(str(stream), int(seq))

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
        hint = hint_from(self._error, self._last_reason)
        while True:
            delay = self.retry.next_delay(self.rng, hint)
            self.delays.append(delay)
            await self.sleep(delay)
            try:
                await self.connect()
                self.reconnects += 1
                return
            except (OSError, TimeoutError, websockets.WebSocketException, GatewayClosed) as exc:
                if isinstance(exc, GatewayClosed) and exc.code in FATAL_CLOSES:
                    raise
                reason = exc.reason if isinstance(exc, GatewayClosed) else None
                hint = hint_from(self._error, reason)
                if self.retry.exhausted():
                    raise GatewayClosed(None, f"reconnect failed: {exc}") from exc
                log.info("reconnect attempt %d failed: %s", self.retry.attempt, exc)

    async def _send_subscribe(self, ws: ClientConnection, channels: list[dict[str, Any]]) -> None:
        streams = {_stream_of(c, self.user_id) for c in channels} - {None}
        resume = {s: seq for s, seq in self.last_seq.items() if s in streams}
        await ws.send(json.dumps({"type": "subscribe", "channels": channels, "resume": resume}))

    async def _await_subscribed(self, ws: ClientConnection) -> None:
        """Read up to ``subscribed`` (kept for the caller); a close is left for the
        iterator to report, as if it came a moment later."""
        try:
            async with asyncio.timeout(self.timeout_s):
                while True:
                    found = False
                    for msg in _messages_of(await ws.recv()):
                        if await self._answer(ws, msg):
                            continue
                        self._early.append(msg)
                        found = found or msg.get("type") == "subscribed"
                    if found:
                        return
        except websockets.ConnectionClosed:
            return

    async def _recv_control(self, ws: ClientConnection, kind: str) -> dict[str, Any]:
        async with asyncio.timeout(self.timeout_s):
            while True:
                try:
                    msgs = _messages_of(await ws.recv())
                except websockets.ConnectionClosed as exc:
                    self._last_reason = ws.close_reason
                    raise GatewayClosed(ws.close_code, ws.close_reason or "") from exc
                for i, msg in enumerate(msgs):
                    if msg.get("type") == "error":
                        self._error = msg
                    if msg.get("type") == kind:
                        self._early.extend(msgs[i + 1 :])
                        return dict(msg)

    async def _token(self) -> str:
        if isinstance(self.token, str):
            return self.token
        value = self.token()
        return str(await value) if inspect.isawaitable(value) else str(value)


def _messages_of(raw: str | bytes) -> list[dict[str, Any]]:
    """A frame holds one message, or (batched frames) a JSON array of them."""
    decoded = json.loads(raw)
    return [dict(m) for m in decoded] if isinstance(decoded, list) else [dict(decoded)]


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
