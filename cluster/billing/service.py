"""The billing service: start, read and cancel a subscription; receive PayPal webhooks.

``receive`` verifies the delivery over the raw bytes (``WebhookVerifier``), then applies
the event exactly once: the event row (primary key = PayPal's event id) and its effect
commit in one transaction, so a redelivery finds the row and changes nothing. Events are
applied in ``create_time`` order (an older one is stored as ``older`` and changes
nothing), and a ``BILLING.SUBSCRIPTION.*`` event changes the status only when PayPal,
re-read just before, reports the status the event leads to.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cluster import metrics
from cluster.billing import repository as repo
from cluster.billing.entitlements import EntitlementService
from cluster.billing.paypal import PayPalClient, PayPalSubscription
from cluster.billing.verify import WebhookVerifier
from cluster.db import Database
from domain.billing.plans import Entitlements
from domain.billing.subscriptions import (
    SubEvent,
    SubStatus,
    allowed,
    apply,
    from_paypal_status,
    plan_of,
    supersedes,
)
from domain.billing.webhook import WebhookRefused, parse_time
from domain.errors import Conflict, NotFound, OperatorError, ValidationFailed

log = logging.getLogger(__name__)


def _webhooks() -> metrics._Metric:
    return metrics.counter(
        "elson_billing_webhooks_total", "PayPal deliveries by outcome", ("outcome",)
    )


def _refused() -> metrics._Metric:
    return metrics.counter(
        "elson_billing_webhooks_refused_total", "PayPal deliveries refused", ("reason",)
    )


@dataclass(frozen=True)
class Started:
    subscription: repo.SubscriptionRow
    approval_url: str


@dataclass(frozen=True)
class MyPlan:
    plan: str
    entitlements: Entitlements
    subscription: repo.SubscriptionRow | None


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    create_time: datetime
    resource_id: str | None
    body: dict[str, Any]

    @classmethod
    def parse(cls, raw: bytes) -> Event:
        try:
            body = json.loads(raw)
            resource = body.get("resource") or {}
            rid = resource.get("billing_agreement_id") or resource.get("id")
            return cls(
                id=str(body["id"]),
                type=str(body["event_type"]),
                create_time=parse_time(str(body["create_time"])),
                resource_id=None if rid is None else str(rid),
                body=body,
            )
        except (ValueError, KeyError, TypeError, AttributeError, WebhookRefused) as exc:
            raise WebhookRefused("bad-body", "not a PayPal event") from exc


class _Duplicate(Exception):
    """Raised inside the transaction to roll the effect back when the event row exists."""


class BillingService:
    def __init__(
        self,
        db: Database,
        *,
        paypal: PayPalClient | None,
        verifier: WebhookVerifier,
        entitlements: EntitlementService,
        plan_ids: Mapping[str, str],
        return_url: str,
        cancel_url: str,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.db, self.paypal, self.verifier = db, paypal, verifier
        self.entitlements, self.plan_ids = entitlements, dict(plan_ids)
        self.return_url, self.cancel_url, self._now = return_url, cancel_url, now

    def _client(self) -> PayPalClient:
        if self.paypal is None:
            raise OperatorError("PayPal is not configured (ELSON_PAYPAL_CLIENT_ID/SECRET)")
        return self.paypal

    # -- the user's side -----------------------------------------------------------------
    def start(self, user_id: str, plan: str) -> Started:
        if plan not in self.plan_ids or plan not in self.entitlements.plans:
            raise ValidationFailed("plan", "unknown-plan", f"no paid plan {plan!r}")
        with self.db.session() as s:
            if repo.live_for_user(s, user_id) is not None:
                raise Conflict("you already have a subscription that is not ended")
        created = self._client().create_subscription(
            self.plan_ids[plan],
            custom_id=user_id,
            return_url=self.return_url,
            cancel_url=self.cancel_url,
            request_id=f"elson-{uuid.uuid4().hex}",
        )
        if not created.approval_url:
            raise OperatorError("PayPal answered a subscription without an approve link")
        with self.db.session() as s:
            row = repo.create(s, created.id, user_id, plan)
            repo.audit(
                s, "billing.subscription.started", f"user:{user_id}", id=created.id, plan=plan
            )
        return Started(row, created.approval_url)

    def mine(self, user_id: str) -> MyPlan:
        with self.db.session() as s:
            row = repo.latest_for_user(s, user_id)
        return MyPlan(
            self.entitlements.plan_of(user_id), self.entitlements.entitlements_of(user_id), row
        )

    def cancel(self, user_id: str) -> repo.SubscriptionRow:
        with self.db.session() as s:
            live = repo.live_for_user(s, user_id)
        if live is None:
            raise NotFound("you have no subscription to cancel")
        self._client().cancel_subscription(live.id, "cancelled by the subscriber")
        with self.db.session() as s:
            row = repo.lock(s, live.id)
            assert row is not None
            if allowed(row.status, SubEvent.CANCELLED):
                self._move(s, row, apply(row.status, SubEvent.CANCELLED), self._now(), "cancel")
            found = repo.lock(s, live.id)
        self.entitlements.refresh()
        assert found is not None
        return found

    # -- PayPal's side -------------------------------------------------------------------
    def receive(self, headers: Mapping[str, str], body: bytes) -> str:
        """Verify and apply one delivery; the outcome (``applied``, ``older``,
        ``duplicate``...). A refused delivery raises ``WebhookRefused`` (400)."""
        try:
            transmission = self.verifier.verify(headers, body, self._now())
            event = Event.parse(body)
        except WebhookRefused as exc:
            _refused().inc(1, {"reason": exc.reason})
            with self.db.session() as s:
                repo.audit(
                    s,
                    "billing.webhook.refused",
                    "paypal",
                    reason=exc.reason,
                    transmission_id=str(headers.get("paypal-transmission-id", ""))[:100],
                )
            raise
        _webhooks().inc(1, {"outcome": "verified"})
        with self.db.session() as s:
            seen = repo.event_seen(s, event.id)
        if seen:
            _webhooks().inc(1, {"outcome": "duplicate"})
            return "duplicate"
        remote = self._reread(event)
        try:
            with self.db.session() as s:
                outcome, changed = self._apply(s, event, remote)
                inserted = repo.record_event(
                    s,
                    event_id=event.id,
                    event_type=event.type,
                    resource_id=event.resource_id,
                    create_time=event.create_time,
                    transmission_id=transmission.transmission_id,
                    outcome=outcome,
                    body=event.body,
                )
                if not inserted:
                    raise _Duplicate
                repo.audit(
                    s,
                    "billing.webhook.applied",
                    f"paypal-event:{event.id}",
                    event_type=event.type,
                    resource=event.resource_id,
                    outcome=outcome,
                )
        except _Duplicate:
            _webhooks().inc(1, {"outcome": "duplicate"})
            return "duplicate"
        _webhooks().inc(1, {"outcome": outcome})
        if changed:
            self.entitlements.refresh()
        return outcome

    def _reread(self, event: Event) -> PayPalSubscription | None:
        kind = _kind(event.type)
        if kind is None or not kind.is_subscription_event or event.resource_id is None:
            return None
        return self._client().get_subscription(event.resource_id)

    def _apply(self, s: Any, event: Event, remote: PayPalSubscription | None) -> tuple[str, bool]:
        kind = _kind(event.type)
        if kind is None:
            return "ignored", False
        row = None if event.resource_id is None else repo.lock(s, event.resource_id)
        if row is None:
            return "unknown-subscription", False
        if not supersedes(event.create_time, row.event_at):
            return "older", False
        if not allowed(row.status, kind):
            return "illegal", False
        target = apply(row.status, kind)
        if remote is not None and from_paypal_status(remote.status) is not target:
            log.warning("PayPal reports %s for %s after %s", remote.status, row.id, kind.value)
            return "unconfirmed", False
        paid = event.create_time if kind is SubEvent.SALE_COMPLETED else None
        changed = self._move(s, row, target, event.create_time, f"paypal-event:{event.id}", paid)
        return "applied", changed

    def _move(
        self,
        s: Any,
        row: repo.SubscriptionRow,
        target: SubStatus,
        at: datetime,
        cause: str,
        paid_at: datetime | None = None,
    ) -> bool:
        repo.set_status(s, row.id, target, at, paid_at=paid_at)
        before, after = plan_of(row.status, row.plan), plan_of(target, row.plan)
        if before != after:
            repo.record_change(s, row.user_id, before, after, cause)
        return before != after


def _kind(event_type: str) -> SubEvent | None:
    try:
        return SubEvent(event_type)
    except ValueError:
        return None
