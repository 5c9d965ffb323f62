"""Auth: sessions, refresh-token families, profiles, account configuration.

Revision ID: 0003_auth
Revises: 0002_orders
Create Date: 2026-11-30

Spelled out (frozen) rather than imported from ``cluster.auth.tables``; the drift test
compares the two.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0003_auth"
down_revision = "0002_orders"
branch_labels = None
depends_on = None

NOW = sa.text("now()")


def _ts(name: str, nullable: bool = False, default: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        name, sa.DateTime(timezone=True), server_default=NOW if default else None, nullable=nullable
    )


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", pg.UUID(as_uuid=True), nullable=False),
        _ts("created_at", default=True),
        _ts("last_seen_at", default=True),
        _ts("expires_at"),
        _ts("revoked_at", nullable=True),
        sa.Column("revoked_reason", sa.Text(), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("ip", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_sessions_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
    )
    op.create_index("ix_sessions_user_id", "sessions", ["user_id"])
    op.create_index("ix_sessions_revoked_at", "sessions", ["revoked_at"])

    op.create_table(
        "refresh_tokens",
        sa.Column("id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("session_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("parent_id", pg.UUID(as_uuid=True), nullable=True),
        sa.Column("token_hash", sa.Text(), nullable=False),
        _ts("issued_at"),
        _ts("expires_at"),
        _ts("used_at", nullable=True),
        sa.CheckConstraint("length(token_hash) = 64", name="ck_refresh_tokens_token_hash"),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name="fk_refresh_tokens_session_id_sessions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_refresh_tokens"),
    )
    op.create_index("uq_refresh_tokens_token_hash", "refresh_tokens", ["token_hash"], unique=True)
    op.create_index("ix_refresh_tokens_session_id", "refresh_tokens", ["session_id"])
    op.create_index("ix_refresh_tokens_expires_at", "refresh_tokens", ["expires_at"])

    op.create_table(
        "profiles",
        sa.Column("id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("account_id", pg.UUID(as_uuid=True), nullable=True),
        sa.Column("legal_name", sa.Text(), nullable=False),
        sa.Column("date_of_birth", sa.Text(), nullable=False),
        sa.Column("tax_id", sa.Text(), nullable=True),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("cipher", sa.Text(), server_default="identity", nullable=False),
        _ts("created_at", default=True),
        _ts("updated_at", default=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_profiles_user_id_users"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_profiles_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_profiles"),
    )
    op.create_index(
        "uq_profiles_user_id_account_id",
        "profiles",
        ["user_id", "account_id"],
        unique=True,
        postgresql_nulls_not_distinct=True,
    )
    op.create_index("ix_profiles_account_id", "profiles", ["account_id"])

    op.create_table(
        "account_config",
        sa.Column("account_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("ceiling_max_order_notional", sa.Numeric(20, 2), nullable=False),
        sa.Column("ceiling_max_position_notional", sa.Numeric(20, 2), nullable=False),
        sa.Column(
            "extended_hours_permitted", sa.Boolean(), server_default=sa.text("true"), nullable=False
        ),
        sa.Column("max_order_notional", sa.Numeric(20, 2), nullable=True),
        sa.Column("max_position_notional", sa.Numeric(20, 2), nullable=True),
        sa.Column(
            "allow_extended_hours", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        _ts("updated_at", default=True),
        sa.CheckConstraint(
            "ceiling_max_order_notional > 0 AND ceiling_max_position_notional > 0",
            name="ck_account_config_ceilings",
        ),
        sa.CheckConstraint(
            "max_order_notional IS NULL OR "
            "(max_order_notional > 0 AND max_order_notional <= ceiling_max_order_notional)",
            name="ck_account_config_max_order_notional",
        ),
        sa.CheckConstraint(
            "max_position_notional IS NULL OR "
            "(max_position_notional > 0 AND max_position_notional <= "
            "ceiling_max_position_notional)",
            name="ck_account_config_max_position_notional",
        ),
        sa.CheckConstraint(
            "NOT allow_extended_hours OR extended_hours_permitted",
            name="ck_account_config_extended_hours",
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_account_config_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint("account_id", name="pk_account_config"),
    )


def downgrade() -> None:
    op.drop_table("account_config")
    op.drop_table("profiles")
    op.drop_table("refresh_tokens")
    op.drop_table("sessions")
