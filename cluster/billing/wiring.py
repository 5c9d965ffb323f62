"""``wire(services)``: the entitlement service and the billing service of one process.

The entitlement snapshot is loaded once here and kept fresh by its poll thread (stopped
through ``services.closers``). The trust override (test CA, local certificate host) is
taken only when configured; settings refuse it in staging/production.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cluster.billing.certs import CertFetcher, override_trust, system_trust
from cluster.billing.entitlements import EntitlementService
from cluster.billing.paypal import PayPalClient
from cluster.billing.service import BillingService
from cluster.billing.verify import WebhookVerifier
from cluster.settings import Settings
from domain.billing.plans import plans_from_wire


def build_fetcher(settings: Settings) -> CertFetcher:
    hosts = {h.strip().lower() for h in settings.paypal_cert_hosts.split(",") if h.strip()}
    local: frozenset[str] = frozenset()
    if settings.paypal_test_cert_host:  # the trust override's local host, on any port
        local = frozenset({settings.paypal_test_cert_host.strip().lower()})
    ca_pem = settings.paypal_test_ca_pem  # the override's CA, else the system trust store
    return CertFetcher(
        frozenset(hosts) | local,
        (lambda: override_trust(ca_pem)) if ca_pem else system_trust,
        any_port_hosts=local,
        timeout_s=settings.paypal_cert_timeout_s,
    )


def wire(services: Any) -> None:
    settings: Settings = services.settings
    entitlements = EntitlementService(
        services.db, plans_from_wire(settings.billing_plans), poll_s=settings.billing_poll_s
    )
    entitlements.start()
    services.closers.append(entitlements.stop)
    paypal = None
    if settings.paypal_client_id is not None and settings.paypal_client_secret is not None:
        paypal = PayPalClient(
            settings.paypal_base_url,
            settings.paypal_client_id.get_secret_value(),
            settings.paypal_client_secret.get_secret_value(),
            timeout_s=settings.paypal_timeout_s,
        )
        services.closers.append(paypal.close)
    verifier = WebhookVerifier(
        settings.paypal_webhook_id,
        build_fetcher(settings),
        timedelta(seconds=settings.paypal_time_tolerance_s),
    )
    services.entitlements = entitlements
    services.billing = BillingService(
        services.db,
        paypal=paypal,
        verifier=verifier,
        entitlements=entitlements,
        plan_ids=settings.paypal_plan_ids,
        return_url=settings.paypal_return_url,
        cancel_url=settings.paypal_cancel_url,
    )
