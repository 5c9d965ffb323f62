"""Clocks at the edge. The domain never reads time; it is handed ``now`` from one of these."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ShiftedClock:
    """Real time shifted to start at ``start``: a test or demo deployment can run on a
    Tuesday 10:00 New York market whatever day it really is, and time still moves."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ShiftedClock needs a timezone-aware start")
        self._offset = start - datetime.now(UTC)
        self._mono0 = time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    @property
    def offset(self) -> timedelta:
        return self._offset


def clock_for(start: datetime | None) -> SystemClock | ShiftedClock:
    return SystemClock() if start is None else ShiftedClock(start)
