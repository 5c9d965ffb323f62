"""Tables of the risk engine (migration ``0006_risk`` spells them out).

- ``risk_states``: the trading state of each scope that is not ``active`` (a scope back to
  ``active`` keeps its row, with the reason it was resumed).
- ``risk_locks``: protections and manual locks; released locks keep their row
  (``released_at``), never deleted.
- ``risk_breakers``: each broker breaker's persisted state (``domain.breaker`` record).
- ``risk_limits``: configured limits per scope (order notional, position, rate, losses).
- ``risk_protections`` / ``risk_watermarks``: loss protections per scope and the equity
  marks they measure from (``cluster.risk.protections``).
- ``risk_transitions``: the audit of every change above (append-only); its ``id`` is the
  snapshot version replicas compare.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Identity,
    Index,
    Numeric,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

from cluster.tables import in_check as _in
from cluster.tables import metadata

STATES = ("active", "reducing", "halted")
KINDS = ("state", "lock", "breaker", "limits")


risk_states = Table(
    "risk_states",
    metadata,
    Column("scope", Text, primary_key=True),
    Column("state", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("since", DateTime(timezone=True), nullable=False),
    Column("by", Text, nullable=False),
    CheckConstraint(_in("state", STATES), name="state"),
)

risk_locks = Table(
    "risk_locks",
    metadata,
    Column("id", Text, primary_key=True),
    Column("scope", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("until", DateTime(timezone=True), nullable=True),
    Column("by", Text, nullable=False),
    Column("released_at", DateTime(timezone=True), nullable=True),
    Column("released_by", Text, nullable=True),
    Index("ix_risk_locks_scope", "scope"),
)

risk_breakers = Table(
    "risk_breakers",
    metadata,
    Column("name", Text, primary_key=True),
    Column("state", Text, nullable=False),
    Column("record", JSONB, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

risk_limits = Table(
    "risk_limits",
    metadata,
    Column("scope", Text, primary_key=True),
    Column("limits", JSONB, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("by", Text, nullable=False),
)

risk_protections = Table(
    "risk_protections",
    metadata,
    Column("scope", Text, primary_key=True),
    Column("settings", JSONB, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("by", Text, nullable=False),
)

#: what the loss protections measure from, per scope, so a restart does not reset them
risk_watermarks = Table(
    "risk_watermarks",
    metadata,
    Column("scope", Text, primary_key=True),
    #: the ledger's last reset (accounts): a paper reset restarts the watermarks
    Column("epoch", BigInteger, nullable=False),
    Column("day_start", DateTime(timezone=True), nullable=False),
    Column("day_start_equity", Numeric, nullable=False),
    Column("peak_equity", Numeric, nullable=False),
    #: the day start of the day whose daily loss already acted (acts once a day)
    Column("daily_breached_on", DateTime(timezone=True), nullable=True),
    #: the peak the drawdown acted from (acts again only from a higher peak)
    Column("drawdown_breached_peak", Numeric, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

risk_transitions = Table(
    "risk_transitions",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("by", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("from_state", Text, nullable=True),
    Column("to_state", Text, nullable=False),
    Column("reason", Text, nullable=False),
    CheckConstraint(_in("kind", KINDS), name="kind"),
    Index("ix_risk_transitions_subject_id", "subject", "id"),
)
APPEND_ONLY = ("risk_transitions",)
