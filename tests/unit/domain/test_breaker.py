from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.breaker import Breaker, BreakerConfig, BreakerEvent, BreakerState, Transition
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
