"""The clock port.

Domain code never reads the wall clock: time is passed in (``now``) or comes from a
``Clock`` injected by the composition root. That keeps breakers, failover and market
hours deterministic under test, where a ``FakeClock`` is advanced by hand instead of
sleeping. The real ``SystemClock`` lives in ``cluster/`` because reading the clock is
an effect.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from domain.errors import ValidationFailed

__all__ = ["Clock", "FakeClock", "require_aware"]


class Clock(Protocol):
    """Something that tells the time as an aware UTC datetime."""

    def now(self) -> datetime: ...


def require_aware(field: str, value: datetime) -> datetime:
    """Return ``value`` in UTC, refusing naive datetimes.

    A naive datetime is ambiguous (exchange_calendars reads it as UTC, a human means
    New York); refusing it is cheaper than finding the bug an hour off later.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationFailed(field, "timezone-aware-required")
    return value.astimezone(UTC)


class FakeClock:
    """A settable clock for tests and simulations; time moves only when told to."""

    def __init__(self, start: datetime) -> None:
        self._now = require_aware("start", start)

    def now(self) -> datetime:
        return self._now

    def set(self, at: datetime) -> None:
        """Jump to ``at`` (backwards too: tests of clock skew need it)."""
        self._now = require_aware("at", at)

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by ``delta`` and return the new time."""
        if delta < timedelta(0):
            raise ValidationFailed("delta", "non-negative")
        self._now = self._now + delta
        return self._now
