"""Plans, subscriptions, PayPal webhook events (issue 14).

Revision ID: 0009_billing
Revises: 0008_pii
Create Date: 2026-12-07

Frozen: the schema is spelled out here, not imported from the table modules; the drift
test compares the two (``cluster/billing/tables.py``).

- ``billing_subscriptions``: one row per PayPal subscription, at most one live per user.
- ``billing_webhook_events``: each verified PayPal event once (primary key = event id),
  append-only.
- ``billing_entitlement_changes``: every plan change, append-only; ``id`` is the version.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0009_billing"
down_revision = "0008_pii"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
APPEND_ONLY = ("billing_webhook_events", "billing_entitlement_changes")


def upgrade() -> None:
    op.create_table(
        "billing_subscriptions",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("user_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("plan", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("event_at", TS, nullable=True),
        sa.Column("last_payment_at", TS, nullable=True),
        sa.Column("created_at", TS, server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", TS, server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'active', 'suspended', 'cancelled', 'expired')",
            name="ck_billing_subscriptions_status",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_billing_subscriptions_user_id_users"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_billing_subscriptions"),
    )
    op.create_index("ix_billing_subscriptions_user_id", "billing_subscriptions", ["user_id"])
    op.create_index(
        "uq_billing_subscriptions_live_user",
        "billing_subscriptions",
        ["user_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('pending', 'active', 'suspended')"),
    )
    op.create_table(
        "billing_webhook_events",
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("resource_id", sa.Text(), nullable=True),
        sa.Column("create_time", TS, nullable=False),
        sa.Column("transmission_id", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("received_at", TS, server_default=sa.text("now()"), nullable=False),
        sa.Column("body", pg.JSONB(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_billing_webhook_events"),
    )
    op.create_index(
        "ix_billing_webhook_events_resource_id", "billing_webhook_events", ["resource_id"]
    )
    op.create_table(
        "billing_entitlement_changes",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("user_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("plan_from", sa.Text(), nullable=False),
        sa.Column("plan_to", sa.Text(), nullable=False),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("at", TS, server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_billing_entitlement_changes"),
    )
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION elson_forbid_mutation();"
        )


def downgrade() -> None:
    for table in APPEND_ONLY:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    op.drop_table("billing_entitlement_changes")
    op.drop_table("billing_webhook_events")
    op.drop_index("uq_billing_subscriptions_live_user", table_name="billing_subscriptions")
    op.drop_index("ix_billing_subscriptions_user_id", table_name="billing_subscriptions")
    op.drop_table("billing_subscriptions")
