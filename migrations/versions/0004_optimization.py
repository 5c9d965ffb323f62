"""Optimization jobs: jobs, chunks, trials, uploads.

Revision ID: 0004_optimization
Revises: 0003_auth
Create Date: 2026-12-07

Frozen: the schema is spelled out here, not imported from ``cluster.optimization.tables``;
the drift test compares the two. Chunks, trials and uploads are append-only; jobs are
updated (status, timestamps) but never deleted.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0004_optimization"
down_revision = "0003_auth"
branch_labels = None
depends_on = None

NOW = sa.text("now()")
STATUSES = "'queued', 'running', 'cancelling', 'cancelled', 'succeeded', 'failed'"
APPEND_ONLY = ("optimization_chunks", "optimization_trials", "optimization_uploads")


# Every trial names a persisted chunk marker. A foreign key would check that row by row
# (one index probe and row lock per trial: a quarter of the cost of loading a chunk,
# measured); checked once per statement over the rows it inserted, it costs one anti-join
# per chunk. Markers are append-only (no update, no delete), so the check cannot go stale.
CHECK_TRIALS_HAVE_CHUNK = """
CREATE OR REPLACE FUNCTION elson_check_trials_have_chunk() RETURNS trigger AS $$
BEGIN
  IF EXISTS (
    SELECT 1 FROM new_trials n WHERE NOT EXISTS (
      SELECT 1 FROM optimization_chunks c
      WHERE c.job_id = n.job_id AND c.chunk_index = n.chunk_index
    )
  ) THEN
    RAISE EXCEPTION 'optimization trials without their chunk marker'
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""


def _ts(name: str, nullable: bool = True, default: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        name, sa.DateTime(timezone=True), server_default=NOW if default else None, nullable=nullable
    )


def upgrade() -> None:
    op.create_table(
        "optimization_jobs",
        sa.Column("id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("owner_user_id", pg.UUID(as_uuid=True), nullable=True),
        sa.Column("strategy", sa.Text(), nullable=False),
        sa.Column("objective", sa.Text(), nullable=False),
        sa.Column("request", pg.JSONB(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("via", sa.Text(), nullable=False),
        sa.Column("total_chunks", sa.Integer(), nullable=False),
        sa.Column("total_trials", sa.Integer(), nullable=False),
        sa.Column("chunk_size", sa.Integer(), nullable=False),
        sa.Column("n_bars", sa.Integer(), nullable=False),
        sa.Column("restarts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _ts("created_at", nullable=False, default=True),
        _ts("updated_at", nullable=False, default=True),
        _ts("started_at"),
        _ts("finished_at"),
        sa.CheckConstraint(f"status IN ({STATUSES})", name="ck_optimization_jobs_status"),
        sa.CheckConstraint("via IN ('cli', 'job', 'api')", name="ck_optimization_jobs_via"),
        sa.CheckConstraint(
            "total_chunks >= 0 AND total_trials >= 0", name="ck_optimization_jobs_totals"
        ),
        sa.CheckConstraint("chunk_size > 0 AND n_bars > 0", name="ck_optimization_jobs_sizes"),
        sa.ForeignKeyConstraint(
            ["owner_user_id"], ["users.id"], name="fk_optimization_jobs_owner_user_id_users"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_optimization_jobs"),
    )
    op.create_index(
        "ix_optimization_jobs_owner_user_id_created_at",
        "optimization_jobs",
        ["owner_user_id", "created_at"],
    )
    op.create_index("ix_optimization_jobs_status", "optimization_jobs", ["status"])

    op.create_table(
        "optimization_chunks",
        sa.Column("job_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("chunk_index", sa.Integer(), nullable=False),
        sa.Column("trials", sa.Integer(), nullable=False),
        sa.Column("elapsed_ms", sa.Double(), nullable=False),
        sa.Column("node", sa.Text(), nullable=True),
        _ts("recorded_at", nullable=False, default=True),
        sa.CheckConstraint(
            "chunk_index >= 0 AND trials >= 0", name="ck_optimization_chunks_counts"
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["optimization_jobs.id"],
            name="fk_optimization_chunks_job_id_optimization_jobs",
        ),
        sa.PrimaryKeyConstraint("job_id", "chunk_index", name="pk_optimization_chunks"),
    )

    op.create_table(
        "optimization_trials",
        sa.Column("job_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("chunk_index", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("window_index", sa.Integer(), nullable=True),
        sa.Column("params", pg.JSONB(), nullable=False),
        # the statistics in STAT_FIELDS order (cluster.optimization.copy_rows)
        sa.Column("stats", pg.ARRAY(sa.Double()), nullable=False),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("in_sample_stats", pg.ARRAY(sa.Double()), nullable=True),
        sa.Column("in_sample_score", sa.Double(), nullable=True),
        _ts("recorded_at", nullable=False, default=True),
        sa.CheckConstraint("position >= 0", name="ck_optimization_trials_position"),
        sa.PrimaryKeyConstraint("job_id", "chunk_index", "position", name="pk_optimization_trials"),
    )
    op.create_index(
        "ix_optimization_trials_job_id_score", "optimization_trials", ["job_id", "score"]
    )

    op.create_table(
        "optimization_uploads",
        sa.Column("id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("owner_user_id", pg.UUID(as_uuid=True), nullable=True),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("format", sa.Text(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("n_bars", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        _ts("created_at", nullable=False, default=True),
        sa.CheckConstraint("format IN ('csv', 'parquet')", name="ck_optimization_uploads_format"),
        sa.CheckConstraint("length(sha256) = 64", name="ck_optimization_uploads_sha256"),
        sa.ForeignKeyConstraint(
            ["owner_user_id"], ["users.id"], name="fk_optimization_uploads_owner_user_id_users"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_optimization_uploads"),
    )
    op.create_index(
        "ix_optimization_uploads_owner_user_id", "optimization_uploads", ["owner_user_id"]
    )

    op.execute(
        "CREATE TRIGGER optimization_jobs_no_delete BEFORE DELETE ON optimization_jobs "
        "FOR EACH ROW EXECUTE FUNCTION elson_forbid_mutation();"
    )
    op.execute(CHECK_TRIALS_HAVE_CHUNK)
    op.execute(
        "CREATE TRIGGER optimization_trials_have_chunk AFTER INSERT ON optimization_trials "
        "REFERENCING NEW TABLE AS new_trials "
        "FOR EACH STATEMENT EXECUTE FUNCTION elson_check_trials_have_chunk();"
    )
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION elson_forbid_mutation();"
        )


def downgrade() -> None:
    op.drop_table("optimization_uploads")
    op.drop_table("optimization_trials")
    op.drop_table("optimization_chunks")
    op.drop_table("optimization_jobs")
    op.execute("DROP FUNCTION IF EXISTS elson_check_trials_have_chunk()")
