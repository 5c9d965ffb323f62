"""Tables of the durable event log (migration ``0005_order_path`` spells them out).

``event_streams.head`` is the last sequence number handed out in a stream; a writer takes
it with ``UPDATE ... RETURNING`` in its own transaction, so numbers are gap-free and a
stream's events commit in sequence order (the row lock is held until commit).
``events.published_at`` is stamped by the relay once Redis holds the event.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Identity,
    Index,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from cluster.tables import metadata

event_streams = Table(
    "event_streams",
    metadata,
    Column("stream", Text, primary_key=True),
    Column("head", BigInteger, nullable=False),
    CheckConstraint("head >= 0", name="head"),
)

events = Table(
    "events",
    metadata,
    Column("id", BigInteger, Identity(), nullable=False),
    Column("stream", Text, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("type", Text, nullable=False),
    Column("data", JSONB, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("published_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("seq > 0", name="seq"),
    PrimaryKeyConstraint("stream", "seq"),
    UniqueConstraint("id"),
    Index("ix_events_unpublished", "id", postgresql_where=text("published_at IS NULL")),
    Index("ix_events_at", "at"),
)
