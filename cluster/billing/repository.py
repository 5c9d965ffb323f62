"""Billing rows: subscriptions, webhook events (once per event id), plan changes, audit.

Every function takes the caller's session, so an event row and its effect commit in one
transaction (``BillingService.receive``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cluster.billing.tables import (
    LIVE,
    billing_entitlement_changes,
    billing_subscriptions,
    billing_webhook_events,
)
from cluster.tables import audit_log
from domain.billing.subscriptions import SubStatus
from domain.errors import Conflict

subs = billing_subscriptions


@dataclass(frozen=True)
class SubscriptionRow:
    id: str
    user_id: str
    plan: str
    status: SubStatus
    event_at: datetime | None
    last_payment_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Any) -> SubscriptionRow:
        return cls(
            row.id,
            str(row.user_id),
            row.plan,
            SubStatus(row.status),
            row.event_at,
            row.last_payment_at,
            row.created_at,
            row.updated_at,
        )


def audit(s: Session, action: str, subject: str, **detail: Any) -> None:
    s.execute(
        insert(audit_log).values(actor="billing", action=action, subject=subject, detail=detail)
    )


def latest_for_user(s: Session, user_id: str) -> SubscriptionRow | None:
    """The live subscription, else the newest ended one."""
    row = s.execute(
        select(subs)
        .where(subs.c.user_id == uuid.UUID(user_id))
        .order_by(subs.c.status.in_(LIVE).desc(), subs.c.created_at.desc())
        .limit(1)
    ).first()
    return None if row is None else SubscriptionRow.of(row)


def live_for_user(s: Session, user_id: str, *, lock: bool = False) -> SubscriptionRow | None:
    q = select(subs).where(subs.c.user_id == uuid.UUID(user_id), subs.c.status.in_(LIVE))
    row = s.execute(q.with_for_update() if lock else q).first()
    return None if row is None else SubscriptionRow.of(row)


def lock(s: Session, subscription_id: str) -> SubscriptionRow | None:
    row = s.execute(select(subs).where(subs.c.id == subscription_id).with_for_update()).first()
    return None if row is None else SubscriptionRow.of(row)


def create(s: Session, subscription_id: str, user_id: str, plan: str) -> SubscriptionRow:
    try:
        with s.begin_nested():
            s.execute(
                insert(subs).values(
                    id=subscription_id,
                    user_id=uuid.UUID(user_id),
                    plan=plan,
                    status=SubStatus.PENDING.value,
                )
            )
    except IntegrityError as exc:
        raise Conflict("you already have a subscription that is not ended") from exc
    found = lock(s, subscription_id)
    assert found is not None
    return found


def set_status(
    s: Session,
    subscription_id: str,
    status: SubStatus,
    event_at: datetime,
    *,
    paid_at: datetime | None = None,
) -> None:
    values: dict[str, Any] = {
        "status": status.value,
        "event_at": event_at,
        "updated_at": func.now(),
    }
    if paid_at is not None:
        values["last_payment_at"] = paid_at
    s.execute(update(subs).where(subs.c.id == subscription_id).values(**values))


def event_seen(s: Session, event_id: str) -> bool:
    q = select(billing_webhook_events.c.event_id).where(
        billing_webhook_events.c.event_id == event_id
    )
    return s.execute(q).first() is not None


def record_event(
    s: Session,
    *,
    event_id: str,
    event_type: str,
    resource_id: str | None,
    create_time: datetime,
    transmission_id: str,
    outcome: str,
    body: dict[str, Any],
) -> bool:
    """Insert the event row; False when the event id is already stored (a redelivery)."""
    stmt = (
        pg_insert(billing_webhook_events)
        .values(
            event_id=event_id,
            event_type=event_type,
            resource_id=resource_id,
            create_time=create_time,
            transmission_id=transmission_id,
            outcome=outcome,
            body=body,
        )
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(billing_webhook_events.c.event_id)
    )
    return s.execute(stmt).first() is not None


def record_change(s: Session, user_id: str, plan_from: str, plan_to: str, cause: str) -> None:
    s.execute(
        insert(billing_entitlement_changes).values(
            user_id=uuid.UUID(user_id), plan_from=plan_from, plan_to=plan_to, cause=cause
        )
    )
    audit(
        s,
        "billing.entitlements.changed",
        f"user:{user_id}",
        plan_from=plan_from,
        plan_to=plan_to,
        cause=cause,
    )


def version(s: Session) -> int:
    return int(
        s.execute(select(func.coalesce(func.max(billing_entitlement_changes.c.id), 0))).scalar_one()
    )


def active_plans(s: Session) -> dict[str, str]:
    """user id -> plan of every active subscription (everyone else is ``free``)."""
    rows = s.execute(
        select(subs.c.user_id, subs.c.plan).where(subs.c.status == SubStatus.ACTIVE.value)
    )
    return {str(r.user_id): r.plan for r in rows}
