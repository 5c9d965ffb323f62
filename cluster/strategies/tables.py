"""Tables of strategy instances and their adaptive parameters (migration ``0007_strategies``
spells them out; the drift test compares the two).

- ``strategy_instances``: what a quant runs (strategy kind, symbols, interval, the paper
  account, sizing), its guardrail and drift settings, its status and current version.
- ``strategy_param_versions``: every parameter set the instance ever ran, numbered 1, 2, 3
  ... per instance. Append-only, and a trigger refuses any number but the previous + 1, so
  the history is gap-free and ordered even if some code forgot the actor's lock.
- ``strategy_proposals``: candidate sets (from a job or by hand) with each guardrail's
  verdict and the outcome; ``outcome`` is NULL while a proposal waits for a decision.
- ``strategy_performance``: samples of backtest, walk-forward out-of-sample and live
  results (money as NUMERIC). Append-only.
- ``strategy_audit``: every promotion, refusal, rollback, flag and status change.
  Append-only.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from cluster.tables import in_check as _in
from cluster.tables import metadata
from cluster.tables import ts_column as _ts

STATUSES = ("running", "stopped", "flagged")
SAMPLE_KINDS = ("backtest", "walkforward_oos", "live")
OUTCOMES = ("promoted", "refused")
APPEND_ONLY = ("strategy_param_versions", "strategy_performance", "strategy_audit")


strategy_instances = Table(
    "strategy_instances",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("owner_user_id", UUID(as_uuid=True), ForeignKey("users.id"), nullable=False),
    Column("strategy", Text, nullable=False),
    Column("symbols", ARRAY(Text), nullable=False),
    Column("bar_interval", Text, nullable=False),
    Column("account_id", UUID(as_uuid=True), ForeignKey("accounts.id"), nullable=False),
    Column("sizing", JSONB, nullable=False),
    Column("objective", Text, nullable=False),
    Column("auto_promote", Boolean, nullable=False, server_default=text("false")),
    Column("auto_reoptimize", Boolean, nullable=False, server_default=text("false")),
    Column("guardrails", JSONB, nullable=False),
    Column("drift", JSONB, nullable=False),
    Column("reoptimize", JSONB, nullable=True),
    Column("status", Text, nullable=False),
    Column("current_version", Integer, nullable=False),
    Column("reoptimize_job_id", UUID(as_uuid=True), nullable=True),
    _ts("last_promoted_at", nullable=True),
    _ts("created_at", nullable=False),
    _ts("updated_at", nullable=False),
    CheckConstraint(_in("status", STATUSES), name="status"),
    CheckConstraint("current_version >= 1", name="current_version"),
    CheckConstraint("cardinality(symbols) >= 1", name="symbols"),
    Index("ix_strategy_instances_owner_user_id", "owner_user_id"),
)

strategy_param_versions = Table(
    "strategy_param_versions",
    metadata,
    Column("instance_id", UUID(as_uuid=True), ForeignKey("strategy_instances.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("params", JSONB, nullable=False),
    Column("source", Text, nullable=False),
    #: the version whose parameters a rollback restored
    Column("restores", Integer, nullable=True),
    #: the out-of-sample score this set was promoted on: what live results must live up to
    Column("oos_score", Double, nullable=True),
    Column("in_sample_score", Double, nullable=True),
    Column("proposal_id", BigInteger, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("by", Text, nullable=False),
    PrimaryKeyConstraint("instance_id", "version"),
    CheckConstraint("version >= 1", name="version"),
    CheckConstraint(
        "source = 'manual' OR source LIKE 'optimization:%' OR source LIKE 'rollback:%'",
        name="source",
    ),
)

strategy_proposals = Table(
    "strategy_proposals",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("instance_id", UUID(as_uuid=True), ForeignKey("strategy_instances.id"), nullable=False),
    Column("params", JSONB, nullable=False),
    Column("source", Text, nullable=False),
    Column("job_id", UUID(as_uuid=True), nullable=True),
    Column("in_sample_score", Double, nullable=True),
    Column("oos_score", Double, nullable=True),
    Column("trades", Integer, nullable=True),
    Column("verdicts", JSONB, nullable=False),
    Column("outcome", Text, nullable=True),
    Column("version", Integer, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    _ts("decided_at", nullable=True),
    Column("by", Text, nullable=True),
    CheckConstraint(_in("outcome", OUTCOMES), name="outcome"),
    Index("ix_strategy_proposals_instance_id_id", "instance_id", "id"),
)

strategy_performance = Table(
    "strategy_performance",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("instance_id", UUID(as_uuid=True), ForeignKey("strategy_instances.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("kind", Text, nullable=False),
    Column("score", Double, nullable=True),
    Column("realized_pnl", Numeric, nullable=True),
    Column("unrealized_pnl", Numeric, nullable=True),
    Column("trades", Integer, nullable=True),
    Column("drawdown_pct", Double, nullable=True),
    Column("job_id", UUID(as_uuid=True), nullable=True),
    _ts("at", nullable=False),
    CheckConstraint(_in("kind", SAMPLE_KINDS), name="kind"),
    Index("ix_strategy_performance_instance_id_id", "instance_id", "id"),
)

strategy_audit = Table(
    "strategy_audit",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("instance_id", UUID(as_uuid=True), nullable=False),
    _ts("at", nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("by", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("from_version", Integer, nullable=True),
    Column("to_version", Integer, nullable=True),
    Column("detail", JSONB, nullable=False),
    Index("ix_strategy_audit_instance_id_id", "instance_id", "id"),
)

#: The SQL side of the gap-free history (a version is the previous + 1 of its instance)
#: is the ``elson_strategy_version_next`` trigger of migration ``0007_strategies``.
