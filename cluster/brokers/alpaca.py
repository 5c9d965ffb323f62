"""Alpaca Trading API v2 adapter: implements ``domain.ports.BrokerPort`` over REST.

Errors are classified where they enter, once:

- timeouts, connection errors, 5xx and 429 -> retried with full-jitter ``Backoff`` up to
  ``max_attempts`` calls; a 429's ``Retry-After`` (seconds) replaces the jittered delay,
  capped at ``backoff.cap_s``. Still failing -> ``TransientError``.
- 401, and 403 that is an authentication failure -> ``OperatorError``. The adapter then
  stops routing: every later call raises at once, with no traffic, until ``reset()``.
  Each such event increments ``alerts`` and calls ``on_alert``.
- other 4xx -> ``BrokerRejected`` with Alpaca's message as the reason, never retried.

Alpaca's 403 is ambiguous. A business refusal carries an Alpaca error code in the body
(``{"code": 40310000, "message": "insufficient buying power"}``); a credentials problem
comes from the gateway as ``{"message": "forbidden."}`` with no code, or with the
401-family code 40110000. We treat a 403 as auth when the body has no Alpaca ``code``
or a 4011xxxx code, and as a rejection otherwise.

Retries of non-idempotent calls are made safe by resolving the ambiguity they leave (a
timed-out request may have been applied): POST carries the client order id, and a
"client_order_id must be unique" answer on a retry is resolved by fetching that order;
a 422 on a retried DELETE or PATCH is resolved by reading the order's current state.

Alpaca's ``client_order_id`` is our ``OrderId`` (a UUID, unique across every account that
shares the Alpaca account); the user's own client order id is unique only per account.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx

from cluster.retry import Backoff
from domain.errors import OperatorError, TransientError
from domain.orders import Order, OrderStatus
from domain.ports import BrokerOrderState, BrokerRejected

BROKER = "alpaca"
#: A retried DELETE that meets one of these found our first attempt already applied.
_CANCEL_DONE = frozenset({OrderStatus.CANCELED, OrderStatus.PENDING_CANCEL})


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class AlpacaBroker:
    def __init__(
        self,
        base_url: str,
        key_id: str,
        secret_key: str,
        http: httpx.AsyncClient | None = None,
        backoff: Backoff | None = None,
        timeout_s: float = 10.0,
        *,
        on_alert: Callable[[str], None] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if not base_url or not key_id or not secret_key:
            raise OperatorError(f"{BROKER}: base_url, key_id and secret_key are required")
        self.base_url = base_url.rstrip("/")
        self._headers = {"APCA-API-KEY-ID": key_id, "APCA-API-SECRET-KEY": secret_key}
        self._own_http = http is None
        self._http = http or httpx.AsyncClient()
        self._backoff = backoff or Backoff()
        self._timeout = httpx.Timeout(timeout_s)
        self._sleep = sleep
        self._rng = rng
        self.on_alert = on_alert
        self.alerts = 0
        self.retries = 0
        self._halted: str | None = None

    # -- lifecycle -------------------------------------------------------------------
    @property
    def halted(self) -> str | None:
        """The operator message that stopped routing, or None while routing."""
        return self._halted

    def reset(self) -> None:
        """Resume routing after an operator fixed the credentials or configuration."""
        self._halted = None

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    async def __aenter__(self) -> AlpacaBroker:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- BrokerPort ------------------------------------------------------------------
    async def submit(self, order: Order, *, resend: bool = False) -> BrokerOrderState:
        payload = order_payload(order)
        coid = payload["client_order_id"]

        async def resolve_duplicate(exc: BrokerRejected) -> Any:
            # Our earlier attempt reached Alpaca; answer with the order it created.
            if "client_order_id" in exc.reason and "unique" in exc.reason:
                return await self._call(
                    "GET", "/v2/orders:by_client_order_id", params={"client_order_id": coid}
                )
            raise exc

        try:
            body = await self._call(
                "POST", "/v2/orders", json=payload, on_retried_4xx=resolve_duplicate
            )
        except BrokerRejected as exc:
            if not resend:
                raise
            body = await resolve_duplicate(exc)  # the client order id is the idempotency key
        return to_state(body)

    async def get(self, order_id: str) -> BrokerOrderState | None:
        try:
            body = await self._call("GET", f"/v2/orders/{order_id}")
        except BrokerRejected as exc:
            if exc.status_code == 404:
                return None
            raise
        return to_state(body)

    async def list_open(self) -> list[BrokerOrderState]:
        body = await self._call("GET", "/v2/orders", params={"status": "open", "limit": "500"})
        return [to_state(o) for o in body]

    async def cancel(self, order_id: str) -> None:
        async def resolve(exc: BrokerRejected) -> Any:
            state = await self.get(order_id)
            if state is not None and state.status in _CANCEL_DONE:
                return None
            raise exc

        await self._call("DELETE", f"/v2/orders/{order_id}", on_retried_4xx=resolve)

    async def replace(
        self,
        order_id: str,
        qty: Decimal | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
        trail: Decimal | None = None,
        time_in_force: str | None = None,
    ) -> BrokerOrderState:
        patch = {
            "qty": qty,
            "limit_price": limit_price,
            "stop_price": stop_price,
            "trail": trail,
            "time_in_force": time_in_force,
        }
        payload = {k: str(v) for k, v in patch.items() if v is not None}
        if not payload:
            raise BrokerRejected("replace needs at least one field to change")

        async def resolve(exc: BrokerRejected) -> Any:
            state = await self.get(order_id)
            if state is not None and state.replaced_by:
                return await self._call("GET", f"/v2/orders/{state.replaced_by}")
            raise exc

        body = await self._call(
            "PATCH", f"/v2/orders/{order_id}", json=payload, on_retried_4xx=resolve
        )
        return to_state(body)

    # -- account ---------------------------------------------------------------------
    async def get_account(self) -> dict[str, Any]:
        """The raw account, with money fields as Decimal."""
        body = await self._call("GET", "/v2/account")
        return {k: parse_decimal(v) if k in _ACCOUNT_MONEY else v for k, v in body.items()}

    async def list_positions(self) -> dict[str, Decimal]:
        """Signed quantity held by symbol (short positions are negative)."""
        body = await self._call("GET", "/v2/positions")
        out: dict[str, Decimal] = {}
        for p in body:
            qty = parse_decimal(p["qty"]) or Decimal(0)
            out[p["symbol"]] = -abs(qty) if p.get("side") == "short" else qty
        return out

    # -- transport -------------------------------------------------------------------
    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        on_retried_4xx: Callable[[BrokerRejected], Awaitable[Any]] | None = None,
    ) -> Any:
        """One logical call: bounded retries of transient failures, full jitter."""
        attempt = 0
        while True:
            if self._halted is not None:
                raise OperatorError(self._halted)
            try:
                return await self._once(method, path, json, params)
            except _Retryable as exc:
                attempt += 1
                if self._backoff.exhausted(attempt):
                    raise TransientError(
                        f"{BROKER} {method} {path} failed after {attempt} attempts: {exc.reason}"
                    ) from exc
                delay = self._backoff.delay(attempt - 1, self._rng)
                if exc.retry_after is not None:
                    delay = min(exc.retry_after, self._backoff.cap_s)
                self.retries += 1
                await self._sleep(delay)
            except BrokerRejected as exc:
                if attempt > 0 and on_retried_4xx is not None:
                    return await on_retried_4xx(exc)
                raise

    async def _once(
        self,
        method: str,
        path: str,
        json: dict[str, Any] | None,
        params: dict[str, str] | None,
    ) -> Any:
        try:
            resp = await self._http.request(
                method,
                self.base_url + path,
                json=json,
                params=params,
                headers=self._headers,
                timeout=self._timeout,
            )
        except httpx.TimeoutException as exc:
            raise _Retryable(f"timeout ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise _Retryable(f"transport error ({type(exc).__name__}: {exc})") from exc
        status = resp.status_code
        if status < 300:
            return resp.json() if resp.content else None
        body = _json_or_empty(resp)
        message = str(body.get("message") or resp.reason_phrase or f"HTTP {status}")
        code = body.get("code")
        if status == 429 or status >= 500:
            raise _Retryable(
                f"HTTP {status}: {message}", _retry_after(resp) if status == 429 else None
            )
        if status == 401 or (status == 403 and _is_auth_failure(code)):
            self._stop_routing(status, message)
        raise BrokerRejected(
            message, status_code=status, broker_code=None if code is None else str(code)
        )

    def _stop_routing(self, status: int, message: str) -> None:
        self._halted = (
            f"{BROKER} at {self.base_url} refused our credentials (HTTP {status}: {message}); "
            "routing stopped: check the API key id/secret, then reset the adapter"
        )
        self.alerts += 1
        if self.on_alert is not None:
            self.on_alert(self._halted)
        raise OperatorError(self._halted)


_ACCOUNT_MONEY = frozenset(
    {
        "cash",
        "buying_power",
        "equity",
        "portfolio_value",
        "long_market_value",
        "short_market_value",
        "initial_margin",
        "maintenance_margin",
        "last_equity",
        "regt_buying_power",
        "daytrading_buying_power",
        "non_marginable_buying_power",
    }
)


def _is_auth_failure(code: object) -> bool:
    return code is None or str(code).startswith("4011")


def _json_or_empty(resp: httpx.Response) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _retry_after(resp: httpx.Response) -> float | None:
    """Seconds from a numeric Retry-After header; HTTP dates are ignored (jitter applies)."""
    raw = resp.headers.get("Retry-After")
    try:
        value = float(raw) if raw is not None else None
    except ValueError:
        return None
    return value if value is not None and value >= 0 else None


# -- mapping: Alpaca JSON <-> domain ----------------------------------------------------

#: Alpaca statuses that our state machine does not have, mapped to the nearest one.
_EXTRA_STATUSES: dict[str, OrderStatus] = {
    "accepted_for_bidding": OrderStatus.ACCEPTED,
    "held": OrderStatus.ACCEPTED,  # a bracket leg waiting for its parent
    "suspended": OrderStatus.ACCEPTED,  # not eligible for trading for now, still open
    "pending_review": OrderStatus.PENDING_NEW,
    "stopped": OrderStatus.NEW,  # a price is guaranteed, the execution is still to come
}


def order_payload(order: Order) -> dict[str, Any]:
    """POST /v2/orders body; numbers travel as strings so no float ever appears."""
    payload: dict[str, Any] = {
        "symbol": str(order.symbol),
        "side": order.side.value,
        "type": order.type.value,
        "time_in_force": order.time_in_force.value,
        "client_order_id": str(order.id),
        "extended_hours": order.extended_hours,
    }
    optional = {
        "qty": order.qty,
        "notional": order.notional,
        "limit_price": order.limit_price,
        "stop_price": order.stop_price,
        "trail_price": order.trail_price,
    }
    payload.update({k: v.to_wire() for k, v in optional.items() if v is not None})
    if order.trail_percent is not None:
        payload["trail_percent"] = format(order.trail_percent, "f")
    return payload


def to_state(body: dict[str, Any]) -> BrokerOrderState:
    filled_qty = parse_decimal(body.get("filled_qty")) or Decimal(0)
    return BrokerOrderState(
        broker_order_id=str(body["id"]),
        client_order_id=str(body.get("client_order_id") or ""),
        status=_status(str(body.get("status")), body, filled_qty),
        filled_qty=filled_qty,
        filled_avg_price=parse_decimal(body.get("filled_avg_price")),
        reject_reason=body.get("reject_reason") or body.get("failed_reason"),
        updated_at=_parse_time(body.get("updated_at")),
        replaced_by=body.get("replaced_by"),
    )


def _status(raw: str, body: dict[str, Any], filled_qty: Decimal) -> OrderStatus:
    if raw == "calculated":  # done for the day, settlement math pending
        qty = parse_decimal(body.get("qty"))
        return (
            OrderStatus.FILLED
            if qty is not None and filled_qty >= qty
            else OrderStatus.DONE_FOR_DAY
        )
    try:
        return OrderStatus(raw)
    except ValueError:
        pass
    if raw in _EXTRA_STATUSES:
        return _EXTRA_STATUSES[raw]
    raise OperatorError(f"{BROKER}: unknown order status {raw!r} for order {body.get('id')}")


def parse_decimal(value: object) -> Decimal | None:
    """Alpaca sends numbers as strings; never go through float."""
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except ArithmeticError as exc:
        raise TransientError(f"{BROKER}: unparsable number {value!r}") from exc
    if not number.is_finite():
        raise TransientError(f"{BROKER}: non-finite number {value!r}")
    return number


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value)
