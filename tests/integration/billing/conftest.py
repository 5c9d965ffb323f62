"""The real API (create_api + build_services, no Ray) with a fake PayPal REST API and a
local TLS host serving a certificate of a test CA (the trust override)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from cluster.billing.tables import (
    billing_entitlement_changes,
    billing_subscriptions,
    billing_webhook_events,
)
from cluster.settings import Settings
from serve.api import create_api
from serve.services import Services, build_services
from tests.kit.api import serve_in_thread
from tests.kit.paypal_api import CLIENT_ID, CLIENT_SECRET, FakePayPal
from tests.kit.paypal_certs import CertHost, Pki
from tests.kit.users import ApiUser, signed_in

WEBHOOK_ID = "WH-ELSON-TEST-1"
CERT_PATH = "/v1/notifications/certs/CERT-360caa42-fca2a594-test"
#: free plan tightened so one test shows both limits; premium keeps its defaults
FREE_LIMITS = {"max_concurrent_jobs": 1, "max_trials_per_job": 20}


@pytest.fixture(scope="session")
def pki() -> Pki:
    return Pki()


@pytest.fixture(scope="session")
def cert_host(pki: Pki) -> Iterator[CertHost]:
    host = CertHost(pki)
    host.files[CERT_PATH] = pki.signing_pem
    with host.running():
        yield host


@pytest.fixture(scope="session")
def paypal() -> Iterator[tuple[FakePayPal, str]]:
    fake = FakePayPal()
    with fake.running() as url:
        yield fake, url


@pytest.fixture(scope="session")
def billing_services(
    settings: Settings, pki: Pki, cert_host: CertHost, paypal: tuple[FakePayPal, str]
) -> Iterator[Services]:
    s = settings.with_overrides(
        login_max_failures=10_000,
        job_workers=0,
        paypal_base_url=paypal[1],
        paypal_client_id=CLIENT_ID,
        paypal_client_secret=CLIENT_SECRET,
        paypal_webhook_id=WEBHOOK_ID,
        paypal_plan_ids={"premium": "P-5ML4271244454362WXNWU5NQ"},
        paypal_test_ca_pem=pki.ca_pem,
        paypal_test_cert_host="127.0.0.1",
        billing_plans={"free": FREE_LIMITS},
    )
    services = build_services(s, in_ray=False, process_label="billing-tests")
    yield services
    services.close()


@pytest.fixture(scope="session")
def billing_url(billing_services: Services) -> Iterator[str]:
    with serve_in_thread(create_api(billing_services)) as url:
        yield url


@pytest.fixture
def client(billing_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=billing_url, timeout=20) as c:
        yield c


@pytest.fixture
def quant(client: httpx.Client, billing_services: Services) -> ApiUser:
    return signed_in(client, role="quant", services=billing_services)


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class Deliverer:
    """Builds PayPal events and delivers them signed as PayPal signs them."""

    client: httpx.Client
    pki: Pki
    cert_url: str
    sent: list[str] = field(default_factory=list)

    def event(
        self, event_type: str, subscription_id: str, create_time: datetime, event_id: str = ""
    ) -> bytes:
        body = {
            "id": event_id or f"WH-{uuid.uuid4().hex[:17].upper()}",
            "event_version": "1.0",
            "create_time": iso(create_time),
            "resource_type": "subscription",
            "event_type": event_type,
            "summary": "Subscription event",
            "resource": {"id": subscription_id, "status": "ACTIVE", "plan_id": "P-5ML"},
        }
        # PayPal's own spacing: the signature covers these exact bytes
        return json.dumps(body, indent=1).encode()

    def headers(
        self,
        body: bytes,
        *,
        transmission_id: str | None = None,
        at: datetime | None = None,
        webhook_id: str = WEBHOOK_ID,
        **override: str,
    ) -> dict[str, str]:
        tid = transmission_id or str(uuid.uuid4())
        when = iso(at or datetime.now(UTC))
        sig = self.pki.sign(
            body, webhook_id=webhook_id, transmission_id=tid, transmission_time=when
        )
        headers = {
            "PAYPAL-TRANSMISSION-ID": tid,
            "PAYPAL-TRANSMISSION-TIME": when,
            "PAYPAL-TRANSMISSION-SIG": sig,
            "PAYPAL-CERT-URL": self.cert_url,
            "PAYPAL-AUTH-ALGO": "SHA256withRSA",
            "Content-Type": "application/json",
        }
        headers.update(override)
        return headers

    def post(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return self.client.post("/webhooks/paypal", content=body, headers=headers)

    def deliver(
        self, event_type: str, subscription_id: str, create_time: datetime
    ) -> httpx.Response:
        body = self.event(event_type, subscription_id, create_time)
        return self.post(body, self.headers(body))


@pytest.fixture
def deliver(client: httpx.Client, pki: Pki, cert_host: CertHost) -> Deliverer:
    return Deliverer(client, pki, cert_host.url(CERT_PATH))


def state(services: Services, user_id: str | None = None) -> dict[str, Any]:
    """Everything a delivery may change (to show that a refused one changed nothing)."""
    with services.db.session() as s:
        out: dict[str, Any] = {
            "events": s.execute(
                select(func.count()).select_from(billing_webhook_events)
            ).scalar_one(),
            "changes": s.execute(
                select(func.count()).select_from(billing_entitlement_changes)
            ).scalar_one(),
            "subscriptions": sorted(
                (r.id, r.status, r.event_at) for r in s.execute(select(billing_subscriptions)).all()
            ),
        }
    if user_id is not None:
        out["plan"] = services.entitlements.plan_of(user_id)
    return out


def start_subscription(client: httpx.Client, user: ApiUser) -> str:
    r = client.post("/v1/billing/subscription", json={"plan": "premium"}, headers=user.headers)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["approval_url"].startswith("https://www.sandbox.paypal.com/")
    assert body["subscription"]["status"] == "pending"
    return str(body["subscription"]["id"])
