"""Alpaca market-data v2 WebSocket client (``wss://stream.data.alpaca.markets/v2/{feed}``).

Protocol: the server greets with ``[{"T":"success","msg":"connected"}]``; we send
``{"action":"auth",...}`` and expect ``authenticated``; then ``subscribe`` messages, each
acknowledged with the full ``subscription`` set; data arrives as JSON arrays of ``t``
(trade), ``q`` (quote) and ``b`` (bar) objects. Numbers are parsed as ``Decimal``.

What the adapter does with each vendor error code (``{"T":"error","code":...}``):

- 401, 402, 409 (not authenticated, auth failed, insufficient subscription): the keys or
  the plan are wrong. ``OperatorError``, state FAILED, no reconnect: retrying bad keys
  only gets the account throttled.
- 404, 406, 407, 500 (auth timeout, connection limit, slow client, internal error) and
  any socket failure: ``TransientError``; reconnect with the shared ``Backoff`` (full
  jitter, capped), re-authenticate and resubscribe every current symbol. After
  ``backoff.max_attempts`` consecutive failures the adapter gives up (FAILED +
  ``OperatorError``): a feed that cannot connect for minutes needs a human.
- 400, 403, 405 (bad syntax, already authenticated, symbol limit): reported through
  ``on_error``; the connection stays up.

Events whose values the domain refuses (a crossed quote) are dropped and counted in
``rejected``: the domain says those are consolidated-feed artefacts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from cluster.marketdata.alpaca_rest import (
    DEFAULT_REST_URL,
    AlpacaRestClient,
    bar_from_wire,
    mask_key,
    quote_from_wire,
    trade_from_wire,
)
from cluster.marketdata.provider import BaseProvider, ErrorHook, ProviderState, Snapshot
from cluster.retry import Backoff
from domain.clock import Clock
from domain.errors import OperatorError, TransientError, ValidationFailed
from domain.marketdata import Bar, Quote, Trade

__all__ = ["DEFAULT_STREAM_URL", "AlpacaStreamProvider", "classify_error"]

DEFAULT_STREAM_URL = "wss://stream.data.alpaca.markets"
CHANNELS = ("trades", "quotes", "bars")

_FATAL = frozenset({401, 402, 409})
_RECONNECT = frozenset({404, 406, 407, 500})
_PARSERS: dict[str, Callable[..., Trade | Quote | Bar]] = {
    "t": trade_from_wire,
    "q": quote_from_wire,
    "b": bar_from_wire,
}


def classify_error(msg: Mapping[str, Any], key_hint: str) -> Exception:
    """Translate a vendor error message into what the platform does with it."""
    code, text = msg.get("code"), msg.get("msg", "")
    if code in _FATAL:
        return OperatorError(
            f"alpaca stream refused key id {key_hint}: {code} {text}; "
            "check the API key, secret and market-data subscription"
        )
    if code in _RECONNECT:
        return TransientError(f"alpaca stream: {code} {text}")
    return ValidationFailed("alpaca-stream", f"error-{code}", f"alpaca stream: {code} {text}")


class _Fatal(Exception):
    """Carries an OperatorError out of a session without it being retried."""

    def __init__(self, error: OperatorError) -> None:
        super().__init__(error.message)
        self.error = error


class AlpacaStreamProvider(BaseProvider):
    def __init__(
        self,
        *,
        key_id: str,
        secret: str,
        feed: str = "iex",
        url: str = DEFAULT_STREAM_URL,
        rest_url: str = DEFAULT_REST_URL,
        channels: Iterable[str] = CHANNELS,
        clock: Clock | None = None,
        on_error: ErrorHook | None = None,
        backoff: Backoff = Backoff(base_s=0.5, cap_s=30.0, max_attempts=20),
        stable_after_s: float = 10.0,
        ready_timeout_s: float = 15.0,
        io_timeout_s: float = 10.0,
        close_timeout_s: float = 2.0,
        queue_size: int = 10_000,
        name: str = "alpaca",
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(name=name, clock=clock, on_error=on_error, queue_size=queue_size)
        if feed not in ("iex", "sip", "delayed_sip"):
            raise ValidationFailed("feed", "one-of:iex,sip,delayed_sip")
        self._auth = {"action": "auth", "key": key_id, "secret": secret}
        self._key_hint = mask_key(key_id)
        self._uri = f"{url.rstrip('/')}/v2/{feed}"
        self._channels = tuple(c for c in CHANNELS if c in set(channels))
        self._backoff = backoff
        self._stable_after_s = stable_after_s
        self._ready_timeout_s = ready_timeout_s
        self._io_timeout_s = io_timeout_s
        self._close_timeout_s = close_timeout_s
        self._rng = rng or random.Random()
        self._rest = AlpacaRestClient(
            key_id=key_id,
            secret=secret,
            clock=self._clock,
            base_url=rest_url,
            feed=feed,
            provider=name,
        )
        self._lock = asyncio.Lock()
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None
        #: Subscription set last acknowledged by the server, per channel.
        self.acked: dict[str, frozenset[str]] = {c: frozenset() for c in CHANNELS}
        self.rejected = 0
        self.connects = 0

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and authenticate; raise OperatorError on bad keys, TransientError
        when no session came up within ``ready_timeout_s`` (nothing is left running)."""
        if not self._begin_start():
            return
        ready = self._ready = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run(), name=f"{self.name}-stream")
        try:
            async with asyncio.timeout(self._ready_timeout_s):
                await ready
        except TimeoutError as exc:
            await self.stop()
            raise TransientError(
                f"alpaca stream: no session within {self._ready_timeout_s}s"
            ) from exc
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        task, self._task = self._task, None
        if self._ready is not None and not self._ready.done():
            self._ready.cancel()
        await self._finish_stop(task)

    # -- subscriptions ---------------------------------------------------------------

    async def subscribe(self, symbols: Iterable[str]) -> None:
        async with self._lock:
            new = self._add_symbols(symbols)
            await self._send_subscription("subscribe", new)

    async def unsubscribe(self, symbols: Iterable[str]) -> None:
        async with self._lock:
            gone = self._remove_symbols(symbols)
            await self._send_subscription("unsubscribe", gone)

    async def _send_subscription(self, action: str, symbols: Iterable[str]) -> None:
        """Send if connected; otherwise the next session subscribes the whole set."""
        ws, wanted = self._ws, sorted(symbols)
        if ws is None or not wanted:
            return
        msg: dict[str, Any] = {"action": action}
        msg.update({channel: wanted for channel in self._channels})
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            async with asyncio.timeout(self._io_timeout_s):
                await ws.send(json.dumps(msg))

    async def snapshot(self, symbols: Iterable[str]) -> dict[str, Snapshot]:
        return await self._rest.snapshots(symbols)

    # -- sessions --------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            began = loop.time()
            try:
                await self._session()
            except _Fatal as fatal:
                self._fail(fatal.error)
                return
            except Exception as exc:
                self._report(_transient(exc))
            if self._state is ProviderState.RUNNING and loop.time() - began >= self._stable_after_s:
                failures = 0
            failures += 1
            if self._backoff.exhausted(failures):
                self._fail(OperatorError(f"alpaca stream: gave up after {failures} attempts"))
                return
            self._transition(ProviderState.RECONNECTING)
            await asyncio.sleep(self._backoff.delay(failures - 1, self._rng))

    async def _session(self) -> None:
        async with connect(
            self._uri,
            open_timeout=self._io_timeout_s,
            close_timeout=self._close_timeout_s,
            compression=None,
        ) as ws:
            self.connects += 1
            await self._handshake(ws)
            try:
                async with self._lock:
                    self._ws = ws
                    await self._send_subscription("subscribe", self._symbols)
                self._transition(ProviderState.RUNNING)
                if self._ready is not None and not self._ready.done():
                    self._ready.set_result(None)
                async for raw in ws:
                    await self._dispatch(raw)
            finally:
                self._ws = None
        raise TransientError("alpaca stream: connection closed by the server")

    async def _handshake(self, ws: ClientConnection) -> None:
        await self._expect(ws, "connected")
        async with asyncio.timeout(self._io_timeout_s):
            await ws.send(json.dumps(self._auth))
        await self._expect(ws, "authenticated")

    async def _expect(self, ws: ClientConnection, success: str) -> None:
        async with asyncio.timeout(self._io_timeout_s):
            raw = await ws.recv()
        for msg in _decode(raw):
            if msg.get("T") == "success" and msg.get("msg") == success:
                return
            if msg.get("T") == "error":
                _raise_server_error(msg, self._key_hint)
        raise TransientError(f"alpaca stream: expected {success!r}, got {str(raw)[:200]}")

    async def _dispatch(self, raw: str | bytes) -> None:
        now = self._clock.now()
        for msg in _decode(raw):
            kind = msg.get("T")
            parse = _PARSERS.get(kind) if isinstance(kind, str) else None
            if parse is not None:
                symbol = msg.get("S")
                if not isinstance(symbol, str) or not self._wanted(symbol):
                    continue
                seq = self._seq.get(symbol, 0) + 1
                try:
                    event = parse(symbol, msg, received_ts=now, provider=self.name, seq=seq)
                except ValidationFailed:
                    self.rejected += 1
                    continue
                self._seq[symbol] = seq
                await self._emit(event)
            elif kind == "subscription":
                self.acked = {c: frozenset(msg.get(c) or ()) for c in CHANNELS}
            elif kind == "error":
                try:
                    _raise_server_error(msg, self._key_hint)
                except ValidationFailed as exc:
                    self._report(exc)

    def _fail(self, error: OperatorError) -> None:
        self._report(error)
        self._transition(ProviderState.FAILED)
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(error)
        self._end_stream()


def _decode(raw: str | bytes) -> list[dict[str, Any]]:
    try:
        data = json.loads(raw, parse_float=Decimal)
    except ValueError as exc:
        raise TransientError("alpaca stream: malformed JSON frame") from exc
    items = data if isinstance(data, list) else [data]
    return [m for m in items if isinstance(m, dict)]


def _raise_server_error(msg: Mapping[str, Any], key_hint: str) -> None:
    error = classify_error(msg, key_hint)
    if isinstance(error, OperatorError):
        raise _Fatal(error)
    raise error


def _transient(exc: Exception) -> Exception:
    """Everything but a fatal code on a session is a reason to reconnect."""
    if isinstance(exc, TransientError | ValidationFailed):
        return exc
    error = TransientError(f"alpaca stream: {type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error
