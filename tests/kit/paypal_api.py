"""A local fake of PayPal's REST API (OAuth token, Subscriptions v1), on a loopback port.

Shapes follow PayPal's documentation: the token endpoint takes basic auth and
``grant_type=client_credentials``; a created subscription is ``APPROVAL_PENDING`` with an
``approve`` link; tests move a subscription with ``set_status`` (as the buyer approving,
or PayPal suspending, would). ``calls`` records ``(method, path)`` of every request.
"""

from __future__ import annotations

import base64
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from tests.kit.api import serve_in_thread

CLIENT_ID, CLIENT_SECRET = "test-client", "test-secret"


class FakePayPal:
    def __init__(self) -> None:
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.tokens: set[str] = set()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.app = self._build()

    def set_status(self, subscription_id: str, status: str) -> None:
        with self._lock:
            self.subscriptions[subscription_id]["status"] = status

    def _build(self) -> FastAPI:
        app = FastAPI()

        @app.middleware("http")
        async def record(request: Request, call_next: Any) -> Response:
            self.calls.append((request.method, request.url.path))
            if request.url.path != "/v1/oauth2/token":
                token = request.headers.get("authorization", "").removeprefix("Bearer ")
                if token not in self.tokens:
                    return JSONResponse({"error": "invalid_token"}, status_code=401)
            response: Response = await call_next(request)
            return response

        @app.post("/v1/oauth2/token")
        async def token(request: Request) -> Response:
            expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            form = (await request.body()).decode()
            if request.headers.get("authorization") != f"Basic {expected}" or (
                form != "grant_type=client_credentials"
            ):
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            value = f"A21AA{next(self._ids):08d}"
            self.tokens.add(value)
            return JSONResponse(
                {"access_token": value, "token_type": "Bearer", "expires_in": 32400}
            )

        @app.post("/v1/billing/subscriptions")
        async def create(request: Request) -> Response:
            body = await request.json()
            sid = f"I-{next(self._ids):012d}"
            sub = {
                "id": sid,
                "plan_id": body["plan_id"],
                "custom_id": body.get("custom_id"),
                "status": "APPROVAL_PENDING",
                "create_time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            }
            with self._lock:
                self.subscriptions[sid] = sub
            links = [
                {
                    "href": f"https://www.sandbox.paypal.com/webapps/billing/subscriptions?ba_token=BA-{sid}",
                    "rel": "approve",
                    "method": "GET",
                },
                {"href": f"/v1/billing/subscriptions/{sid}", "rel": "self", "method": "GET"},
            ]
            return JSONResponse({**sub, "links": links}, status_code=201)

        @app.get("/v1/billing/subscriptions/{sid}")
        async def get(sid: str) -> Response:
            sub = self.subscriptions.get(sid)
            if sub is None:
                return JSONResponse({"name": "RESOURCE_NOT_FOUND"}, status_code=404)
            return JSONResponse(dict(sub))

        @app.post("/v1/billing/subscriptions/{sid}/cancel")
        async def cancel(sid: str) -> Response:
            if sid not in self.subscriptions:
                return JSONResponse({"name": "RESOURCE_NOT_FOUND"}, status_code=404)
            self.set_status(sid, "CANCELLED")
            return Response(status_code=204)

        return app

    @contextmanager
    def running(self) -> Iterator[str]:
        with serve_in_thread(self.app) as url:
            yield url
