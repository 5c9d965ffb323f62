"""Strategy instances, versioned parameters, proposals, performance history (issue 12).

Revision ID: 0007_strategies
Revises: 0006_risk
Create Date: 2026-12-07

Frozen: the schema is spelled out here, not imported from the table modules; the drift
test compares the two (``cluster.strategies.tables``).

- ``strategy_instances``: one row per strategy instance, with its current version.
- ``strategy_param_versions``: append-only; a trigger refuses a version that is not the
  instance's previous + 1, so the history is gap-free whatever code writes it.
- ``strategy_proposals``: candidates with their guardrail verdicts and outcome.
- ``strategy_performance`` / ``strategy_audit``: append-only samples and audit.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0007_strategies"
down_revision = "0006_risk"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
UUID = pg.UUID(as_uuid=True)
APPEND_ONLY = ("strategy_param_versions", "strategy_performance", "strategy_audit")

NEXT_VERSION_FUNCTION = """
CREATE OR REPLACE FUNCTION elson_strategy_version_next() RETURNS trigger AS $$
DECLARE last integer;
BEGIN
  SELECT max(version) INTO last FROM strategy_param_versions
   WHERE instance_id = NEW.instance_id;
  IF NEW.version <> coalesce(last, 0) + 1 THEN
    RAISE EXCEPTION 'strategy version % of % is not % + 1', NEW.version, NEW.instance_id,
      coalesce(last, 0) USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


def upgrade() -> None:
    op.create_table(
        "strategy_instances",
        sa.Column("id", UUID, nullable=False),
        sa.Column("owner_user_id", UUID, nullable=False),
        sa.Column("strategy", sa.Text(), nullable=False),
        sa.Column("symbols", pg.ARRAY(sa.Text()), nullable=False),
        sa.Column("bar_interval", sa.Text(), nullable=False),
        sa.Column("account_id", UUID, nullable=False),
        sa.Column("sizing", pg.JSONB(), nullable=False),
        sa.Column("objective", sa.Text(), nullable=False),
        sa.Column("auto_promote", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("auto_reoptimize", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("guardrails", pg.JSONB(), nullable=False),
        sa.Column("drift", pg.JSONB(), nullable=False),
        sa.Column("reoptimize", pg.JSONB(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("reoptimize_job_id", UUID, nullable=True),
        sa.Column("last_promoted_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint(
            "status IN ('running', 'stopped', 'flagged')", name="ck_strategy_instances_status"
        ),
        sa.CheckConstraint("current_version >= 1", name="ck_strategy_instances_current_version"),
        sa.CheckConstraint("cardinality(symbols) >= 1", name="ck_strategy_instances_symbols"),
        sa.ForeignKeyConstraint(
            ["owner_user_id"], ["users.id"], name="fk_strategy_instances_owner_user_id_users"
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_strategy_instances_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_strategy_instances"),
    )
    op.create_index("ix_strategy_instances_owner_user_id", "strategy_instances", ["owner_user_id"])
    op.create_table(
        "strategy_param_versions",
        sa.Column("instance_id", UUID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("params", pg.JSONB(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("restores", sa.Integer(), nullable=True),
        sa.Column("oos_score", sa.Double(), nullable=True),
        sa.Column("in_sample_score", sa.Double(), nullable=True),
        sa.Column("proposal_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", TS, server_default=sa.text("now()"), nullable=False),
        sa.Column("by", sa.Text(), nullable=False),
        sa.CheckConstraint("version >= 1", name="ck_strategy_param_versions_version"),
        sa.CheckConstraint(
            "source = 'manual' OR source LIKE 'optimization:%' OR source LIKE 'rollback:%'",
            name="ck_strategy_param_versions_source",
        ),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["strategy_instances.id"],
            name="fk_strategy_param_versions_instance_id_strategy_instances",
        ),
        sa.PrimaryKeyConstraint("instance_id", "version", name="pk_strategy_param_versions"),
    )
    op.create_table(
        "strategy_proposals",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("instance_id", UUID, nullable=False),
        sa.Column("params", pg.JSONB(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("job_id", UUID, nullable=True),
        sa.Column("in_sample_score", sa.Double(), nullable=True),
        sa.Column("oos_score", sa.Double(), nullable=True),
        sa.Column("trades", sa.Integer(), nullable=True),
        sa.Column("verdicts", pg.JSONB(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("created_at", TS, server_default=sa.text("now()"), nullable=False),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("by", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "outcome IN ('promoted', 'refused')", name="ck_strategy_proposals_outcome"
        ),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["strategy_instances.id"],
            name="fk_strategy_proposals_instance_id_strategy_instances",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_strategy_proposals"),
    )
    op.create_index(
        "ix_strategy_proposals_instance_id_id", "strategy_proposals", ["instance_id", "id"]
    )
    op.create_table(
        "strategy_performance",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("instance_id", UUID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("realized_pnl", sa.Numeric(), nullable=True),
        sa.Column("unrealized_pnl", sa.Numeric(), nullable=True),
        sa.Column("trades", sa.Integer(), nullable=True),
        sa.Column("drawdown_pct", sa.Double(), nullable=True),
        sa.Column("job_id", UUID, nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.CheckConstraint(
            "kind IN ('backtest', 'walkforward_oos', 'live')", name="ck_strategy_performance_kind"
        ),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["strategy_instances.id"],
            name="fk_strategy_performance_instance_id_strategy_instances",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_strategy_performance"),
    )
    op.create_index(
        "ix_strategy_performance_instance_id_id", "strategy_performance", ["instance_id", "id"]
    )
    op.create_table(
        "strategy_audit",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("instance_id", UUID, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("recorded_at", TS, server_default=sa.text("now()"), nullable=False),
        sa.Column("by", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("to_version", sa.Integer(), nullable=True),
        sa.Column("detail", pg.JSONB(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_strategy_audit"),
    )
    op.create_index("ix_strategy_audit_instance_id_id", "strategy_audit", ["instance_id", "id"])
    op.execute(NEXT_VERSION_FUNCTION)
    op.execute(
        "CREATE TRIGGER strategy_param_versions_next BEFORE INSERT ON strategy_param_versions "
        "FOR EACH ROW EXECUTE FUNCTION elson_strategy_version_next();"
    )
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION elson_forbid_mutation();"
        )


def downgrade() -> None:
    for table in (
        "strategy_audit",
        "strategy_performance",
        "strategy_proposals",
        "strategy_param_versions",
        "strategy_instances",
    ):
        op.drop_table(table)
    op.execute("DROP FUNCTION IF EXISTS elson_strategy_version_next()")
