"""Alpaca market-data v2 over REST: snapshots, and the wire -> domain translation.

The translation functions are shared with the stream adapter: Alpaca's REST objects and
stream messages use the same short keys (``p``, ``s``, ``bp``, ``o``...). JSON numbers are
parsed with ``parse_float=Decimal`` so a price never passes through float.

Errors are classified where they enter: timeouts, transport errors, 429 and 5xx are
``TransientError`` (retried a bounded number of times with the shared ``Backoff``);
401/403 are ``OperatorError`` (bad or unentitled keys: retrying cannot help); any other
4xx is ``ValidationFailed`` (we asked for something the vendor refuses).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from cluster.marketdata.provider import Snapshot
from cluster.retry import Backoff, retry_async
from domain.clock import Clock
from domain.errors import OperatorError, TransientError, ValidationFailed
from domain.marketdata import Bar, Quote, Trade

__all__ = [
    "DEFAULT_REST_URL",
    "AlpacaRestClient",
    "bar_from_wire",
    "mask_key",
    "quote_from_wire",
    "trade_from_wire",
]

DEFAULT_REST_URL = "https://data.alpaca.markets"


def mask_key(key_id: str) -> str:
    """Enough of a key id to tell keys apart in a log; the secret is never shown."""
    return f"{key_id[:4]}…" if len(key_id) > 4 else "…"


def _ts(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValidationFailed("t", "iso-8601")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValidationFailed("t", "iso-8601") from exc
    if parsed.tzinfo is None:
        raise ValidationFailed("t", "timezone-aware-required")
    return parsed.astimezone(UTC)


def _dec(value: Any, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise ValidationFailed(field, "number")
    return Decimal(value)


def _int(value: Any, field: str) -> int:
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(field, "integer")
    return value


def trade_from_wire(
    symbol: str, m: Mapping[str, Any], *, received_ts: datetime, provider: str, seq: int = 0
) -> Trade:
    return Trade(
        symbol=symbol,
        price=_dec(m.get("p"), "p"),
        size=_int(m.get("s"), "s"),
        exchange_ts=_ts(m.get("t")),
        received_ts=received_ts,
        provider=provider,
        seq=seq,
    )


def quote_from_wire(
    symbol: str, m: Mapping[str, Any], *, received_ts: datetime, provider: str, seq: int = 0
) -> Quote:
    return Quote(
        symbol=symbol,
        bid_price=_dec(m.get("bp"), "bp"),
        bid_size=_int(m.get("bs"), "bs"),
        ask_price=_dec(m.get("ap"), "ap"),
        ask_size=_int(m.get("as"), "as"),
        exchange_ts=_ts(m.get("t")),
        received_ts=received_ts,
        provider=provider,
        seq=seq,
    )


def bar_from_wire(
    symbol: str,
    m: Mapping[str, Any],
    *,
    received_ts: datetime,
    provider: str,
    seq: int = 0,
    timeframe: str = "1Min",
) -> Bar:
    start = _ts(m.get("t"))
    return Bar(
        symbol=symbol,
        open=_dec(m.get("o"), "o"),
        high=_dec(m.get("h"), "h"),
        low=_dec(m.get("l"), "l"),
        close=_dec(m.get("c"), "c"),
        volume=_int(m.get("v"), "v"),
        start=start,
        exchange_ts=start,
        received_ts=received_ts,
        provider=provider,
        seq=seq,
        timeframe=timeframe,
    )


class AlpacaRestClient:
    """``GET /v2/stocks/snapshots``; one short-lived HTTP client per call, so nothing leaks."""

    def __init__(
        self,
        *,
        key_id: str,
        secret: str,
        clock: Clock,
        base_url: str = DEFAULT_REST_URL,
        feed: str = "iex",
        timeout_s: float = 5.0,
        backoff: Backoff = Backoff(base_s=0.2, cap_s=2.0, max_attempts=3),
        provider: str = "alpaca",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._headers = {"APCA-API-KEY-ID": key_id, "APCA-API-SECRET-KEY": secret}
        self._key_hint = mask_key(key_id)
        self._clock = clock
        self._base_url = base_url.rstrip("/")
        self._feed = feed
        self._timeout = httpx.Timeout(timeout_s)
        self._backoff = backoff
        self._provider = provider
        self._transport = transport

    async def snapshots(self, symbols: Iterable[str]) -> dict[str, Snapshot]:
        wanted = sorted({s.upper() for s in symbols})
        if not wanted:
            return {}
        async with httpx.AsyncClient(
            base_url=self._base_url,
            headers=self._headers,
            timeout=self._timeout,
            transport=self._transport,
        ) as client:
            body = await retry_async(
                lambda: self._get(client, wanted),
                backoff=self._backoff,
                retry_on=(TransientError,),
            )
        return self._to_snapshots(body)

    async def _get(self, client: httpx.AsyncClient, symbols: list[str]) -> Any:
        params = {"symbols": ",".join(symbols), "feed": self._feed}
        try:
            resp = await client.get("/v2/stocks/snapshots", params=params)
        except httpx.TimeoutException as exc:
            raise TransientError("alpaca REST: snapshot request timed out") from exc
        except httpx.TransportError as exc:
            raise TransientError(f"alpaca REST: {type(exc).__name__}") from exc
        status = resp.status_code
        if status in (401, 403):
            raise OperatorError(
                f"alpaca REST refused the credentials (HTTP {status}) for key id "
                f"{self._key_hint}: check the key, secret and data subscription"
            )
        if status == 429 or status >= 500:
            raise TransientError(f"alpaca REST: HTTP {status}")
        if status >= 400:
            raise ValidationFailed("symbols", "rejected-by-provider", f"alpaca REST: HTTP {status}")
        try:
            return json.loads(resp.content, parse_float=Decimal)
        except ValueError as exc:
            raise TransientError("alpaca REST: malformed JSON in snapshot answer") from exc

    def _to_snapshots(self, body: Any) -> dict[str, Snapshot]:
        if not isinstance(body, dict):
            raise TransientError("alpaca REST: snapshot answer is not an object")
        now = self._clock.now()
        out: dict[str, Snapshot] = {}
        for symbol, snap in body.items():
            if not isinstance(snap, dict):
                continue  # Alpaca answers null for a symbol it does not know
            kw = {"received_ts": now, "provider": self._provider}
            out[symbol] = Snapshot(
                symbol=symbol,
                trade=_maybe(trade_from_wire, symbol, snap.get("latestTrade"), kw),
                quote=_maybe(quote_from_wire, symbol, snap.get("latestQuote"), kw),
                bar=_maybe(bar_from_wire, symbol, snap.get("minuteBar"), kw),
                daily_bar=_maybe(
                    bar_from_wire, symbol, snap.get("dailyBar"), {**kw, "timeframe": "1Day"}
                ),
            )
        return out


def _maybe(parse: Any, symbol: str, raw: Any, kw: dict[str, Any]) -> Any:
    """Parse one part of a snapshot; a missing or invalid part (a crossed quote) is None."""
    if not isinstance(raw, dict):
        return None
    try:
        return parse(symbol, raw, **kw)
    except ValidationFailed:
        return None
