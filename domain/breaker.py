"""A circuit breaker as an explicit state machine over passed-in time.

Why: a provider or broker that keeps failing should be left alone for a while instead
of being hammered, and the decision must be testable without sleeping. So the states
are an enum, every legal move is one row of ``_TRANSITIONS``, and every method takes
``now`` (callers pass ``clock.now()``; tests pass a ``FakeClock``'s time). The clock
seam follows Ray Serve's ``circuit_breaker.py``, with enums instead of strings and a
sliding failure window instead of a consecutive-failure count.

Each transition is returned (``record_*``) and sent to listeners, so callers can emit
a metric or an event without polling ``state``.

Operators can trip and reset a breaker by hand. A manual trip goes to its own state,
``forced_open``, rather than ``open`` with a flag: it never cools to half-open and probes
never close it, which is a different set of rows, so it reads best as a different state.
Only ``MANUAL_RESET`` leaves it. The whole breaker round-trips through ``to_record`` /
``from_record`` so the risk actor can rebuild it from PostgreSQL after a restart.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from domain.clock import require_aware
from domain.errors import ValidationFailed

__all__ = ["Breaker", "BreakerConfig", "BreakerEvent", "BreakerState", "Transition"]


class BreakerState(StrEnum):
    CLOSED = "closed"  # calls flow; failures are counted
    OPEN = "open"  # calls are refused until ``open_for`` has passed
    HALF_OPEN = "half_open"  # a few probe calls decide between closed and open
    FORCED_OPEN = "forced_open"  # tripped by an operator: refused until reset by hand

    @property
    def refuses_calls(self) -> bool:
        """Open either way: no call may go out (half-open still grants probes)."""
        return self in (BreakerState.OPEN, BreakerState.FORCED_OPEN)


class BreakerEvent(StrEnum):
    TRIPPED = "tripped"  # failure_threshold failures inside the window
    COOLED = "cooled"  # open_for elapsed
    PROBE_SUCCEEDED = "probe_succeeded"  # enough probes succeeded
    PROBE_FAILED = "probe_failed"
    MANUAL_TRIP = "manual_trip"  # an operator opened it; it stays open until reset
    MANUAL_RESET = "manual_reset"  # an operator closed it, whatever its state


_TRANSITIONS: dict[tuple[BreakerState, BreakerEvent], BreakerState] = {
    (BreakerState.CLOSED, BreakerEvent.TRIPPED): BreakerState.OPEN,
    (BreakerState.OPEN, BreakerEvent.COOLED): BreakerState.HALF_OPEN,
    (BreakerState.HALF_OPEN, BreakerEvent.PROBE_SUCCEEDED): BreakerState.CLOSED,
    (BreakerState.HALF_OPEN, BreakerEvent.PROBE_FAILED): BreakerState.OPEN,
    # --- by hand ------------------------------------------------------------------------
    (BreakerState.CLOSED, BreakerEvent.MANUAL_TRIP): BreakerState.FORCED_OPEN,
    (BreakerState.HALF_OPEN, BreakerEvent.MANUAL_TRIP): BreakerState.FORCED_OPEN,
    # An operator pinning an automatically opened breaker: it must not cool on its own.
    (BreakerState.OPEN, BreakerEvent.MANUAL_TRIP): BreakerState.FORCED_OPEN,
    (BreakerState.OPEN, BreakerEvent.MANUAL_RESET): BreakerState.CLOSED,
    (BreakerState.HALF_OPEN, BreakerEvent.MANUAL_RESET): BreakerState.CLOSED,
    (BreakerState.FORCED_OPEN, BreakerEvent.MANUAL_RESET): BreakerState.CLOSED,
    # Not in the table on purpose: a success or failure reported while OPEN. It is the
    # late result of a call admitted before the trip; it neither closes the breaker
    # nor extends the open period, so ``record_*`` ignores it. The same holds in
    # FORCED_OPEN, which also never cools. A manual trip of a forced-open breaker and a
    # manual reset of a closed one change nothing: ``trip``/``reset`` return ``None``.
}


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """Production defaults: 5 failures within 5 minutes open the breaker for 60 s,
    then one probe call decides."""

    failure_threshold: int = 5
    window: timedelta = timedelta(minutes=5)
    open_for: timedelta = timedelta(seconds=60)
    half_open_probes: int = 1

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValidationFailed("failure_threshold", "at-least-1")
        if self.window <= timedelta(0):
            raise ValidationFailed("window", "positive")
        if self.open_for < timedelta(0):
            raise ValidationFailed("open_for", "non-negative")
        if self.half_open_probes < 1:
            raise ValidationFailed("half_open_probes", "at-least-1")


@dataclass(frozen=True, slots=True)
class Transition:
    """One state change, for metrics and events."""

    name: str
    from_state: BreakerState
    to_state: BreakerState
    event: BreakerEvent
    at: datetime


Listener = Callable[[Transition], None]


class Breaker:
    """Closed -> open -> half-open -> closed, driven by results and passed-in time."""

    def __init__(
        self,
        config: BreakerConfig | None = None,
        *,
        name: str = "",
        listeners: Iterable[Listener] = (),
    ) -> None:
        self.config = config or BreakerConfig()
        self.name = name
        self._listeners = list(listeners)
        self._state = BreakerState.CLOSED
        self._failures: deque[datetime] = deque()
        self._opened_at: datetime | None = None
        self._half_open_since: datetime | None = None
        self._probes_granted = 0
        self._probe_successes = 0

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def state(self, now: datetime) -> BreakerState:
        """The state at ``now``; an open breaker whose time is up becomes half-open."""
        if (
            self._state is BreakerState.OPEN
            and self._opened_at is not None
            and now - self._opened_at >= self.config.open_for
        ):
            self._fire(BreakerEvent.COOLED, now)
        return self._state

    def allow(self, now: datetime) -> bool:
        """May a call go out now? In half-open, grants up to ``half_open_probes``."""
        state = self.state(now)
        if state is BreakerState.CLOSED:
            return True
        if state.refuses_calls:
            return False
        # A probe that never reports back (a lost task) would wedge the breaker in
        # half-open; after another ``open_for`` without a verdict, grant probes again.
        if self._half_open_since is not None and (
            now - self._half_open_since >= self.config.open_for
        ):
            self._half_open_since = now
            self._probes_granted = self._probe_successes
        if self._probes_granted < self.config.half_open_probes:
            self._probes_granted += 1
            return True
        return False

    def record_success(self, now: datetime) -> Transition | None:
        """A call succeeded. In closed state successes do not clear the window:
        five failures in five minutes trip it even with successes in between."""
        if self.state(now) is not BreakerState.HALF_OPEN:
            return None
        self._probe_successes += 1
        if self._probe_successes >= self.config.half_open_probes:
            return self._fire(BreakerEvent.PROBE_SUCCEEDED, now)
        return None

    def record_failure(self, now: datetime) -> Transition | None:
        state = self.state(now)
        if state is BreakerState.HALF_OPEN:
            return self._fire(BreakerEvent.PROBE_FAILED, now)
        if state.refuses_calls:
            return None
        self._failures.append(now)
        horizon = now - self.config.window
        while self._failures and self._failures[0] <= horizon:
            self._failures.popleft()
        if len(self._failures) >= self.config.failure_threshold:
            return self._fire(BreakerEvent.TRIPPED, now)
        return None

    def trip(self, now: datetime, *, manual: bool = True) -> Transition | None:
        """Open the breaker now. ``manual``: forced open until ``reset``; otherwise as if
        the failure threshold was reached (open for ``open_for``, then probes). ``None``
        when it is already open that way."""
        state = self.state(now)
        if manual:
            event = BreakerEvent.MANUAL_TRIP
        elif state is BreakerState.CLOSED:
            event = BreakerEvent.TRIPPED
        else:
            event = BreakerEvent.PROBE_FAILED  # half-open: reopen for a full period
        if (state, event) not in _TRANSITIONS:
            return None
        return self._fire(event, now)

    def reset(self, now: datetime) -> Transition | None:
        """Close the breaker by hand; ``None`` when it is already closed."""
        if (self.state(now), BreakerEvent.MANUAL_RESET) not in _TRANSITIONS:
            return None
        return self._fire(BreakerEvent.MANUAL_RESET, now)

    def to_record(self) -> dict[str, Any]:
        """JSON-able state for storage. Probe counts are not kept: probes in flight when
        the process died never report back, so a restored half-open breaker grants again."""
        return {
            "state": self._state.value,
            "opened_at": _iso(self._opened_at),
            "half_open_since": _iso(self._half_open_since),
            "failures": [at.isoformat() for at in self._failures],
        }

    @classmethod
    def from_record(
        cls,
        config: BreakerConfig | None,
        record: Mapping[str, Any],
        *,
        name: str = "",
        listeners: Iterable[Listener] = (),
    ) -> Breaker:
        """Rebuild a breaker stored by ``to_record``. Restoring is not a transition:
        listeners hear only what happens afterwards (an overdue cool-off, say)."""
        breaker = cls(config, name=name, listeners=listeners)
        try:
            state = BreakerState(record["state"])
        except (KeyError, ValueError) as exc:
            raise ValidationFailed("state", "breaker-state", "unknown breaker state") from exc
        opened_at = _parse_time(record.get("opened_at"), "opened_at")
        half_open_since = _parse_time(record.get("half_open_since"), "half_open_since")
        if state.refuses_calls and opened_at is None:
            raise ValidationFailed("opened_at", "required", f"a {state} breaker has opened_at")
        if state is BreakerState.HALF_OPEN and half_open_since is None:
            raise ValidationFailed("half_open_since", "required", "half-open needs its start")
        failures = record.get("failures") or []
        if not isinstance(failures, list):
            raise ValidationFailed("failures", "wire-format", "failures must be a list")
        breaker._state = state
        breaker._opened_at = opened_at
        breaker._half_open_since = half_open_since
        times = [_parse_time(value, "failures") for value in failures]
        if any(at is None for at in times):
            raise ValidationFailed("failures", "wire-format", "failures are ISO times")
        breaker._failures.extend(sorted(at for at in times if at is not None))
        return breaker

    def failures_in_window(self, now: datetime) -> int:
        horizon = now - self.config.window
        return sum(1 for at in self._failures if at > horizon)

    def _fire(self, event: BreakerEvent, now: datetime) -> Transition:
        before = self._state
        after = _TRANSITIONS[(before, event)]
        self._state = after
        self._failures.clear()
        self._probes_granted = self._probe_successes = 0
        self._opened_at = now if after.refuses_calls else None
        self._half_open_since = now if after is BreakerState.HALF_OPEN else None
        transition = Transition(self.name, before, after, event, now)
        for listener in self._listeners:
            listener(transition)
        return transition


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _parse_time(value: object, field: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationFailed(field, "wire-format", f"{field} must be an ISO time")
    try:
        return require_aware(field, datetime.fromisoformat(value))
    except ValueError as exc:
        raise ValidationFailed(field, "wire-format", f"{field} must be an ISO time") from exc
