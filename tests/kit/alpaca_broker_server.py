"""A small, real HTTP server speaking enough of Alpaca's Trading API v2 for adapter tests.

It runs on 127.0.0.1 with an ephemeral port inside the test's event loop, keeps orders in
memory, records every request (method, path, monotonic time) and lets a test script the
next responses: ``fail_next(2, 503)``, ``fail_next(1, 429, retry_after=0.01)``,
``reject_next(422, "...")``, ``delay_next(1, 0.5)``. Scripted faults are consumed in order,
one per request, before any normal handling.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

OPEN_STATUSES = frozenset(
    {"new", "accepted", "pending_new", "partially_filled", "pending_cancel", "pending_replace"}
)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    at: float
    body: Any = None


@dataclass(frozen=True)
class Fault:
    status: int = 500
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    #: Handle the request normally, then hold the response: "applied, but timed out".
    delay_after_s: float = 0.0


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class AlpacaBrokerServer:
    def __init__(self, key_id: str = "test-key", secret_key: str = "test-secret") -> None:
        self.key_id = key_id
        self.secret_key = secret_key
        self.requests: list[RecordedRequest] = []
        self.orders: dict[str, dict[str, Any]] = {}
        self.last_price: dict[str, Decimal] = {"AAPL": Decimal("190.25")}
        self.cash = Decimal("100000")
        self._faults: deque[Fault] = deque()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # -- scripting -------------------------------------------------------------------
    def fail_next(self, n: int, status: int = 503, retry_after: float | None = None) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        for _ in range(n):
            self._faults.append(Fault(status, {"message": f"fault {status}"}, headers))

    def reject_next(
        self, status: int = 422, message: str = "rejected", code: int = 42210000
    ) -> None:
        self._faults.append(Fault(status, {"code": code, "message": message}))

    def auth_fail_next(self, status: int = 401) -> None:
        body = (
            {"code": 40110000, "message": "request is not authorized"}
            if status == 401
            else {"message": "forbidden."}
        )
        self._faults.append(Fault(status, body))

    def delay_next(self, n: int, seconds: float) -> None:
        for _ in range(n):
            self._faults.append(Fault(status=0, delay_s=seconds))

    def delay_after_next(self, n: int, seconds: float) -> None:
        for _ in range(n):
            self._faults.append(Fault(status=0, delay_after_s=seconds))

    def count(self, method: str | None = None, path_prefix: str = "") -> int:
        return sum(
            1
            for r in self.requests
            if (method is None or r.method == method) and r.path.startswith(path_prefix)
        )

    def gaps(self) -> list[float]:
        return [b.at - a.at for a, b in zip(self.requests, self.requests[1:], strict=False)]

    # -- lifecycle -------------------------------------------------------------------
    async def start(self) -> str:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/v2/orders", self._submit)
        app.router.add_get("/v2/orders", self._list)
        app.router.add_get("/v2/orders:by_client_order_id", self._by_client_id)
        app.router.add_get("/v2/orders/{id}", self._get)
        app.router.add_delete("/v2/orders/{id}", self._cancel)
        app.router.add_patch("/v2/orders/{id}", self._replace)
        app.router.add_get("/v2/account", self._account)
        app.router.add_get("/v2/positions", self._positions)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- plumbing --------------------------------------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        self.requests.append(
            RecordedRequest(
                request.method, request.path, dict(request.query), time.monotonic(), body
            )
        )
        fault = self._faults.popleft() if self._faults else None
        if fault is not None:
            if fault.delay_s:
                await asyncio.sleep(fault.delay_s)
            if fault.status:
                return web.json_response(
                    fault.body or {}, status=fault.status, headers=fault.headers
                )
        if (
            request.headers.get("APCA-API-KEY-ID") != self.key_id
            or request.headers.get("APCA-API-SECRET-KEY") != self.secret_key
        ):
            return web.json_response(
                {"code": 40110000, "message": "request is not authorized"}, status=401
            )
        response: web.StreamResponse = await handler(request)
        if fault is not None and fault.delay_after_s:
            await asyncio.sleep(fault.delay_after_s)
        return response

    @staticmethod
    def _error(status: int, message: str, code: int) -> web.Response:
        return web.json_response({"code": code, "message": message}, status=status)

    def _new_order(self, body: dict[str, Any], replaces: str | None = None) -> dict[str, Any]:
        now = _now()
        order: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "client_order_id": body.get("client_order_id") or str(uuid.uuid4()),
            "created_at": now,
            "updated_at": now,
            "submitted_at": now,
            "filled_at": None,
            "canceled_at": None,
            "replaced_at": None,
            "replaced_by": None,
            "replaces": replaces,
            "symbol": body["symbol"],
            "asset_class": "us_equity",
            "notional": body.get("notional"),
            "qty": body.get("qty"),
            "filled_qty": "0",
            "filled_avg_price": None,
            "order_class": "simple",
            "order_type": body["type"],
            "type": body["type"],
            "side": body["side"],
            "time_in_force": body["time_in_force"],
            "limit_price": body.get("limit_price"),
            "stop_price": body.get("stop_price"),
            "trail_price": body.get("trail_price"),
            "trail_percent": body.get("trail_percent"),
            "status": "accepted",
            "extended_hours": bool(body.get("extended_hours", False)),
        }
        price = self.last_price.get(body["symbol"])
        if body["type"] == "market" and price is not None:
            qty = Decimal(body["qty"]) if body.get("qty") else Decimal(body["notional"]) / price
            order.update(
                status="filled", filled_qty=str(qty), filled_avg_price=str(price), filled_at=now
            )
        else:
            order["status"] = "new"
        self.orders[order["id"]] = order
        return order

    # -- handlers --------------------------------------------------------------------
    async def _submit(self, request: web.Request) -> web.Response:
        body = await request.json()
        if not body.get("symbol") or body.get("side") not in ("buy", "sell"):
            return self._error(422, "invalid order", 40010000)
        if not body.get("qty") and not body.get("notional"):
            return self._error(422, "qty or notional is required", 40010000)
        coid = body.get("client_order_id")
        if coid and any(o["client_order_id"] == coid for o in self.orders.values()):
            return self._error(422, "client_order_id must be unique", 40010001)
        return web.json_response(self._new_order(body))

    async def _get(self, request: web.Request) -> web.Response:
        order = self.orders.get(request.match_info["id"])
        if order is None:
            return self._error(404, "order not found", 40410000)
        return web.json_response(order)

    async def _by_client_id(self, request: web.Request) -> web.Response:
        coid = request.query.get("client_order_id")
        for order in self.orders.values():
            if order["client_order_id"] == coid:
                return web.json_response(order)
        return self._error(404, "order not found", 40410000)

    async def _list(self, request: web.Request) -> web.Response:
        wanted = request.query.get("status", "open")
        orders = [
            o
            for o in self.orders.values()
            if wanted == "all" or (o["status"] in OPEN_STATUSES) == (wanted == "open")
        ]
        return web.json_response(orders)

    async def _cancel(self, request: web.Request) -> web.Response:
        order = self.orders.get(request.match_info["id"])
        if order is None:
            return self._error(404, "order not found", 40410000)
        if order["status"] not in OPEN_STATUSES:
            return self._error(422, f'order is already in "{order["status"]}" state', 42210000)
        order.update(status="canceled", canceled_at=_now(), updated_at=_now())
        return web.Response(status=204)

    async def _replace(self, request: web.Request) -> web.Response:
        old = self.orders.get(request.match_info["id"])
        if old is None:
            return self._error(404, "order not found", 40410000)
        if old["status"] not in OPEN_STATUSES:
            return self._error(422, "order is not replaceable", 42210000)
        patch = await request.json()
        body = {k: old[k] for k in ("symbol", "side", "type", "time_in_force", "qty", "notional")}
        for k in ("limit_price", "stop_price", "trail_price", "trail_percent"):
            body[k] = old[k]
        body.update({k: v for k, v in patch.items() if v is not None})
        new = self._new_order(body, replaces=old["id"])
        old.update(status="replaced", replaced_by=new["id"], replaced_at=_now())
        return web.json_response(new)

    async def _account(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "id": "acct-1",
                "account_number": "PA0000001",
                "status": "ACTIVE",
                "currency": "USD",
                "cash": str(self.cash),
                "buying_power": str(self.cash * 2),
                "equity": str(self.cash),
                "trading_blocked": False,
            }
        )

    async def _positions(self, request: web.Request) -> web.Response:
        held: dict[str, Decimal] = {}
        for o in self.orders.values():
            if Decimal(o["filled_qty"]):
                sign = 1 if o["side"] == "buy" else -1
                held[o["symbol"]] = held.get(o["symbol"], Decimal(0)) + sign * Decimal(
                    o["filled_qty"]
                )
        return web.json_response(
            [
                {
                    "symbol": s,
                    "qty": str(q),
                    "side": "long" if q > 0 else "short",
                    "avg_entry_price": str(self.last_price.get(s, Decimal(0))),
                    "market_value": str(q * self.last_price.get(s, Decimal(0))),
                }
                for s, q in held.items()
                if q
            ]
        )
