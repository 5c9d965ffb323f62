"""WebSocket gateway: account event streams with resume, and market data fan-out.

Protocol (version 1; JSON text frames; schemas at ``GET /ws/schema`` and in
``serve/schemas/ws/``):

1. Connect to ``/ws`` (never put a token in the URL). The server accepts, then the client
   sends ``{"type":"authenticate","token":"<access JWT>"}`` within ``ws_auth_timeout_s``
   (5 s) and gets ``{"type":"authenticated", ...}``. Sending ``authenticate`` again with a
   fresh token of the same user before expiry extends the socket's life. ``"batch": true``
   in the first ``authenticate`` asks for batched frames: each frame then holds one message
   object or a JSON array of messages in order (``serve.gateway_batch``); the reply says
   ``"batch": true``. Without it, one message per frame.
2. ``{"type":"subscribe","channels":[{"channel":"market.quotes","symbols":["AAPL"]},
   {"channel":"orders","account_id":"<uuid>"}],"resume":{"orders:<uuid>":41}}`` ->
   ``subscribed``, then (per stream in ``resume``) every retained event after that
   ``seq`` once and in order, then live events. ``subscribed`` gives each event stream's
   position (``seq``): every event after it follows, so a client that has seen no event
   yet resumes from it after a disconnect and misses nothing published after it
   subscribed. ``unsubscribe`` takes the same channels.
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
1011   internal error
1012   service restart: the replica is draining; reconnect (``retry_after_s``)
1013   overloaded (``overloaded``: the replica holds ``max_connections`` sockets) or a
       dependency (auth, database, Redis, feed) is unavailable: retry. Each is logged
       with its reason and counted in ``elson_ws_try_again_total{reason}``.
====== =====================================================================

1012 and 1013 carry ``retry_after_s`` (in the ``error`` message and as ``retry_after_s=N``
in the close reason): spread the reconnect uniformly over that many seconds. The Python
client (``serve.ws_client``) does, with full jitter from the first retry
(``serve.ws_reconnect``).

Drain (``serve.gateway_drain``): when Serve stops the replica (scale-down, upgrade,
``serve.delete``) or the replica gets SIGTERM, the gateway refuses new sockets (1012) and
closes every open one 1012 with ``retry_after_s`` = sockets / 20 per s (1 to 60 s), then
waits at most ``DRAIN_S`` (10 s) for them to go. Serve settings (``serve.app``,
``kuberay/overlays/*/serve-config.yaml``): ``graceful_shutdown_timeout_s`` = 15 (the drain plus 5 s;
Serve kills the replica then), ``graceful_shutdown_wait_loop_s`` = 1 (how often Serve
re-counts open requests: a socket is one, so the replica exits within about 1 s of the
last close), ``health_check_period_s`` = 2 (a replica that died, e.g. of SIGTERM, is
replaced after about that long; its clients are waiting). ``http_options.request_timeout_s``
also caps a socket's life.

``GET /ws/stats``: live counts, for a bearer access token of the admin role only (401
without a valid token, 403 for other roles).

Resources: a bounded send queue per socket (``serve.gateway_conn``), one Redis tailer,
one feed subscription and one revocation loop per replica (``serve.gateway_protocol``).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from ray import serve
from starlette._utils import get_route_path

from cluster.events import AsyncEventBus, async_bus_for
from cluster.logging import configure_logging
from cluster.settings import Settings
from domain.errors import TransientError, Unauthenticated
from domain.market_hours import ClockReading
from serve.gateway_conn import Connection, GatewayStats, Limits
from serve.gateway_drain import (
    DRAIN_S,
    Drain,
    hook_sigterm,
    replica_shutting_down,
    watch_replica,
)
from serve.gateway_protocol import MarketFanout, _call
from serve.gateway_schemas import (
    CLIENT_MESSAGES,
    PROTOCOL_VERSION,
    Authenticate,
    CloseCode,
    Pong,
    Subscribe,
    Unsubscribe,
    schema_document,
)
from serve.gateway_session import SessionWatch
from serve.gateway_streams import StreamFanout
from serve.gateway_subscribe import subscribe, unsubscribe

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
    #: plan limits (``cluster.billing.entitlements.EntitlementService``); None: none
    entitlements: Any = None


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
        max_connections=settings.gateway_max_ongoing_requests,
        drain_s=DRAIN_S,
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
        entitlements=getattr(services, "entitlements", None),
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
        self.drain = Drain(
            self.connections,
            bound_s=deps.limits.drain_s,
            rate_per_s=deps.limits.reconnect_rate_per_s,
        )
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
            "drain": self.drain.snapshot(),
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
    await ws.accept()  # closing before accept would reach the client as HTTP 403
    conn = Connection(ws, hub.limits, hub.stats)
    full = len(hub.connections) >= hub.limits.max_connections
    hub.connections[conn.id] = conn
    hub.stats.change(connections=1)
    try:
        if hub.drain.draining:
            hub.drain.refuse(conn)
        elif full:
            conn.fail(
                CloseCode.TRY_AGAIN,
                "overloaded",
                error="overloaded",
                detail=f"replica holds {hub.limits.max_connections} sockets",
                retry_after_s=hub.drain.hint_s(),
            )
        elif await _until_closing(conn, _authenticate(conn, hub)):
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
        hub.drain.socket_closed()


async def _until_closing(conn: Connection, auth: Coroutine[Any, Any, bool]) -> bool:
    """Authenticate unless the socket is asked to close meanwhile (a drain)."""
    task = asyncio.ensure_future(auth)
    closing = asyncio.ensure_future(conn.wait_done())
    try:
        await asyncio.wait({task, closing}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        closing.cancel()
        if not task.done():
            task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        return bool(await task) and conn.is_open
    return False


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
    conn.batch = msg.batch
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
        batch=conn.batch,
    )


async def _reader(conn: Connection, hub: GatewayHub) -> None:
    try:
        while conn.is_open:
            msg = await _receive(conn)
            if isinstance(msg, Pong):
                conn.pong(msg.id)
            elif isinstance(msg, Subscribe):
                await subscribe(conn, hub, msg)
            elif isinstance(msg, Unsubscribe):
                await unsubscribe(conn, hub, msg)
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


async def admin_denial(hub: GatewayHub, authorization: str | None) -> JSONResponse | None:
    """``/ws/stats`` is for operators: a bearer access token of the admin role, else 401/403
    (the counts tell an outsider how loaded and how big the platform is)."""
    scheme, _, token = (authorization or "").partition(" ")
    verify = hub.deps.verify_access
    if scheme.lower() != "bearer" or not token or verify is None:
        return JSONResponse({"detail": "admin token required"}, status_code=401)
    try:
        principal = await _call(verify, token.strip())
    except Unauthenticated:
        return JSONResponse({"detail": "invalid token"}, status_code=401)
    except TransientError:
        return JSONResponse({"detail": "auth unavailable"}, status_code=503)
    if getattr(principal, "role", None) != "admin":
        return JSONResponse({"detail": "admin role required"}, status_code=403)
    return None


# ---- the ASGI app ----
def create_gateway_app(deps: GatewayDeps, *, mount: str = "", in_replica: bool = False) -> Any:
    """The gateway ASGI app. ``mount="/ws"`` serves it under ``/ws`` on a plain server
    (tests, benchmarks); under Serve the route prefix does that and ``mount`` is empty.
    ``in_replica``: watch Serve's shutdown and SIGTERM to drain (``serve.gateway_drain``)."""
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
    async def stats(request: Request) -> Any:
        denied = await admin_denial(hub, request.headers.get("authorization"))
        return hub.snapshot() if denied is None else denied

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
            await _lifespan(receive, send, hub, in_replica=in_replica)
            return
        await app(scope, receive, send)

    asgi.state = app.state  # type: ignore[attr-defined]
    asgi.hub = hub  # type: ignore[attr-defined]
    return asgi


async def _lifespan(receive: Any, send: Any, hub: GatewayHub, *, in_replica: bool) -> None:
    watch: asyncio.Task[None] | None = None
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if in_replica:
                loop = asyncio.get_running_loop()
                watch = loop.create_task(watch_replica(hub.drain.start), name="ws-replica")
                found = replica_shutting_down() is not None
                hub.drain.replica_watch = "watching" if found else "unavailable"
                hub.drain.sigterm_hook = hook_sigterm(loop, hub.drain.start, hub.limits.drain_s)
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            with contextlib.suppress(Exception):
                if watch is not None:
                    watch.cancel()
                await hub.drain.start()
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
        return create_gateway_app(self.deps, in_replica=True)

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
