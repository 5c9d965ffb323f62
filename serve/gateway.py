"""WebSocket gateway: account event streams with resume, and market data fan-out.

Protocol (version 1; JSON text frames; schemas at ``GET /ws/schema`` and in
``serve/schemas/ws/``):

1. Connect to ``/ws`` (never put a token in the URL). The server accepts, then the client
   sends ``{"type":"authenticate","token":"<access JWT>"}`` within ``ws_auth_timeout_s``
   (5 s) and gets ``{"type":"authenticated", ...}``. Sending ``authenticate`` again with a
   fresh token of the same user before expiry extends the socket's life.
2. ``{"type":"subscribe","channels":[{"channel":"market.quotes","symbols":["AAPL"]},
   {"channel":"orders","account_id":"<uuid>"}],"resume":{"orders:<uuid>":41}}`` ->
   ``subscribed``, then (per stream in ``resume``) every retained event after that
   ``seq`` once and in order, then live events. ``unsubscribe`` takes the same channels.
   Channels: ``market.quotes|trades|bars`` (per symbol, live only), ``orders``,
   ``positions``, ``account``, ``risk`` (per account the user owns; admins any),
   ``jobs`` (the user's own), ``feed`` (global). Streams: ``<channel>:<account_id>``,
   ``jobs:<user_id>``, ``feed``, ``market:<SYMBOL>``.
3. Every server message carries ``stream`` and ``seq``. Account/job/feed streams:
   gap-free per stream (``cluster.events``). Market: the feed shard's ``seq`` plus
   ``epoch``. Control messages (authenticated, subscribed, ping, warning, error) use
   stream ``control`` with a per-socket counter (for correlation; a warning may jump it).
   A subscription to market channels outside the regular session is answered, right
   after ``subscribed``, by ``{"type":"market_status","market":"closed","phase":..,
   "next_open":"<UTC instant>","symbols":[..]}`` (control stream): no ticks until then.
   If a resume point left the retention window: ``{"type":"gap","stream":..,
   "from_seq":..,"to_seq":..,"seq":to_seq}`` and the stream continues after ``to_seq``.
4. Heartbeat: ``{"type":"ping","id":n}`` every ``ws_heartbeat_s``; answer
   ``{"type":"pong","id":n}`` within ``ws_heartbeat_timeout_s``.
5. The session is re-checked every ``ws_revocation_check_s`` (2 s) and at token expiry,
   both on real time (a dev clock shifts the market only). Fail closed: a socket whose
   session no check could confirm for ``ws_session_unverified_s`` (10 s) is closed 4401
   (``session-unverified``; ``serve.gateway_session``).

Close codes (an ``error`` message with ``code`` and ``close_code`` precedes the close,
except for a slow consumer, whose socket is stuck, and 1009):

====== =====================================================================
4401   bad/expired token, revoked or unverifiable session, or a message before authenticate
4403   a channel the user may not read (no partial subscription happens)
4408   no ``authenticate`` within ``ws_auth_timeout_s``
4429   slow consumer (queue full / send timed out) or too many subscriptions
4000   heartbeat: no ``pong`` in time
1003   binary frame; 1008 bad JSON, unknown ``type`` or invalid message
1009   inbound message over ``ws_max_message_bytes`` (64 KiB)
1011   internal error; 1013 a dependency (Redis, feed) is unavailable: retry
====== =====================================================================

Resources: a bounded send queue per socket (``serve.gateway_conn``), one Redis tailer,
one feed subscription and one revocation loop per replica (``serve.gateway_protocol``).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, WebSocket
from pydantic import ValidationError
from ray import serve
from starlette._utils import get_route_path

from cluster.events import AsyncEventBus, async_bus_for
from cluster.logging import configure_logging
from cluster.settings import Settings
from domain.errors import DomainError, TransientError, Unauthenticated
from domain.market_hours import ClockReading
from serve.gateway_conn import Connection, GatewayStats, Limits
from serve.gateway_protocol import MarketFanout, _call
from serve.gateway_schemas import (
    ACCOUNT_CHANNELS,
    CLIENT_MESSAGES,
    MARKET_CHANNELS,
    PROTOCOL_VERSION,
    Authenticate,
    ChannelSpec,
    CloseCode,
    Pong,
    Subscribe,
    Unsubscribe,
    schema_document,
)
from serve.gateway_session import SessionWatch
from serve.gateway_streams import StreamFanout

log = logging.getLogger(__name__)

Verify = Callable[[str], Any]  # token -> Principal (may be async); raises Unauthenticated
SessionActive = Callable[[str], bool | Awaitable[bool]]
MayRead = Callable[[Any, str], bool | Awaitable[bool]]  # (principal, account_id) -> bool


@dataclass
class GatewayDeps:
    """Everything the gateway app needs; the Serve deployment and tests build the same."""

    limits: Limits
    bus: AsyncEventBus | None
    verify_access: Verify | None
    is_session_active: SessionActive | None
    may_read_account: MayRead
    feed_factory: Callable[[], Any] | None = None
    #: real time, for token expiry and session checks: never the (possibly shifted)
    #: market clock, or a dev clock ahead of real time closes every socket at once
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    #: the market clock now (the calendar on the possibly shifted clock); None: no
    #: ``market_status`` messages
    market_clock: Callable[[], ClockReading] | None = None
    closers: list[Callable[[], Any]] = field(default_factory=list)
    #: the durable record behind the bus (``cluster.eventlog.reader.RecordReader``)
    record: Any = None


def limits_from(settings: Settings) -> Limits:
    return Limits(
        auth_timeout_s=settings.ws_auth_timeout_s,
        heartbeat_s=settings.ws_heartbeat_s,
        heartbeat_timeout_s=settings.ws_heartbeat_timeout_s,
        max_message_bytes=settings.ws_max_message_bytes,
        send_queue=settings.ws_send_queue,
        send_timeout_s=settings.ws_send_timeout_s,
        max_subscriptions=settings.ws_max_subscriptions,
        revocation_check_s=settings.ws_revocation_check_s,
        session_unverified_s=settings.ws_session_unverified_s,
    )


def deps_from_services(
    services: Any, *, feed_factory: Callable[[], Any] | None = None
) -> GatewayDeps:
    """Production wiring: real auth, accounts table ownership, Redis event bus, feed."""
    from cluster.access import owns_account
    from cluster.eventlog.reader import RecordReader
    from cluster.redis_client import AsyncResilientRedis

    s: Settings = services.settings
    assert s.redis_url is not None
    # A blocking XREAD (250 ms) must not hit the socket timeout: the tailer's client gets
    # the block time on top of the usual bound, and one attempt (the tailer retries).
    aredis = AsyncResilientRedis.from_settings(s, timeout_s=s.redis_timeout_s + 0.25, attempts=1)
    bus = async_bus_for(s, aredis)
    auth = services.auth

    def may_read(principal: Any, account_id: str) -> bool:
        return principal.role == "admin" or owns_account(services.db, principal.user_id, account_id)

    if feed_factory is None:
        feed_factory = _default_feed_factory(s)
    calendar, clock = services.calendar, services.clock

    def market_clock() -> ClockReading:
        reading: ClockReading = calendar.clock_at(clock.now())
        return reading

    return GatewayDeps(
        limits=limits_from(s),
        bus=bus,
        verify_access=None if auth is None else auth.verify_access,
        is_session_active=None if auth is None else auth.is_session_active,
        may_read_account=may_read,
        feed_factory=feed_factory,
        market_clock=market_clock if calendar is not None and clock is not None else None,
        closers=[aredis.close],
        record=RecordReader(services.db),
    )


def _default_feed_factory(settings: Settings) -> Callable[[], Any] | None:
    from cluster.marketdata.client import FeedClient

    return lambda: FeedClient(settings.ray_namespace, settings.feed_shards)


class GatewayHub:
    """Per-process gateway state: fan-outs, the revocation watch, counters."""

    def __init__(self, deps: GatewayDeps) -> None:
        self.deps, self.limits = deps, deps.limits
        self.stats = GatewayStats()
        self.connections: dict[int, Connection] = {}
        self.streams = StreamFanout(deps.bus, record=deps.record) if deps.bus is not None else None
        self.market = MarketFanout(deps.feed_factory)
        self.watch = SessionWatch(
            deps.is_session_active,
            interval_s=deps.limits.revocation_check_s,
            unverified_s=deps.limits.session_unverified_s,
            now=deps.now,
        )

    def snapshot(self) -> dict[str, Any]:
        return {
            **self.stats.snapshot(),
            "tailed_streams": 0 if self.streams is None else self.streams.streams,
            "market_symbols": len(self.market.symbols),
            "market_delivered": self.market.delivered,
        }

    async def release(self, conn: Connection) -> None:
        """Drop every subscription of ``conn`` (disconnect path)."""
        self.watch.remove(conn)
        for stream in list(conn.streams):
            if self.streams is not None:
                self.streams.remove(conn, stream)
            conn.streams.discard(stream)
            self.stats.change(subscriptions=-1)
        for channel, symbol in list(conn.market):
            with contextlib.suppress(Exception):
                await self.market.remove(conn, channel, symbol)
            conn.market.discard((channel, symbol))
            self.stats.change(subscriptions=-1)

    async def close(self) -> None:
        for part in (self.streams, self.market, self.watch):
            if part is not None:
                await part.close()
        for fn in self.deps.closers:
            with contextlib.suppress(Exception):
                result = fn()
                if inspect.isawaitable(result):
                    await result


# ---- one socket ----
class _Closed(Exception):
    """The connection is closing; unwind the reader."""


async def handle_socket(ws: WebSocket, hub: GatewayHub) -> None:
    await ws.accept()
    conn = Connection(ws, hub.limits, hub.stats)
    hub.connections[conn.id] = conn
    hub.stats.change(connections=1)
    try:
        if await _authenticate(conn, hub):
            hub.watch.add(conn)
            conn.spawn(_reader(conn, hub), "reader")
            await conn.wait_done()
    except asyncio.CancelledError:
        conn.fail(CloseCode.GOING_AWAY, "server shutting down")
        raise
    finally:
        await hub.release(conn)
        await conn.shutdown()
        hub.connections.pop(conn.id, None)
        hub.stats.change(connections=-1)


async def _receive(conn: Connection) -> Any:
    """The next valid client message; on a protocol error ``fail`` and raise ``_Closed``."""
    message = await conn.ws.receive()
    if message["type"] == "websocket.disconnect":
        conn.peer_closed()
        raise _Closed
    text = message.get("text")
    if text is None:
        conn.fail(
            CloseCode.UNSUPPORTED_DATA, "binary frames are not supported", error="unsupported-data"
        )
        raise _Closed
    limit = conn.limits.max_message_bytes
    if len(text) > limit or (len(text) * 4 > limit and len(text.encode()) > limit):
        conn.fail(CloseCode.TOO_BIG, f"message over {limit} bytes")
        raise _Closed
    try:
        return CLIENT_MESSAGES.validate_python(json.loads(text))
    except (ValueError, ValidationError) as exc:
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        conn.fail(CloseCode.POLICY, "invalid message", error="bad-message", detail=detail)
        raise _Closed from None


async def _verify(conn: Connection, hub: GatewayHub, token: str) -> Any:
    verify = hub.deps.verify_access
    if verify is None:
        conn.fail(CloseCode.UNAUTHORIZED, "authentication unavailable", error="unauthenticated")
        return None
    try:
        return await _call(verify, token)
    except Unauthenticated as exc:
        conn.fail(
            CloseCode.UNAUTHORIZED, "unauthorized", error="unauthenticated", detail=exc.message
        )
    except TransientError:
        conn.fail(CloseCode.TRY_AGAIN, "auth unavailable", error="dependency-unavailable")
    return None


async def _authenticate(conn: Connection, hub: GatewayHub) -> bool:
    try:
        async with asyncio.timeout(hub.limits.auth_timeout_s):
            msg = await _receive(conn)
    except TimeoutError:
        conn.fail(CloseCode.AUTH_TIMEOUT, "authentication timeout", error="auth-timeout")
        return False
    except _Closed:
        return False
    if not isinstance(msg, Authenticate):
        conn.fail(CloseCode.UNAUTHORIZED, "authenticate first", error="unauthenticated")
        return False
    principal = await _verify(conn, hub, msg.token)
    if principal is None:
        return False
    conn.open(principal)
    _send_authenticated(conn, principal)
    return True


def _send_authenticated(conn: Connection, p: Any) -> None:
    conn.control(
        "authenticated",
        protocol=PROTOCOL_VERSION,
        user_id=str(p.user_id),
        session_id=str(p.session_id),
        expires_at=p.expires_at.isoformat(),
        heartbeat_s=conn.limits.heartbeat_s,
        max_message_bytes=conn.limits.max_message_bytes,
    )


async def _reader(conn: Connection, hub: GatewayHub) -> None:
    try:
        while conn.is_open:
            msg = await _receive(conn)
            if isinstance(msg, Pong):
                conn.pong(msg.id)
            elif isinstance(msg, Subscribe):
                await _subscribe(conn, hub, msg)
            elif isinstance(msg, Unsubscribe):
                await _unsubscribe(conn, hub, msg)
            elif isinstance(msg, Authenticate):
                await _reauthenticate(conn, hub, msg)
    except _Closed:
        return
    except TransientError as exc:
        conn.fail(
            CloseCode.TRY_AGAIN,
            "dependency unavailable",
            error="dependency-unavailable",
            detail=exc.message,
        )


async def _reauthenticate(conn: Connection, hub: GatewayHub, msg: Authenticate) -> None:
    principal = await _verify(conn, hub, msg.token)
    if principal is None:
        return
    if str(principal.user_id) != str(conn.principal.user_id):
        conn.fail(CloseCode.UNAUTHORIZED, "token of another user", error="unauthenticated")
        return
    conn.principal = principal
    hub.watch.confirmed(conn)  # verify_access checked the session
    _send_authenticated(conn, principal)


def _canonical_account(account_id: str) -> str | None:
    try:
        return str(uuid.UUID(account_id))
    except ValueError:
        return None


async def _targets(
    conn: Connection, hub: GatewayHub, specs: list[ChannelSpec], *, check: bool
) -> tuple[list[tuple[str, str]], list[str], list[dict[str, Any]]] | None:
    """(market keys, event streams, description) or None after failing 4403."""
    market: list[tuple[str, str]] = []
    streams: list[str] = []
    described: list[dict[str, Any]] = []
    p = conn.principal
    for spec in specs:
        if spec.channel in MARKET_CHANNELS:
            symbols = sorted({s.upper() for s in spec.symbols or []})
            market.extend((spec.channel, s) for s in symbols)
            described.append({"channel": spec.channel, "symbols": symbols})
            continue
        if spec.channel in ACCOUNT_CHANNELS:
            account = _canonical_account(spec.account_id or "")
            allowed = account is not None and (
                not check or await _call(hub.deps.may_read_account, p, account)
            )
            if not allowed:
                conn.fail(
                    CloseCode.FORBIDDEN,
                    "forbidden channel",
                    error="forbidden-channel",
                    detail=f"{spec.channel} of account {spec.account_id}",
                )
                return None
            stream = f"{spec.channel}:{account}"
        elif spec.channel == "jobs":
            stream = f"jobs:{p.user_id}"
        else:
            stream = "feed"
        streams.append(stream)
        described.append({"channel": spec.channel, "stream": stream})
    return market, streams, described


async def _subscribe(conn: Connection, hub: GatewayHub, msg: Subscribe) -> None:
    found = await _targets(conn, hub, msg.channels, check=True)
    if found is None:
        return
    market, streams, described = found
    new_market = [k for k in dict.fromkeys(market) if k not in conn.market]
    new_streams = [s for s in dict.fromkeys(streams) if s not in conn.streams]
    total = len(conn.market) + len(conn.streams) + len(new_market) + len(new_streams)
    if total > hub.limits.max_subscriptions:
        conn.fail(
            CloseCode.SLOW,
            "too many subscriptions",
            error="too-many-subscriptions",
            detail=f"limit {hub.limits.max_subscriptions}",
        )
        return
    for d in described:
        if "stream" in d and d["stream"] in msg.resume:
            d["resumed_from"] = msg.resume[d["stream"]]
    if new_streams and hub.streams is None:
        raise TransientError("event streams are not available on this gateway")
    # Register everything first: an event published after the client reads `subscribed`
    # is then always delivered (held back until `subscribed` has been queued).
    for stream in new_streams:
        assert hub.streams is not None
        conn.streams.add(stream)
        hub.stats.change(subscriptions=1)
        await hub.streams.register(conn, stream, msg.resume.get(stream))
    conn.control("subscribed", channels=described)
    for channel, symbol in new_market:  # live only: ticks start after `subscribed`
        conn.market.add((channel, symbol))
        hub.stats.change(subscriptions=1)
        await hub.market.add(conn, channel, symbol)
    if new_market:
        _send_market_status(conn, hub, sorted({symbol for _, symbol in new_market}))
    for stream in new_streams:
        if not conn.is_open:
            return
        assert hub.streams is not None
        await hub.streams.catch_up(conn, stream)


def _send_market_status(conn: Connection, hub: GatewayHub, symbols: list[str]) -> None:
    """Outside the regular session, say so (and when it opens) instead of silence."""
    if hub.deps.market_clock is None:
        return
    try:
        reading = hub.deps.market_clock()
    except DomainError:  # e.g. outside the calendar's range: no status rather than a guess
        log.warning("market status unavailable", exc_info=True)
        return
    if reading.is_open:
        return
    conn.control(
        "market_status",
        market="closed",
        phase=reading.phase.value,
        next_open=reading.next_open.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        symbols=symbols,
    )


async def _unsubscribe(conn: Connection, hub: GatewayHub, msg: Unsubscribe) -> None:
    found = await _targets(conn, hub, msg.channels, check=False)
    if found is None:
        return
    market, streams, described = found
    for channel, symbol in market:
        if (channel, symbol) in conn.market:
            conn.market.discard((channel, symbol))
            hub.stats.change(subscriptions=-1)
            await hub.market.remove(conn, channel, symbol)
    for stream in streams:
        if stream in conn.streams and hub.streams is not None:
            conn.streams.discard(stream)
            hub.stats.change(subscriptions=-1)
            hub.streams.remove(conn, stream)
    conn.control("unsubscribed", channels=described)


# ---- the ASGI app ----
def create_gateway_app(deps: GatewayDeps, *, mount: str = "") -> Any:
    """The gateway ASGI app. ``mount="/ws"`` serves it under ``/ws`` on a plain server
    (tests, benchmarks); under Serve the route prefix does that and ``mount`` is empty."""
    app = FastAPI(title="Elson gateway", docs_url=None, redoc_url=None, openapi_url=None)
    hub = GatewayHub(deps)
    app.state.hub = hub

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/schema")
    async def schema() -> dict[str, Any]:
        return schema_document()

    @app.get("/stats")
    async def stats() -> dict[str, Any]:
        return hub.snapshot()

    @app.websocket("/")
    async def socket(ws: WebSocket) -> None:
        await handle_socket(ws, hub)

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            if mount and not scope.get("root_path") and scope["path"].startswith(mount):
                scope = {**scope, "root_path": mount}
            if get_route_path(scope) == "":
                scope = {**scope, "path": scope["path"] + "/"}
        elif scope["type"] == "lifespan":
            await _lifespan(receive, send, hub)
            return
        await app(scope, receive, send)

    asgi.state = app.state  # type: ignore[attr-defined]
    asgi.hub = hub  # type: ignore[attr-defined]
    return asgi


async def _lifespan(receive: Any, send: Any, hub: GatewayHub) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            with contextlib.suppress(Exception):
                await hub.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


@serve.deployment(name="gateway", ray_actor_options={"num_cpus": 0})
@serve.ingress()
class Gateway:
    """The Serve deployment; ``serve.app.build_gateway`` binds it with frozen settings."""

    def __init__(self, settings: Settings) -> None:
        configure_logging(settings.log_level, json_format=settings.env.is_protected)
        self.settings = settings
        from serve.services import build_services

        self.services = build_services(settings, in_ray=True, process_label="gateway")
        self.deps = deps_from_services(self.services)

    def __serve_build_asgi_app__(self) -> Any:
        return create_gateway_app(self.deps)

    def __del__(self) -> None:
        services = getattr(self, "services", None)
        if services is not None:
            with contextlib.suppress(Exception):
                services.close()


__all__ = [
    "Gateway",
    "GatewayDeps",
    "GatewayHub",
    "create_gateway_app",
    "deps_from_services",
    "limits_from",
]
