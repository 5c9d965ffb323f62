from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.breaker import (
    _TRANSITIONS,
    Breaker,
    BreakerConfig,
    BreakerEvent,
    BreakerState,
    Transition,
)
from domain.clock import FakeClock
from domain.errors import ValidationFailed

T0 = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


def trip(breaker: Breaker, clock: FakeClock) -> None:
    for _ in range(breaker.config.failure_threshold):
        breaker.record_failure(clock.now())


def test_defaults_are_production_values() -> None:
    config = BreakerConfig()
    assert config.failure_threshold == 5
    assert config.window == timedelta(minutes=5)
    assert config.open_for == timedelta(seconds=60)
    assert config.half_open_probes == 1


def test_closed_when_threshold_failures_in_window_then_opens(clock: FakeClock) -> None:
    seen: list[Transition] = []
    breaker = Breaker(name="alpaca", listeners=[seen.append])
    for _ in range(4):
        assert breaker.record_failure(clock.advance(timedelta(seconds=10))) is None
    moved = breaker.record_failure(clock.advance(timedelta(seconds=10)))
    assert moved is not None
    assert (moved.from_state, moved.to_state, moved.event) == (
        BreakerState.CLOSED,
        BreakerState.OPEN,
        BreakerEvent.TRIPPED,
    )
    assert seen == [moved]
    assert moved.name == "alpaca"
    assert not breaker.allow(clock.now())


def test_failures_outside_sliding_window_do_not_count(clock: FakeClock) -> None:
    breaker = Breaker()
    for _ in range(4):
        breaker.record_failure(clock.now())
    clock.advance(timedelta(minutes=5))
    assert breaker.record_failure(clock.now()) is None
    assert breaker.state(clock.now()) is BreakerState.CLOSED
    assert breaker.failures_in_window(clock.now()) == 1


def test_success_in_closed_does_not_reset_window(clock: FakeClock) -> None:
    breaker = Breaker()
    for _ in range(4):
        breaker.record_failure(clock.now())
        breaker.record_success(clock.now())
    breaker.record_failure(clock.now())
    assert breaker.state(clock.now()) is BreakerState.OPEN


def test_open_when_open_for_elapsed_then_half_open_allows_one_probe(clock: FakeClock) -> None:
    seen: list[Transition] = []
    breaker = Breaker(listeners=[seen.append])
    trip(breaker, clock)
    assert not breaker.allow(clock.advance(timedelta(seconds=59)))
    assert breaker.allow(clock.advance(timedelta(seconds=1)))
    assert breaker.state(clock.now()) is BreakerState.HALF_OPEN
    assert seen[-1].event is BreakerEvent.COOLED
    assert not breaker.allow(clock.now())  # the one probe is in flight


def test_half_open_when_probe_succeeds_then_closed(clock: FakeClock) -> None:
    breaker = Breaker()
    trip(breaker, clock)
    assert breaker.allow(clock.advance(timedelta(seconds=60)))
    moved = breaker.record_success(clock.now())
    assert moved is not None and moved.to_state is BreakerState.CLOSED
    assert breaker.allow(clock.now())
    assert breaker.failures_in_window(clock.now()) == 0


def test_half_open_when_probe_fails_then_open_again_for_full_period(clock: FakeClock) -> None:
    breaker = Breaker()
    trip(breaker, clock)
    breaker.allow(clock.advance(timedelta(seconds=60)))
    moved = breaker.record_failure(clock.advance(timedelta(seconds=5)))
    assert moved is not None and moved.event is BreakerEvent.PROBE_FAILED
    assert not breaker.allow(clock.advance(timedelta(seconds=59)))
    assert breaker.allow(clock.advance(timedelta(seconds=1)))


def test_half_open_with_several_probes_needs_all_to_succeed(clock: FakeClock) -> None:
    breaker = Breaker(BreakerConfig(failure_threshold=1, half_open_probes=2))
    breaker.record_failure(clock.now())
    clock.advance(timedelta(seconds=60))
    assert breaker.allow(clock.now()) and breaker.allow(clock.now())
    assert not breaker.allow(clock.now())
    assert breaker.record_success(clock.now()) is None
    assert breaker.record_success(clock.now()) is not None
    assert breaker.state(clock.now()) is BreakerState.CLOSED


def test_half_open_when_probe_never_reports_then_probes_granted_again(clock: FakeClock) -> None:
    breaker = Breaker()
    trip(breaker, clock)
    assert breaker.allow(clock.advance(timedelta(seconds=60)))
    assert not breaker.allow(clock.advance(timedelta(seconds=30)))
    assert breaker.allow(clock.advance(timedelta(seconds=30)))


def test_late_results_while_open_are_ignored(clock: FakeClock) -> None:
    breaker = Breaker()
    trip(breaker, clock)
    assert breaker.record_success(clock.now()) is None
    assert breaker.record_failure(clock.advance(timedelta(seconds=30))) is None
    # The late failure did not extend the open period.
    assert breaker.allow(clock.advance(timedelta(seconds=30)))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"failure_threshold": 0},
        {"window": timedelta(0)},
        {"open_for": timedelta(seconds=-1)},
        {"half_open_probes": 0},
    ],
)
def test_config_refuses_nonsense(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationFailed):
        BreakerConfig(**kwargs)  # type: ignore[arg-type]


# --- exhaustive matrix ----------------------------------------------------------------

BS = BreakerState
BE = BreakerEvent

# Independent expectation: closed -> open -> half-open -> closed by results and time; an
# operator can force it open from anywhere not already forced, and reset anything not
# closed. Missing pairs change nothing.
EXPECTED: dict[BreakerState, dict[BreakerEvent, BreakerState]] = {
    BS.CLOSED: {BE.TRIPPED: BS.OPEN, BE.MANUAL_TRIP: BS.FORCED_OPEN},
    BS.OPEN: {BE.COOLED: BS.HALF_OPEN, BE.MANUAL_TRIP: BS.FORCED_OPEN, BE.MANUAL_RESET: BS.CLOSED},
    BS.HALF_OPEN: {
        BE.PROBE_SUCCEEDED: BS.CLOSED,
        BE.PROBE_FAILED: BS.OPEN,
        BE.MANUAL_TRIP: BS.FORCED_OPEN,
        BE.MANUAL_RESET: BS.CLOSED,
    },
    BS.FORCED_OPEN: {BE.MANUAL_RESET: BS.CLOSED},
}

ONE = BreakerConfig(failure_threshold=1, open_for=timedelta(seconds=60), half_open_probes=1)


def _in_state(state: BreakerState, clock: FakeClock, seen: list[Transition]) -> Breaker:
    breaker = Breaker(ONE, name="paper")
    if state is BS.OPEN:
        breaker.trip(clock.now(), manual=False)
    elif state is BS.HALF_OPEN:
        breaker.trip(clock.now(), manual=False)
        breaker.state(clock.advance(timedelta(seconds=60)))
    elif state is BS.FORCED_OPEN:
        breaker.trip(clock.now())
    assert breaker.state(clock.now()) is state
    breaker.add_listener(seen.append)
    return breaker


def _probe_success(breaker: Breaker, clock: FakeClock) -> None:
    breaker.allow(clock.now())
    breaker.record_success(clock.now())


# How each event is caused from outside, whatever the state.
CAUSES: dict[BreakerEvent, Callable[[Breaker, FakeClock], object]] = {
    BE.TRIPPED: lambda b, c: b.record_failure(c.now()),
    BE.COOLED: lambda b, c: b.state(c.advance(timedelta(seconds=60))),
    BE.PROBE_SUCCEEDED: _probe_success,
    BE.PROBE_FAILED: lambda b, c: b.record_failure(c.now()),
    BE.MANUAL_TRIP: lambda b, c: b.trip(c.now()),
    BE.MANUAL_RESET: lambda b, c: b.reset(c.now()),
}


def test_table_has_no_rows_beyond_the_expectation() -> None:
    rows = {(s, e): t for s, events in EXPECTED.items() for e, t in events.items()}
    assert rows == _TRANSITIONS


@pytest.mark.parametrize(("state", "event"), list(itertools.product(BS, BE)))
def test_every_state_event_pair_when_caused_then_matches_expectation(
    state: BreakerState, event: BreakerEvent, clock: FakeClock
) -> None:
    seen: list[Transition] = []
    breaker = _in_state(state, clock, seen)
    CAUSES[event](breaker, clock)
    matching = [t for t in seen if t.event is event]
    expected = EXPECTED[state].get(event)
    if expected is None:
        assert matching == []
    else:
        assert [(t.from_state, t.to_state) for t in matching] == [(state, expected)]
        assert breaker.state(clock.now()) is expected


# --- by hand ----------------------------------------------------------------------------


def test_manual_trip_when_closed_then_forced_open_never_cools(clock: FakeClock) -> None:
    breaker = Breaker(name="alpaca")
    moved = breaker.trip(clock.now())
    assert moved is not None and moved.to_state is BS.FORCED_OPEN
    assert moved.event is BE.MANUAL_TRIP
    assert not breaker.allow(clock.advance(timedelta(days=2)))
    assert breaker.record_failure(clock.now()) is None
    assert breaker.record_success(clock.now()) is None
    assert breaker.trip(clock.now()) is None  # already forced: nothing changes
    assert breaker.state(clock.now()) is BS.FORCED_OPEN
    reset = breaker.reset(clock.now())
    assert reset is not None and (reset.from_state, reset.to_state) == (BS.FORCED_OPEN, BS.CLOSED)
    assert breaker.allow(clock.now())
    assert breaker.reset(clock.now()) is None  # already closed


def test_automatic_trip_when_closed_then_open_for_period(clock: FakeClock) -> None:
    breaker = Breaker()
    moved = breaker.trip(clock.now(), manual=False)
    assert moved is not None and moved.event is BE.TRIPPED
    assert breaker.trip(clock.now(), manual=False) is None
    assert breaker.allow(clock.advance(timedelta(seconds=60)))  # cooled: a probe
    moved = breaker.trip(clock.now(), manual=False)
    assert moved is not None and (moved.event, moved.to_state) == (BE.PROBE_FAILED, BS.OPEN)


def test_refuses_calls_only_when_open_or_forced() -> None:
    assert [s for s in BS if s.refuses_calls] == [BS.OPEN, BS.FORCED_OPEN]


# --- records ----------------------------------------------------------------------------


def _restore(breaker: Breaker, **kwargs: Any) -> Breaker:
    record = json.loads(json.dumps(breaker.to_record()))
    return Breaker.from_record(breaker.config, record, name=breaker.name, **kwargs)


def test_restore_when_forced_open_then_still_open_and_refuses(clock: FakeClock) -> None:
    breaker = Breaker(name="alpaca")
    breaker.trip(clock.now())
    seen: list[Transition] = []
    restored = _restore(breaker, listeners=[seen.append])
    assert restored.name == "alpaca"
    assert restored.state(clock.advance(timedelta(hours=3))) is BS.FORCED_OPEN
    assert not restored.allow(clock.now())
    assert seen == []
    assert restored.to_record() == breaker.to_record()


def test_restore_when_open_then_cools_at_the_original_time(clock: FakeClock) -> None:
    breaker = Breaker()
    trip(breaker, clock)
    clock.advance(timedelta(seconds=30))
    seen: list[Transition] = []
    restored = _restore(breaker, listeners=[seen.append])
    assert not restored.allow(clock.advance(timedelta(seconds=29)))
    assert restored.allow(clock.advance(timedelta(seconds=1)))
    assert [t.event for t in seen] == [BE.COOLED]
    assert seen[0].at == T0 + timedelta(seconds=60)


def test_restore_when_half_open_then_grants_a_probe_again(clock: FakeClock) -> None:
    breaker = Breaker()
    trip(breaker, clock)
    assert breaker.allow(clock.advance(timedelta(seconds=60)))  # probe lost in the crash
    restored = _restore(breaker)
    assert restored.state(clock.now()) is BS.HALF_OPEN
    assert restored.allow(clock.now())
    assert restored.record_success(clock.now()) is not None
    assert restored.state(clock.now()) is BS.CLOSED


def test_restore_when_failures_in_window_then_window_kept(clock: FakeClock) -> None:
    breaker = Breaker()
    for _ in range(4):
        breaker.record_failure(clock.advance(timedelta(seconds=1)))
    restored = _restore(breaker)
    assert restored.failures_in_window(clock.now()) == 4
    moved = restored.record_failure(clock.now())
    assert moved is not None and moved.to_state is BS.OPEN
    # The oldest failure leaves the window five minutes after it happened.
    again = _restore(breaker)
    assert again.failures_in_window(T0 + timedelta(minutes=5, seconds=1)) == 3


@pytest.mark.parametrize(
    "record",
    [
        {},
        {"state": "ajar"},
        {"state": "open", "opened_at": None},
        {"state": "forced_open"},
        {"state": "half_open", "half_open_since": None},
        {"state": "closed", "opened_at": "2026-03-10T14:30:00"},
        {"state": "closed", "failures": "2026-03-10T14:30:00+00:00"},
        {"state": "closed", "failures": [None]},
        {"state": "closed", "failures": ["yesterday"]},
    ],
)
def test_from_record_when_malformed_then_validation_failed(record: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailed):
        Breaker.from_record(None, record)
