"""Python client of the REST API (the companion of ``serve.ws_client``): log in, submit,
read, list and cancel orders.

Why every submission carries an ``Idempotency-Key``: a 503, a 502/504 from a proxy, a
dropped connection or a read timeout do not say whether the order was stored. The server
commits the order and then may fail to answer (a broker or Redis outage after the commit,
a replica killed mid-response). Sent again without a key, it would be a second order.
``submit_order`` therefore makes a key (a UUID) unless given one and retries those
ambiguous outcomes a bounded number of times with the *same* key: the server answers a
replay with the order it stored the first time (200 instead of 201), so a retried
submission yields one order. Other answers (4xx, 500) are final and raised as
``ApiError`` with the problem document.

    with RestClient("http://127.0.0.1:8000") as api:
        api.login(email, password)
        order = api.submit_order(account_id, {"symbol": "AAPL", "qty": "1", ...})
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import httpx

from cluster.retry import Backoff, retry_sync

__all__ = ["ApiError", "ApiUnavailable", "RestClient"]

log = logging.getLogger(__name__)

#: Statuses that leave the outcome of a write unknown: retried with the same key.
AMBIGUOUS_STATUSES = frozenset({502, 503, 504})


class ApiError(Exception):
    """A final answer that is not a success: ``status`` and the problem document."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        slug = str(problem.get("type", "")).rsplit("/", 1)[-1] or "error"
        super().__init__(f"{status} {slug}: {problem.get('detail') or problem.get('title')}")
        self.status, self.problem, self.slug = status, problem, slug


class ApiUnavailable(ApiError):
    """A 502/503/504 (or no answer): retry with the same idempotency key."""


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"title": response.text[:200] or response.reason_phrase}
    return body if isinstance(body, dict) else {"title": str(body)[:200]}


class RestClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 10.0,
        backoff: Backoff = Backoff(base_s=0.2, cap_s=2.0, max_attempts=4),
        http: httpx.Client | None = None,
    ) -> None:
        self.http = http or httpx.Client(base_url=base_url, timeout=timeout_s)
        self.backoff = backoff
        self.access_token: str | None = None
        self.refresh_token: str | None = None

    def __enter__(self) -> RestClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    # -- auth ---------------------------------------------------------------------------

    def login(self, email: str, password: str) -> dict[str, Any]:
        """Exchange credentials for tokens; later calls send the access token."""
        pair = self._send("POST", "/v1/auth/login", json={"email": email, "password": password})
        self.access_token, self.refresh_token = pair["access_token"], pair["refresh_token"]
        return pair

    # -- orders -------------------------------------------------------------------------

    def submit_order(
        self, account_id: str, order: dict[str, Any], *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Submit ``order`` (the ``OrderCreate`` body); retried under one idempotency key."""
        key = idempotency_key or str(uuid.uuid4())
        path = f"/v1/accounts/{account_id}/orders"

        def attempt() -> dict[str, Any]:
            return self._send("POST", path, json=order, headers={"Idempotency-Key": key})

        def note(failures: int, exc: BaseException, delay: float) -> None:
            log.warning("submit %s: %s; retry %d in %.2f s", key, exc, failures, delay)

        return retry_sync(attempt, backoff=self.backoff, retry_on=(ApiUnavailable,), on_retry=note)

    def get_order(self, account_id: str, order_id: str) -> dict[str, Any]:
        return self._send("GET", f"/v1/accounts/{account_id}/orders/{order_id}")

    def list_orders(self, account_id: str, **params: Any) -> dict[str, Any]:
        """``status`` (default ``open``), ``side``, ``symbols``, ``limit``, ``cursor``..."""
        return self._send("GET", f"/v1/accounts/{account_id}/orders", params=params)

    def cancel_order(self, account_id: str, order_id: str) -> dict[str, Any]:
        """Request cancellation; not retried here (the order's state says what happened)."""
        return self._send("DELETE", f"/v1/accounts/{account_id}/orders/{order_id}")

    # -- transport ----------------------------------------------------------------------

    def _send(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kw: Any
    ) -> Any:
        sent = dict(headers or {})
        if self.access_token is not None:
            sent["Authorization"] = f"Bearer {self.access_token}"
        try:
            response = self.http.request(method, path, headers=sent, **kw)
        except httpx.TransportError as exc:  # no answer: the request may have been applied
            raise ApiUnavailable(0, {"title": f"{type(exc).__name__}: {exc}"}) from exc
        if response.status_code in AMBIGUOUS_STATUSES:
            raise ApiUnavailable(response.status_code, _problem(response))
        if response.is_error:
            raise ApiError(response.status_code, _problem(response))
        return response.json() if response.content else None
