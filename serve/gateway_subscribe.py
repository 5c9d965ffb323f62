"""Subscribe and unsubscribe: which streams and symbols a request names, who may read
them, and the order that makes "every event after ``subscribed``" hold (register the
streams, answer ``subscribed`` with each stream's position, then catch up)."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC
from typing import TYPE_CHECKING, Any

from domain.errors import DomainError, TransientError
from serve.gateway_conn import Connection
from serve.gateway_protocol import _call
from serve.gateway_schemas import (
    ACCOUNT_CHANNELS,
    MARKET_CHANNELS,
    ChannelSpec,
    CloseCode,
    Subscribe,
    Unsubscribe,
)

if TYPE_CHECKING:
    from serve.gateway import GatewayHub

log = logging.getLogger(__name__)


def _canonical_account(account_id: str) -> str | None:
    try:
        return str(uuid.UUID(account_id))
    except ValueError:
        return None


GLOBAL_RISK = "risk:global"  # cluster.risk.events.GLOBAL_STREAM


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
        if spec.channel == "risk" and GLOBAL_RISK not in streams:
            # changes to the global, symbol and strategy scopes and to broker breakers
            # concern every account: one shared stream, delivered with the account's own
            streams.append(GLOBAL_RISK)
            described.append({"channel": "risk", "stream": GLOBAL_RISK})
    return market, streams, described


async def subscribe(conn: Connection, hub: GatewayHub, msg: Subscribe) -> None:
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
    if new_market and not _within_plan(conn, hub, new_market):
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
    for d in described:
        if "stream" in d and hub.streams is not None:
            d["seq"] = hub.streams.position(conn, d["stream"])
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


def _within_plan(conn: Connection, hub: GatewayHub, new_market: list[tuple[str, str]]) -> bool:
    """The plan's ``max_ws_symbols`` (distinct symbols on this socket after subscribing);
    over it the socket fails 4403 ``plan-limit`` naming the limit and the plan lifting it."""
    entitlements = hub.deps.entitlements
    if entitlements is None:
        return True
    symbols = {s for _, s in conn.market} | {s for _, s in new_market}
    try:
        entitlements.check(str(conn.principal.user_id), "max_ws_symbols", len(symbols))
    except DomainError as exc:
        conn.fail(CloseCode.FORBIDDEN, "plan limit", error="plan-limit", detail=exc.message)
        return False
    return True


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


async def unsubscribe(conn: Connection, hub: GatewayHub, msg: Unsubscribe) -> None:
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
