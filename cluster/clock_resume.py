"""The dev clock across restarts: market time never runs back over stored orders.

Why: ``ELSON_CLOCK_START`` pins where market time begins when the platform starts. Start
again with the same value and market time begins there again, earlier than the orders,
events and fills the previous run stored on its (later) market time. The paper broker
then refuses every quote stamped before a restored order's last event (it takes them for
quotes seen before the restart), and an order submitted "in the future" does not trade
until market time catches up: some symbols silently never fill.

The rule (applied once by the composition root, ``cluster.bootstrap``, before any process
reads the clock, so every process shares the result): if the configured start is not
after the newest market instant stored, market time resumes one second after it, as if
the clock had been paused while the platform was down, and the bootstrap says so. A
start later than the stored data is used as given (jump ahead by choosing a later
start; to go back in market time, start on an empty database).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from cluster.db import Database
from cluster.orders.tables import fills, order_events, orders
from cluster.settings import Settings

#: how far past the newest stored instant market time resumes (a fresh quote is then
#: strictly newer than anything the previous run booked)
RESUME_MARGIN = timedelta(seconds=1)


def newest_market_instant(db: Database) -> datetime | None:
    """The newest instant written on the market clock: order updates, events, fills."""
    with db.session() as s:
        found = [
            s.execute(select(func.max(column))).scalar()
            for column in (orders.c.updated_at, order_events.c.at, fills.c.at)
        ]
    stamps = [at for at in found if at is not None]
    return max(stamps).astimezone(UTC) if stamps else None


def resume_start(start: datetime, newest: datetime | None) -> datetime:
    """Where market time begins: ``start``, or just after ``newest`` if that is later."""
    if newest is None or start > newest:
        return start
    return newest + RESUME_MARGIN


def resume_clock(settings: Settings, db: Database) -> tuple[Settings, str | None]:
    """Settings whose shifted clock does not start before stored data, and why it moved.

    Returns ``settings`` unchanged (and no message) without ``clock_start`` or when the
    configured start is after everything stored.
    """
    if settings.clock_start is None:
        return settings, None
    configured = settings.clock_start.astimezone(UTC)
    newest = newest_market_instant(db)
    start = resume_start(configured, newest)
    if start == configured:
        return settings, None
    moved = settings.with_overrides(clock_start=start, clock_anchor=datetime.now(UTC))
    why = (
        f"ELSON_CLOCK_START {configured.isoformat()} is not after the newest order data "
        f"stored ({newest.isoformat() if newest else '-'}): market time resumes at "
        f"{start.isoformat()} (choose a later start to jump ahead)"
    )
    return moved, why
