"""Clocks at the edge. The domain never reads time; it is handed ``now`` from one of these."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ShiftedClock:
    """Real time shifted so that ``start`` falls at the real instant ``anchor``: a test or
    demo deployment can run on a Tuesday 10:00 New York market whatever day it really is,
    and time still moves. Every process gets the same ``anchor`` (it travels in the
    settings), so actors and replicas built seconds apart still agree on the time."""

    def __init__(self, start: datetime, anchor: datetime | None = None) -> None:
        if start.tzinfo is None or (anchor is not None and anchor.tzinfo is None):
            raise ValueError("ShiftedClock needs timezone-aware instants")
        self._offset = start - (anchor or datetime.now(UTC))

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    @property
    def offset(self) -> timedelta:
        return self._offset


def clock_for(start: datetime | None, anchor: datetime | None = None) -> SystemClock | ShiftedClock:
    return SystemClock() if start is None else ShiftedClock(start, anchor)
