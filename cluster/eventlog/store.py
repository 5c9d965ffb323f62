"""Write events with the change that produced them; read them back by sequence number.

``append`` runs inside the caller's transaction: for each stream it takes the next
sequence numbers from ``event_streams`` (``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``,
which row-locks the stream's counter until commit) and inserts the events. So numbers are
gap-free per stream, a stream's events commit in sequence order, and an event exists if
and only if its change committed. Streams are locked in sorted order, so two transactions
writing the same streams cannot deadlock on their counters. No ``NOTIFY``: PostgreSQL
takes one global lock per notifying commit, held through its WAL flush, which serialized
every order's commit (measured: a third of the order path's throughput); the relay polls.

``read_after`` serves a client whose events Redis no longer holds (trimmed, or lost with a
Redis restart): only events pruned from PostgreSQL (older than ``events_record_days``)
answer ``Gap``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, text
from sqlalchemy.orm import Session

from cluster.eventlog.tables import event_streams, events
from cluster.events import Event, Gap, encode_data

Message = tuple[str, str, dict[str, Any]]

_NEXT = text(
    "INSERT INTO event_streams AS s (stream, head) VALUES (:stream, :n) "
    "ON CONFLICT (stream) DO UPDATE SET head = s.head + :n RETURNING head"
)


def append(session: Session, messages: Sequence[Message]) -> list[int]:
    """Store ``(stream, type, data)`` messages in order; returns their sequence numbers."""
    if not messages:
        return []
    counts: dict[str, int] = {}
    for stream, _, _ in messages:
        counts[stream] = counts.get(stream, 0) + 1
    next_seq: dict[str, int] = {}
    for stream in sorted(counts):
        head = session.execute(_NEXT, {"stream": stream, "n": counts[stream]}).scalar_one()
        next_seq[stream] = int(head) - counts[stream] + 1
    rows, seqs = [], []
    for stream, kind, data in messages:
        seq = next_seq[stream]
        next_seq[stream] = seq + 1
        seqs.append(seq)
        # through JSON text once: Decimals become strings exactly as Redis carries them
        rows.append(
            {"stream": stream, "seq": seq, "type": kind, "data": json.loads(encode_data(data))}
        )
    session.execute(insert(events), rows)
    return seqs


def head(session: Session, stream: str) -> int:
    found = session.execute(
        select(event_streams.c.head).where(event_streams.c.stream == stream)
    ).scalar_one_or_none()
    return int(found or 0)


def to_event(row: Any) -> Event:
    return Event(
        stream=row.stream,
        seq=int(row.seq),
        type=row.type,
        data=dict(row.data),
        ts_ms=int(row.at.timestamp() * 1000),
    )


def read_after(session: Session, stream: str, after: int, limit: int = 500) -> list[Event] | Gap:
    """Events of ``stream`` after ``after`` in order, or the ``Gap`` pruning left."""
    e = events.c
    rows = session.execute(
        select(e.stream, e.seq, e.type, e.data, e.at)
        .where(e.stream == stream, e.seq > after)
        .order_by(e.seq)
        .limit(limit)
    ).all()
    if rows:
        first = int(rows[0].seq)
        if first > after + 1:
            return Gap(stream, after + 1, first - 1)
        return [to_event(r) for r in rows]
    last = head(session, stream)
    if last > after:
        return Gap(stream, after + 1, last)
    return []


def prune(session: Session, before: datetime, limit: int = 10_000) -> int:
    """Drop published events older than ``before`` (the record's retention), in batches.

    ``events`` is a transport record; the audit of orders is ``order_events``.
    """
    e = events.c
    victims = (
        select(e.id)
        .where(e.at < before, e.published_at.is_not(None))
        .order_by(e.id)
        .limit(limit)
        .scalar_subquery()
    )
    result = session.execute(delete(events).where(e.id.in_(victims)))
    return int(getattr(result, "rowcount", 0) or 0)


class RecordPublisher:
    """``publish(stream, type, data)`` as its own short transaction on the record, for
    events that describe state already committed (an optimization job's progress, read
    back from its row): durable and numbered like every other event, relayed the same way.
    """

    def __init__(self, db: Any) -> None:
        self.db = db

    def __call__(self, stream: str, event_type: str, data: dict[str, Any]) -> int:
        with self.db.session() as s:
            return append(s, [(stream, event_type, data)])[0]
