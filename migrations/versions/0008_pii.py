"""PII encrypted at rest with a blind index (issue 13).

Revision ID: 0008_pii
Revises: 0007_strategies
Create Date: 2026-12-07

Schema: ``pii_keys`` (wrapped data keys), ``users.email_index`` (keyed blind index,
unique) in place of the plaintext unique index and check on ``users.email``.

Data: every plaintext email and profile field is encrypted and the blind index filled,
in batches, all inside this revision's one transaction: a failure midway rolls the
whole revision back (schema and data as before), and running it again does it all.
Downgrade decrypts everything back to plaintext.

Keys come from the settings, like every other process: the alembic config attribute
``settings`` when the caller passes one, else the environment (``ELSON_PII_KEY``, or in
dev the data dir's ``pii-key``; with ``ELSON_PII_KEK=transit`` a Vault client of those
settings; see README "PII at rest"). Keys are resolved only when there are rows to
encrypt or decrypt.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008_pii"
down_revision = "0007_strategies"
branch_labels = None
depends_on = None


def _settings() -> Any:
    """The caller's settings, else the environment's, with secrets from their source (Vault
    when ``ELSON_VAULT_ADDR`` is set), as every other process builds them."""
    from cluster.secrets.startup import settings_from_sources

    config = op.get_context().config
    given = config.attributes.get("settings") if config is not None else None
    return given or settings_from_sources()


def _kek(settings: Any) -> Any:
    from cluster.pii.vault import transit_client
    from cluster.pii.wiring import build_kek

    vault = transit_client(settings) if settings.pii_kek == "transit" else None
    return build_kek(settings, vault)


def upgrade() -> None:
    from cluster.pii import backfill
    from cluster.pii.wiring import blind_index

    op.create_table(
        "pii_keys",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("kek", sa.Text(), nullable=False),
        sa.Column("wrapped", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('active', 'decrypt', 'retired')", name="ck_pii_keys_state"),
        sa.PrimaryKeyConstraint("id", name="pk_pii_keys"),
    )
    op.create_index(
        "uq_pii_keys_active",
        "pii_keys",
        ["state"],
        unique=True,
        postgresql_where=sa.text("state = 'active'"),
    )
    op.add_column("users", sa.Column("email_index", sa.Text(), nullable=True))
    op.drop_index("uq_users_email", table_name="users")
    op.drop_constraint("ck_users_email", "users", type_="check")
    conn = op.get_bind()
    if backfill.needs_keys(conn):
        settings = _settings()
        backfill.encrypt_plaintext(conn, _kek(settings), blind_index(settings))
    op.create_index("uq_users_email_index", "users", ["email_index"], unique=True)


def downgrade() -> None:
    from cluster.pii import backfill

    conn = op.get_bind()
    if conn.execute(sa.text("SELECT 1 FROM pii_keys LIMIT 1")).first() is not None:
        backfill.decrypt_to_plaintext(conn, _kek(_settings()))
    op.drop_index("uq_users_email_index", table_name="users")
    op.drop_column("users", "email_index")
    op.create_check_constraint(
        "ck_users_email", "users", "email = lower(email) AND position('@' in email) > 1"
    )
    op.create_index("uq_users_email", "users", ["email"], unique=True)
    op.drop_index("uq_pii_keys_active", table_name="pii_keys")
    op.drop_table("pii_keys")
