"""What a webhook leaves behind besides its effect: the ``audit_log`` rows (an applied
event, the entitlement change it made, a refusal with its reason) and the counters
(verified, by outcome, refused by reason) after one applied delivery, one duplicate and
one bad signature. Counters are compared before and after, never as absolute values:
other tests of the session count too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import prometheus_client as pc
import pytest
from sqlalchemy import func, select

from cluster import metrics
from cluster.tables import audit_log
from serve.services import Services
from tests.integration.billing.conftest import Deliverer, start_subscription, state
from tests.kit.paypal_api import FakePayPal
from tests.kit.users import ApiUser, assert_problem

ACTIVATED = "BILLING.SUBSCRIPTION.ACTIVATED"
#: (metric, label, value) of every series a delivery may move
SERIES = [
    *(
        ("elson_billing_webhooks_total", "outcome", o)
        for o in ("verified", "applied", "duplicate", "older", "unconfirmed")
    ),
    *(
        ("elson_billing_webhooks_refused_total", "reason", r)
        for r in ("bad-signature", "bad-algorithm", "stale", "missing-header", "bad-cert-url")
    ),
]


@pytest.fixture(autouse=True)
def local_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Read what was recorded from this process's prometheus registry, even when an
    earlier test of the session started Ray. The billing service looks its counters up on
    each delivery, so patching here (after the session's services were built) suffices."""
    monkeypatch.setattr(metrics, "_in_ray", lambda: False)
    monkeypatch.setattr(metrics, "_made", {})
    yield


def _counters() -> dict[tuple[str, str, str], float]:
    return {
        (name, label, value): pc.REGISTRY.get_sample_value(name, {label: value}) or 0.0
        for name, label, value in SERIES
    }


def _audit_after(services: Services, last_id: int) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(actor, action, subject, detail) of every audit row written after ``last_id``."""
    with services.db.session() as s:
        rows = s.execute(
            select(audit_log.c.actor, audit_log.c.action, audit_log.c.subject, audit_log.c.detail)
            .where(audit_log.c.id > last_id)
            .order_by(audit_log.c.id)
        ).all()
    return [(r[0], r[1], r[2], dict(r[3])) for r in rows]


def _last_audit_id(services: Services) -> int:
    with services.db.session() as s:
        return int(s.execute(select(func.coalesce(func.max(audit_log.c.id), 0))).scalar_one())


def test_applied_duplicate_and_bad_signature_are_audited_and_counted(
    client: Any,
    quant: ApiUser,
    deliver: Deliverer,
    paypal: tuple[FakePayPal, str],
    billing_services: Services,
) -> None:
    sid = start_subscription(client, quant)
    paypal[0].set_status(sid, "ACTIVE")
    body = deliver.event(ACTIVATED, sid, datetime.now(UTC))
    event_id = json.loads(body)["id"]
    since, before = _last_audit_id(billing_services), _counters()

    applied = deliver.post(body, deliver.headers(body))
    assert applied.status_code == 200 and applied.json() == {"outcome": "applied"}, applied.text
    duplicate = deliver.post(body, deliver.headers(body))
    assert duplicate.status_code == 200 and duplicate.json() == {"outcome": "duplicate"}
    after_duplicate = state(billing_services, quant.id)
    forged = deliver.event(ACTIVATED, sid, datetime.now(UTC))
    headers = deliver.headers(forged)
    refused = deliver.post(forged.replace(b'"1.0"', b'"1.1"'), headers)
    assert_problem(refused, 400, "webhook-refused")
    assert state(billing_services, quant.id) == after_duplicate

    delta = {k: v - before[k] for k, v in _counters().items()}
    assert {k: v for k, v in delta.items() if v} == {
        ("elson_billing_webhooks_total", "outcome", "verified"): 2,
        ("elson_billing_webhooks_total", "outcome", "applied"): 1,
        ("elson_billing_webhooks_total", "outcome", "duplicate"): 1,
        ("elson_billing_webhooks_refused_total", "reason", "bad-signature"): 1,
    }
    # a duplicate is counted, not audited: it changed nothing
    assert _audit_after(billing_services, since) == [
        (
            "billing",
            "billing.entitlements.changed",
            f"user:{quant.id}",
            {"plan_from": "free", "plan_to": "premium", "cause": f"paypal-event:{event_id}"},
        ),
        (
            "billing",
            "billing.webhook.applied",
            f"paypal-event:{event_id}",
            {"event_type": ACTIVATED, "resource": sid, "outcome": "applied"},
        ),
        (
            "billing",
            "billing.webhook.refused",
            "paypal",
            {"reason": "bad-signature", "transmission_id": headers["PAYPAL-TRANSMISSION-ID"]},
        ),
    ]
