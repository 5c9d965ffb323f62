"""Tables of optimization jobs, on the shared ``cluster.tables.metadata``.

- ``optimization_jobs``: one row per job; its status changes only through
  ``domain.optimization.next_status`` (the repository applies it under a row lock).
- ``optimization_chunks``: one row per finished chunk, unique per (job, chunk), written in
  the same transaction as the chunk's trials: a chunk is persisted whole or not at all,
  and a resumed job never runs a persisted chunk again. Append-only.
- ``optimization_trials``: every backtest result: parameters (JSONB), the statistics as a
  ``float8[]`` in ``domain.backtest.STAT_FIELDS`` order (``copy_rows``), the objective
  score; walk-forward rows carry their window and in-sample side. Append-only: no
  reachable code deletes a trial, and a trigger refuses it.
- ``optimization_uploads``: bar files uploaded through the API, kept as blobs. Append-only.

Migration ``0004_optimization`` spells the same schema out; the drift test compares them.
"""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    CheckConstraint,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from cluster.tables import in_check as _in
from cluster.tables import metadata
from cluster.tables import ts_column as _ts
from domain.optimization import JobStatus

STATUSES = tuple(s.value for s in JobStatus)
VIA = ("cli", "job", "api")
APPEND_ONLY = ("optimization_chunks", "optimization_trials", "optimization_uploads")


optimization_jobs = Table(
    "optimization_jobs",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("owner_user_id", UUID(as_uuid=True), ForeignKey("users.id"), nullable=True),
    Column("strategy", Text, nullable=False),
    Column("objective", Text, nullable=False),
    Column("request", JSONB, nullable=False),
    Column("status", Text, nullable=False),
    Column("via", Text, nullable=False),
    Column("total_chunks", Integer, nullable=False),
    Column("total_trials", Integer, nullable=False),
    Column("chunk_size", Integer, nullable=False),
    Column("n_bars", Integer, nullable=False),
    Column("restarts", Integer, nullable=False, server_default=text("0")),
    Column("error", Text, nullable=True),
    _ts("created_at", nullable=False, default=True),
    _ts("updated_at", nullable=False, default=True),
    _ts("started_at"),
    _ts("finished_at"),
    CheckConstraint(_in("status", STATUSES), name="status"),
    CheckConstraint(_in("via", VIA), name="via"),
    CheckConstraint("total_chunks >= 0 AND total_trials >= 0", name="totals"),
    CheckConstraint("chunk_size > 0 AND n_bars > 0", name="sizes"),
    Index("ix_optimization_jobs_owner_user_id_created_at", "owner_user_id", "created_at"),
    Index("ix_optimization_jobs_status", "status"),
)

optimization_chunks = Table(
    "optimization_chunks",
    metadata,
    Column("job_id", UUID(as_uuid=True), ForeignKey("optimization_jobs.id"), nullable=False),
    Column("chunk_index", Integer, nullable=False),
    Column("trials", Integer, nullable=False),
    Column("elapsed_ms", Double, nullable=False),
    Column("node", Text, nullable=True),
    _ts("recorded_at", nullable=False, default=True),
    PrimaryKeyConstraint("job_id", "chunk_index"),
    CheckConstraint("chunk_index >= 0 AND trials >= 0", name="counts"),
)

optimization_trials = Table(
    "optimization_trials",
    metadata,
    # the natural key is the primary key: one index fewer to maintain per trial loaded
    Column("job_id", UUID(as_uuid=True), primary_key=True),
    Column("chunk_index", Integer, primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("window_index", Integer, nullable=True),
    Column("params", JSONB, nullable=False),
    # ``STAT_FIELDS`` order (``copy_rows``): binary-COPY-loaded without parsing; an empty
    # array for a walk-forward window that chose nothing
    Column("stats", ARRAY(Double), nullable=False),
    Column("score", Double, nullable=True),
    Column("in_sample_stats", ARRAY(Double), nullable=True),
    Column("in_sample_score", Double, nullable=True),
    _ts("recorded_at", nullable=False, default=True),
    # no row-by-row foreign key to the chunk marker: the migration checks it once per
    # statement (trigger ``optimization_trials_have_chunk``), a quarter of the load cost less
    CheckConstraint("position >= 0", name="position"),
    Index("ix_optimization_trials_job_id_score", "job_id", "score"),
)

optimization_uploads = Table(
    "optimization_uploads",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("owner_user_id", UUID(as_uuid=True), ForeignKey("users.id"), nullable=True),
    Column("filename", Text, nullable=False),
    Column("format", Text, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("n_bars", Integer, nullable=False),
    Column("content", LargeBinary, nullable=False),
    _ts("created_at", nullable=False, default=True),
    CheckConstraint("format IN ('csv', 'parquet')", name="format"),
    CheckConstraint("length(sha256) = 64", name="sha256"),
    Index("ix_optimization_uploads_owner_user_id", "owner_user_id"),
)
