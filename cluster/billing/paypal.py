"""A client of PayPal's REST API: OAuth 2.0 client credentials, the Subscriptions API v1.

Shapes as documented: ``POST /v1/oauth2/token`` (basic auth, ``grant_type=
client_credentials``) answers ``access_token`` and ``expires_in``; ``POST
/v1/billing/subscriptions`` answers the subscription with a ``links`` entry ``rel:
approve`` (where the buyer approves); ``GET /v1/billing/subscriptions/{id}`` its
``status``; ``POST .../{id}/cancel`` answers 204. Transport errors and 5xx are transient;
a 401 on the token is an operator error (bad credentials); other 4xx are refusals.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from domain.errors import Conflict, NotFound, OperatorError, TransientError


@dataclass(frozen=True)
class PayPalSubscription:
    id: str
    status: str
    plan_id: str
    custom_id: str | None
    approval_url: str | None = None

    @classmethod
    def of(cls, data: dict[str, Any]) -> PayPalSubscription:
        approve = next(
            (link.get("href") for link in data.get("links", []) if link.get("rel") == "approve"),
            None,
        )
        return cls(
            id=str(data["id"]),
            status=str(data.get("status", "")),
            plan_id=str(data.get("plan_id", "")),
            custom_id=data.get("custom_id"),
            approval_url=approve,
        )


class PayPalClient:
    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        timeout_s: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=timeout_s,
            follow_redirects=False,
            transport=transport,
        )
        self._auth = (client_id, client_secret)
        self._monotonic = monotonic
        self._token: tuple[str, float] | None = None  # (token, valid until)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    def _access_token(self) -> str:
        with self._lock:
            if self._token is not None and self._monotonic() < self._token[1]:
                return self._token[0]
            r = self._send(
                "POST",
                "/v1/oauth2/token",
                auth=self._auth,
                data={"grant_type": "client_credentials"},
                headers={"Accept": "application/json"},
            )
            if r.status_code == 401:
                raise OperatorError("PayPal refused the client credentials")
            body = self._json(r)
            # renew a minute early: a token expiring in flight is a refused call
            ttl = max(0.0, float(body.get("expires_in", 0)) - 60)
            self._token = (str(body["access_token"]), self._monotonic() + ttl)
            return self._token[0]

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise TransientError(f"PayPal did not answer: {type(exc).__name__}") from exc

    def _call(
        self, method: str, path: str, extra: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self._access_token()}", **(extra or {})}
        r = self._send(method, path, headers=headers, **kwargs)
        if r.status_code == 401:  # token revoked early: one fresh token, one retry
            with self._lock:
                self._token = None
            headers = {**headers, "Authorization": f"Bearer {self._access_token()}"}
            r = self._send(method, path, headers=headers, **kwargs)
        if r.status_code >= 500:
            raise TransientError(f"PayPal answered {r.status_code}")
        if r.status_code == 404:
            raise NotFound(f"PayPal has no {path}")
        if r.status_code >= 400:
            raise Conflict(f"PayPal refused {method} {path}: {r.status_code}")
        return r

    @staticmethod
    def _json(r: httpx.Response) -> dict[str, Any]:
        if r.status_code >= 500:
            raise TransientError(f"PayPal answered {r.status_code}")
        if r.status_code >= 400:
            raise OperatorError(f"PayPal refused the token request: {r.status_code}")
        try:
            data = r.json()
        except ValueError as exc:
            raise TransientError("PayPal answered something that is not JSON") from exc
        if not isinstance(data, dict):
            raise TransientError("PayPal answered an unexpected shape")
        return data

    def create_subscription(
        self, plan_id: str, *, custom_id: str, return_url: str, cancel_url: str, request_id: str
    ) -> PayPalSubscription:
        """``request_id`` is PayPal's idempotency key: a retried create is the same one."""
        body = {
            "plan_id": plan_id,
            "custom_id": custom_id,
            "application_context": {
                "user_action": "SUBSCRIBE_NOW",
                "return_url": return_url,
                "cancel_url": cancel_url,
            },
        }
        extra = {"PayPal-Request-Id": request_id, "Prefer": "return=representation"}
        r = self._call("POST", "/v1/billing/subscriptions", extra, json=body)
        return PayPalSubscription.of(self._json(r))

    def get_subscription(self, subscription_id: str) -> PayPalSubscription:
        r = self._call("GET", f"/v1/billing/subscriptions/{_safe(subscription_id)}")
        return PayPalSubscription.of(self._json(r))

    def cancel_subscription(self, subscription_id: str, reason: str) -> None:
        self._call(
            "POST",
            f"/v1/billing/subscriptions/{_safe(subscription_id)}/cancel",
            json={"reason": reason[:128]},
        )


def _safe(subscription_id: str) -> str:
    """Subscription ids are ``I-`` and letters/digits: never a path of our choosing."""
    if not subscription_id or not subscription_id.replace("-", "").isalnum():
        raise NotFound(f"no subscription {subscription_id!r}")
    return subscription_id
