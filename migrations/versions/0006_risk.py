"""The risk engine: trading states, locks, breakers, limits, their audit; the reject code.

Revision ID: 0006_risk
Revises: 0005_order_path
Create Date: 2026-12-07

Frozen: the schema is spelled out here, not imported from the table modules; the drift
test compares the two.

- ``risk_states`` / ``risk_locks`` / ``risk_breakers`` / ``risk_limits``: what the
  ``RiskEngine`` actor rebuilds from after a restart. Locks are released, never deleted.
- ``risk_protections`` / ``risk_watermarks``: loss protections per scope and the equity
  marks (day start, peak) they measure from, kept across restarts.
- ``risk_transitions``: every change, append-only (a trigger refuses UPDATE and DELETE);
  its ``id`` is the snapshot version.
- ``orders.reject_code``: the stable reason code of a rejected order (``domain.risk``),
  beside the human ``reject_reason``; backfilled from the old ``slug: text`` reasons.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0006_risk"
down_revision = "0005_order_path"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)

BACKFILL = """
UPDATE orders SET reject_code = CASE split_part(reject_reason, ':', 1)
  WHEN 'insufficient-buying-power' THEN 'insufficient_buying_power'
  WHEN 'insufficient-position' THEN 'insufficient_position'
  WHEN 'quote-required' THEN 'price_unavailable'
  WHEN 'opg-window-closed' THEN 'order_window_closed'
  WHEN 'cls-window-closed' THEN 'order_window_closed'
  ELSE CASE WHEN reject_reason LIKE 'account-%' THEN 'account_inactive' END
END
WHERE status = 'rejected' AND reject_reason IS NOT NULL
"""


def upgrade() -> None:
    op.create_table(
        "risk_states",
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("since", TS, nullable=False),
        sa.Column("by", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "state IN ('active', 'reducing', 'halted')", name="ck_risk_states_state"
        ),
        sa.PrimaryKeyConstraint("scope", name="pk_risk_states"),
    )
    op.create_table(
        "risk_locks",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("until", TS, nullable=True),
        sa.Column("by", sa.Text(), nullable=False),
        sa.Column("released_at", TS, nullable=True),
        sa.Column("released_by", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_risk_locks"),
    )
    op.create_index("ix_risk_locks_scope", "risk_locks", ["scope"])
    op.create_table(
        "risk_breakers",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("record", pg.JSONB(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_risk_breakers"),
    )
    op.create_table(
        "risk_limits",
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("limits", pg.JSONB(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("by", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("scope", name="pk_risk_limits"),
    )
    op.create_table(
        "risk_protections",
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("settings", pg.JSONB(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("by", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("scope", name="pk_risk_protections"),
    )
    op.create_table(
        "risk_watermarks",
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("day_start", TS, nullable=False),
        sa.Column("day_start_equity", sa.Numeric(), nullable=False),
        sa.Column("peak_equity", sa.Numeric(), nullable=False),
        sa.Column("daily_breached_on", TS, nullable=True),
        sa.Column("drawdown_breached_peak", sa.Numeric(), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("scope", name="pk_risk_watermarks"),
    )
    op.create_table(
        "risk_transitions",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("recorded_at", TS, server_default=sa.text("now()"), nullable=False),
        sa.Column("by", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("from_state", sa.Text(), nullable=True),
        sa.Column("to_state", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('state', 'lock', 'breaker', 'limits')", name="ck_risk_transitions_kind"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_risk_transitions"),
    )
    op.create_index("ix_risk_transitions_subject_id", "risk_transitions", ["subject", "id"])
    op.execute(
        "CREATE TRIGGER risk_transitions_append_only BEFORE UPDATE OR DELETE "
        "ON risk_transitions FOR EACH ROW EXECUTE FUNCTION elson_forbid_mutation();"
    )
    op.add_column("orders", sa.Column("reject_code", sa.Text(), nullable=True))
    op.execute(BACKFILL)


def downgrade() -> None:
    op.drop_column("orders", "reject_code")
    op.execute("DROP TRIGGER IF EXISTS risk_transitions_append_only ON risk_transitions")
    for table in (
        "risk_transitions",
        "risk_watermarks",
        "risk_protections",
        "risk_limits",
        "risk_breakers",
        "risk_locks",
        "risk_states",
    ):
        op.drop_table(table)
