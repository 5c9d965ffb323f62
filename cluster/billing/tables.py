"""Tables of billing (migration ``0009_billing`` spells them out).

- ``billing_subscriptions``: one row per PayPal subscription; ``event_at`` is the
  ``create_time`` of the last event applied (older events never overwrite it). At most
  one live (pending, active, suspended) subscription per user.
- ``billing_webhook_events``: every verified delivery, once per PayPal event id (the
  primary key is the exactly-once guard), with what applying it did. Append-only.
- ``billing_entitlement_changes``: every change of a user's plan, append-only; its
  ``id`` is the entitlement snapshot version that processes poll.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from cluster.tables import in_check as _in
from cluster.tables import metadata
from domain.billing.subscriptions import SubStatus

STATUSES = tuple(s.value for s in SubStatus)
LIVE = ("pending", "active", "suspended")


billing_subscriptions = Table(
    "billing_subscriptions",
    metadata,
    Column("id", Text, primary_key=True),
    Column("user_id", UUID(as_uuid=True), ForeignKey("users.id"), nullable=False),
    Column("plan", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("event_at", DateTime(timezone=True), nullable=True),
    Column("last_payment_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint(_in("status", STATUSES), name="status"),
    Index("ix_billing_subscriptions_user_id", "user_id"),
    Index(
        "uq_billing_subscriptions_live_user",
        "user_id",
        unique=True,
        postgresql_where=text(_in("status", LIVE)),
    ),
)

billing_webhook_events = Table(
    "billing_webhook_events",
    metadata,
    Column("event_id", Text, primary_key=True),
    Column("event_type", Text, nullable=False),
    Column("resource_id", Text, nullable=True),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Column("transmission_id", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("body", JSONB, nullable=False),
    Index("ix_billing_webhook_events_resource_id", "resource_id"),
)

billing_entitlement_changes = Table(
    "billing_entitlement_changes",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("plan_from", Text, nullable=False),
    Column("plan_to", Text, nullable=False),
    Column("cause", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

APPEND_ONLY = ("billing_webhook_events", "billing_entitlement_changes")
