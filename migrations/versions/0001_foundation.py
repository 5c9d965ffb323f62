"""Foundation: users, accounts, append-only audit log.

Revision ID: 0001_foundation
Revises:
Create Date: 2026-11-30

Revisions are frozen: they spell out their tables instead of importing ``cluster.tables``,
so a later change to the metadata never rewrites history. A test compares the migrated
schema with the metadata so the two cannot drift apart.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None

NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), server_default="user", nullable=False),
        sa.Column("disabled", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.CheckConstraint("role IN ('user', 'quant', 'admin')", name="ck_users_role"),
        sa.CheckConstraint(
            "email = lower(email) AND position('@' in email) > 1", name="ck_users_email"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
    )
    op.create_index("uq_users_email", "users", ["email"], unique=True)
    op.create_table(
        "accounts",
        sa.Column("id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("owner_user_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="active", nullable=False),
        sa.Column("currency", sa.Text(), server_default="USD", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.CheckConstraint(
            "type IN ('individual', 'joint', 'ira', 'custodial')", name="ck_accounts_type"
        ),
        sa.CheckConstraint(
            "status IN ('active', 'restricted', 'closed')", name="ck_accounts_status"
        ),
        sa.CheckConstraint("currency = 'USD'", name="ck_accounts_currency"),
        sa.ForeignKeyConstraint(
            ["owner_user_id"], ["users.id"], name="fk_accounts_owner_user_id_users"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
    )
    op.create_index("ix_accounts_owner_user_id", "accounts", ["owner_user_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("detail", pg.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.CheckConstraint("length(action) > 0", name="ck_audit_log_action"),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_subject_at", "audit_log", ["subject", "at"])
    op.execute(
        """
        CREATE OR REPLACE FUNCTION elson_forbid_mutation() RETURNS trigger AS $$
        BEGIN
          RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'insufficient_privilege';
        END;
        $$ LANGUAGE plpgsql;
        """
    )
    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION elson_forbid_mutation();"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
    op.drop_table("audit_log")
    op.drop_table("accounts")
    op.drop_table("users")
    op.execute("DROP FUNCTION IF EXISTS elson_forbid_mutation()")
