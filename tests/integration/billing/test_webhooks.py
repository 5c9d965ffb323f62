"""``POST /webhooks/paypal`` end to end: signed deliveries from a generated certificate on
a local TLS host, applied exactly once, in ``create_time`` order; every refusal is a 400
that changes nothing, and a refused certificate URL makes no connection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from serve.services import Services
from tests.integration.billing.conftest import WEBHOOK_ID, Deliverer, start_subscription, state
from tests.kit.paypal_api import FakePayPal
from tests.kit.paypal_certs import CertHost
from tests.kit.users import ApiUser, assert_problem

ACTIVATED = "BILLING.SUBSCRIPTION.ACTIVATED"
CANCELLED = "BILLING.SUBSCRIPTION.CANCELLED"


def my_plan(client: httpx.Client, user: ApiUser) -> dict:  # type: ignore[type-arg]
    r = client.get("/v1/billing/subscription", headers=user.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_signed_activation_is_applied_once_and_entitlements_change_at_once(
    client: httpx.Client,
    quant: ApiUser,
    deliver: Deliverer,
    paypal: tuple[FakePayPal, str],
    billing_services: Services,
) -> None:
    assert my_plan(client, quant)["plan"] == "free"
    sid = start_subscription(client, quant)
    paypal[0].set_status(sid, "ACTIVE")  # the buyer approved at PayPal
    body = deliver.event(ACTIVATED, sid, datetime.now(UTC))
    headers = deliver.headers(body)

    r = deliver.post(body, headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"outcome": "applied"}
    mine = my_plan(client, quant)  # at once: no poll interval waited
    assert mine["plan"] == "premium"
    assert mine["subscription"]["status"] == "active"
    assert mine["entitlements"]["max_trials_per_job"] == 1_000_000
    after = state(billing_services, quant.id)

    for _ in range(5):  # the same delivery replayed
        again = deliver.post(body, headers)
        assert again.status_code == 200, again.text
        assert again.json() == {"outcome": "duplicate"}
    fresh = deliver.headers(body)  # the same event id, a new transmission
    assert fresh["PAYPAL-TRANSMISSION-ID"] != headers["PAYPAL-TRANSMISSION-ID"]
    r = deliver.post(body, fresh)
    assert r.status_code == 200 and r.json() == {"outcome": "duplicate"}
    assert state(billing_services, quant.id) == after
    assert after["plan"] == "premium"


def test_cancelled_before_an_older_activated_leaves_the_newer_state(
    client: httpx.Client,
    quant: ApiUser,
    deliver: Deliverer,
    paypal: tuple[FakePayPal, str],
    billing_services: Services,
) -> None:
    sid = start_subscription(client, quant)
    t_activated = datetime.now(UTC) - timedelta(minutes=2)
    t_cancelled = t_activated + timedelta(minutes=1)
    paypal[0].set_status(sid, "CANCELLED")  # PayPal now: activated, then cancelled
    r = deliver.deliver(CANCELLED, sid, t_cancelled)
    assert r.status_code == 200 and r.json() == {"outcome": "applied"}, r.text
    r = deliver.deliver(ACTIVATED, sid, t_activated)  # delivered late
    assert r.status_code == 200 and r.json() == {"outcome": "older"}, r.text
    mine = my_plan(client, quant)
    assert mine["subscription"]["status"] == "cancelled"
    assert mine["plan"] == "free"


def test_an_event_paypal_does_not_confirm_changes_nothing(
    client: httpx.Client,
    quant: ApiUser,
    deliver: Deliverer,
    billing_services: Services,
) -> None:
    sid = start_subscription(client, quant)  # still APPROVAL_PENDING at PayPal
    r = deliver.deliver(ACTIVATED, sid, datetime.now(UTC))
    assert r.status_code == 200 and r.json() == {"outcome": "unconfirmed"}, r.text
    assert my_plan(client, quant)["plan"] == "free"


def _sha1_headers(d: Deliverer, body: bytes) -> dict[str, str]:
    return d.headers(body, PAYPAL_AUTH_ALGO="SHA1withRSA") | {"PAYPAL-AUTH-ALGO": "SHA1withRSA"}


def _crc_hex(d: Deliverer, body: bytes) -> dict[str, str]:
    import base64
    import zlib

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    h = d.headers(body)
    tid, when = h["PAYPAL-TRANSMISSION-ID"], h["PAYPAL-TRANSMISSION-TIME"]
    message = f"{tid}|{when}|{WEBHOOK_ID}|{zlib.crc32(body) & 0xFFFFFFFF:x}".encode()
    sig = d.pki.signing_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    return h | {"PAYPAL-TRANSMISSION-SIG": base64.b64encode(sig).decode()}


BAD_SIGNATURES = {
    "body-byte-changed": lambda d, body: (body.replace(b'"1.0"', b'"1.1"'), d.headers(body)),
    "crc32-in-hex": lambda d, body: (body, _crc_hex(d, body)),
    "another-webhook-id": lambda d, body: (body, d.headers(body, webhook_id="WH-SOMEONE-ELSE")),
    "sha1-with-rsa": lambda d, body: (body, _sha1_headers(d, body)),
    "stale-time": lambda d, body: (
        body,
        d.headers(body, at=datetime.now(UTC) - timedelta(minutes=6)),
    ),
    **{
        f"missing-{name.lower()}": (
            lambda d, body, name=name: (
                body,
                {k: v for k, v in d.headers(body).items() if k != name},
            )
        )
        for name in (
            "PAYPAL-TRANSMISSION-ID",
            "PAYPAL-TRANSMISSION-TIME",
            "PAYPAL-TRANSMISSION-SIG",
            "PAYPAL-CERT-URL",
            "PAYPAL-AUTH-ALGO",
        )
    },
}


REASONS = {
    "body-byte-changed": "bad-signature",
    "crc32-in-hex": "bad-signature",
    "another-webhook-id": "bad-signature",
    "sha1-with-rsa": "bad-algorithm",
    "stale-time": "stale",
}


@pytest.mark.parametrize("case", sorted(BAD_SIGNATURES))
def test_unverifiable_delivery_is_400_and_changes_nothing(
    case: str,
    client: httpx.Client,
    quant: ApiUser,
    deliver: Deliverer,
    paypal: tuple[FakePayPal, str],
    billing_services: Services,
) -> None:
    sid = start_subscription(client, quant)
    paypal[0].set_status(sid, "ACTIVE")
    body = deliver.event(ACTIVATED, sid, datetime.now(UTC))
    sent, headers = BAD_SIGNATURES[case](deliver, body)
    before = state(billing_services, quant.id)
    r = deliver.post(sent, headers)
    problem = assert_problem(r, 400, "webhook-refused")
    assert problem["detail"].startswith(REASONS.get(case, "missing-header") + ":"), problem
    assert state(billing_services, quant.id) == before
    assert before["plan"] == "free"
    # the untouched delivery still verifies: the refusal was for the change alone
    assert deliver.post(body, deliver.headers(body)).json() == {"outcome": "applied"}


BAD_CERT_URLS = {
    "http": "http://api.paypal.com/v1/notifications/certs/CERT-1",
    "another-host": "https://example.org/v1/notifications/certs/CERT-1",
    "suffix-host": "https://api.paypal.com.evil.test/v1/notifications/certs/CERT-1",
    "userinfo": "https://api.paypal.com@evil.test/v1/notifications/certs/CERT-1",
    "link-local": "https://169.254.169.254/latest/meta-data/",
    "link-local-v6": "https://[fe80::1]/v1/notifications/certs/CERT-1",
    "other-port-on-paypal": "https://api.paypal.com:8443/v1/notifications/certs/CERT-1",
}


@pytest.mark.parametrize("case", sorted(BAD_CERT_URLS))
def test_refused_cert_url_is_400_with_no_outbound_connection(
    case: str,
    client: httpx.Client,
    quant: ApiUser,
    deliver: Deliverer,
    cert_host: CertHost,
    billing_services: Services,
) -> None:
    fetcher = billing_services.billing.verifier.fetcher
    sid = start_subscription(client, quant)
    body = deliver.event(ACTIVATED, sid, datetime.now(UTC))
    before = state(billing_services, quant.id)
    attempts, served = list(fetcher.attempts), list(cert_host.requests)
    r = deliver.post(body, deliver.headers(body, **{"PAYPAL-CERT-URL": BAD_CERT_URLS[case]}))
    assert_problem(r, 400, "webhook-refused")
    assert "bad-cert-url" in r.json()["detail"]
    assert fetcher.attempts == attempts  # not one connection attempted
    assert cert_host.requests == served
    assert state(billing_services, quant.id) == before


def test_cancel_falls_back_to_free_and_paypals_notice_changes_nothing_more(
    client: httpx.Client,
    quant: ApiUser,
    deliver: Deliverer,
    paypal: tuple[FakePayPal, str],
    billing_services: Services,
) -> None:
    sid = start_subscription(client, quant)
    paypal[0].set_status(sid, "ACTIVE")
    assert deliver.deliver(ACTIVATED, sid, datetime.now(UTC)).json() == {"outcome": "applied"}
    r = client.post("/v1/billing/subscription/cancel", headers=quant.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    assert paypal[0].subscriptions[sid]["status"] == "CANCELLED"
    assert my_plan(client, quant)["plan"] == "free"
    changes = state(billing_services)["changes"]
    notice = deliver.deliver(CANCELLED, sid, datetime.now(UTC) + timedelta(seconds=1))
    assert notice.json() == {"outcome": "applied"}, notice.text
    assert state(billing_services)["changes"] == changes
    again = client.post("/v1/billing/subscription/cancel", headers=quant.headers)
    assert_problem(again, 404, "not-found")


def test_a_completed_sale_records_the_payment_without_changing_the_plan(
    client: httpx.Client,
    quant: ApiUser,
    deliver: Deliverer,
    paypal: tuple[FakePayPal, str],
) -> None:
    import json
    import uuid

    sid = start_subscription(client, quant)
    paypal[0].set_status(sid, "ACTIVE")
    t0 = datetime.now(UTC) - timedelta(seconds=30)
    assert deliver.deliver(ACTIVATED, sid, t0).json() == {"outcome": "applied"}
    sale = {
        "id": f"WH-{uuid.uuid4().hex[:17].upper()}",
        "create_time": (t0 + timedelta(seconds=5)).isoformat().replace("+00:00", "Z"),
        "event_type": "PAYMENT.SALE.COMPLETED",
        "resource_type": "sale",
        "resource": {"id": "5O190127TN364715T", "billing_agreement_id": sid, "state": "completed"},
    }
    body = json.dumps(sale).encode()
    r = deliver.post(body, deliver.headers(body))
    assert r.json() == {"outcome": "applied"}, r.text
    mine = my_plan(client, quant)
    assert mine["plan"] == "premium"
    assert mine["subscription"]["last_payment_at"] is not None


def test_second_subscription_while_one_is_live_is_a_conflict(
    client: httpx.Client, quant: ApiUser
) -> None:
    start_subscription(client, quant)
    r = client.post("/v1/billing/subscription", json={"plan": "premium"}, headers=quant.headers)
    assert_problem(r, 409, "conflict")
    r = client.post("/v1/billing/subscription", json={"plan": "gold"}, headers=quant.headers)
    assert_problem(r, 422, "validation")
