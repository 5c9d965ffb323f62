"""Tables of auth and accounts: sessions, refresh-token families, profiles, account config.

- ``sessions`` is the truth for revocation: every request checks ``revoked_at`` here.
- ``refresh_tokens`` keeps only SHA-256 hashes; ``session_id`` is the family, ``parent_id``
  the token it replaced; ``used_at`` marks a rotated token, so presenting it again is
  reuse (the whole session is revoked).
- ``profiles`` holds PII apart from ``users`` so few code paths touch it. The PII columns
  are ``Text`` written through a ``FieldCipher`` (AES-256-GCM, ``cluster/accounts/cipher.py``)
  and ``cipher`` names the data key that wrote the row (``k<N>``; ``identity`` for
  plaintext before migration ``0008_pii``), so re-encryption finds old rows. One row per
  user (``account_id`` NULL) plus one per custodial account (the minor's details): the
  unique index treats NULLs as equal.
- ``account_config`` holds the admin's ceilings and the user's own limits under them; a
  CHECK keeps a user value from ever exceeding its ceiling, whatever code writes it.

Migration ``0003_auth`` spells the same schema out; a test compares the two.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Numeric,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID

from cluster.tables import metadata

sessions = Table(
    "sessions",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("user_id", UUID(as_uuid=True), ForeignKey("users.id"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_seen_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("revoked_reason", Text, nullable=True),
    Column("user_agent", Text, nullable=True),
    Column("ip", Text, nullable=True),
    Index("ix_sessions_user_id", "user_id"),
    Index("ix_sessions_revoked_at", "revoked_at"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column(
        "session_id",
        UUID(as_uuid=True),
        ForeignKey("sessions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("parent_id", UUID(as_uuid=True), nullable=True),
    Column("token_hash", Text, nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("length(token_hash) = 64", name="token_hash"),
    Index("uq_refresh_tokens_token_hash", "token_hash", unique=True),
    Index("ix_refresh_tokens_session_id", "session_id"),
    Index("ix_refresh_tokens_expires_at", "expires_at"),
)

profiles = Table(
    "profiles",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("user_id", UUID(as_uuid=True), ForeignKey("users.id"), nullable=False),
    Column("account_id", UUID(as_uuid=True), ForeignKey("accounts.id"), nullable=True),
    Column("legal_name", Text, nullable=False),
    Column("date_of_birth", Text, nullable=False),
    Column("tax_id", Text, nullable=True),
    Column("phone", Text, nullable=True),
    Column("address", Text, nullable=True),
    Column("cipher", Text, nullable=False, server_default="identity"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index(
        "uq_profiles_user_id_account_id",
        "user_id",
        "account_id",
        unique=True,
        postgresql_nulls_not_distinct=True,
    ),
    Index("ix_profiles_account_id", "account_id"),
)

account_config = Table(
    "account_config",
    metadata,
    Column("account_id", UUID(as_uuid=True), ForeignKey("accounts.id"), primary_key=True),
    Column("ceiling_max_order_notional", Numeric(20, 2), nullable=False),
    Column("ceiling_max_position_notional", Numeric(20, 2), nullable=False),
    Column("extended_hours_permitted", Boolean, nullable=False, server_default=text("true")),
    Column("max_order_notional", Numeric(20, 2), nullable=True),
    Column("max_position_notional", Numeric(20, 2), nullable=True),
    Column("allow_extended_hours", Boolean, nullable=False, server_default=text("false")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint(
        "ceiling_max_order_notional > 0 AND ceiling_max_position_notional > 0", name="ceilings"
    ),
    CheckConstraint(
        "max_order_notional IS NULL OR "
        "(max_order_notional > 0 AND max_order_notional <= ceiling_max_order_notional)",
        name="max_order_notional",
    ),
    CheckConstraint(
        "max_position_notional IS NULL OR "
        "(max_position_notional > 0 AND max_position_notional <= ceiling_max_position_notional)",
        name="max_position_notional",
    ),
    CheckConstraint("NOT allow_extended_hours OR extended_hours_permitted", name="extended_hours"),
)
