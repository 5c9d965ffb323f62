"""``pii_keys``: the data keys, each stored wrapped by the key-encryption key (KEK).

``state`` is ``active`` (the one write key, a partial unique index keeps it single),
``decrypt`` (an older version that still decrypts) or ``retired`` (refused: reads of a
field still sealed by it fail with ``PiiUnreadable``). Migration ``0008_pii`` spells the
same schema out; a test compares the two.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, DateTime, Index, Table, Text, func, text

from cluster.tables import metadata

KEY_STATES = ("active", "decrypt", "retired")

pii_keys = Table(
    "pii_keys",
    metadata,
    Column("id", Text, primary_key=True),
    Column("kek", Text, nullable=False),
    Column("wrapped", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("retired_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("state IN ('active', 'decrypt', 'retired')", name="state"),
    Index(
        "uq_pii_keys_active",
        "state",
        unique=True,
        postgresql_where=text("state = 'active'"),
    ),
)
