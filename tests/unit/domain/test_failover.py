from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from domain.breaker import BreakerConfig
from domain.clock import FakeClock
from domain.errors import ValidationFailed
from domain.failover import FailoverConfig, FailoverPolicy, SwitchEvent

T0 = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)
SECOND = timedelta(seconds=1)
MS = timedelta(milliseconds=20)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


def tick(policy: FailoverPolicy, clock: FakeClock, provider: str, mid: str = "100") -> None:
    now = clock.now()
    policy.on_tick(provider, now - MS, now, Decimal(mid))


def run(
    policy: FailoverPolicy,
    clock: FakeClock,
    seconds: int,
    ticking: dict[str, str],
    market_open: bool = True,
) -> list[SwitchEvent]:
    """Advance second by second; providers in ``ticking`` tick at the given mid."""
    events: list[SwitchEvent] = []
    for _ in range(seconds):
        clock.advance(SECOND)
        for provider, mid in ticking.items():
            tick(policy, clock, provider, mid)
        event = policy.evaluate(clock.now(), market_open)
        if event is not None:
            events.append(event)
    return events


def test_when_primary_goes_stale_then_switch_within_staleness_plus_interval(
    clock: FakeClock,
) -> None:
    policy = FailoverPolicy(["primary", "backup"], key="AAPL")
    assert run(policy, clock, 5, {"primary": "100", "backup": "100"}) == []
    stopped = clock.now()
    events = run(policy, clock, 15, {"backup": "100"})
    assert len(events) == 1
    event = events[0]
    assert (event.from_provider, event.to_provider, event.reason) == ("primary", "backup", "stale")
    assert event.symbol_or_chain == "AAPL"
    config = policy.config
    assert event.at - stopped <= config.staleness + config.check_interval
    assert policy.active == "backup"


def test_when_market_closed_then_silence_is_not_stale(clock: FakeClock) -> None:
    policy = FailoverPolicy(["primary", "backup"])
    assert run(policy, clock, 120, {}, market_open=False) == []
    assert policy.active == "primary"


def test_when_errors_open_breaker_then_switch(clock: FakeClock) -> None:
    policy = FailoverPolicy(["primary", "backup"])
    run(policy, clock, 2, {"primary": "100", "backup": "100"})
    for _ in range(BreakerConfig().failure_threshold):
        policy.on_error("primary", clock.now())
    events = run(policy, clock, 1, {"primary": "100", "backup": "100"})
    assert [(e.to_provider, e.reason) for e in events] == [("backup", "breaker_open")]


def test_when_primary_healthy_again_then_failback_only_after_hysteresis(
    clock: FakeClock,
) -> None:
    policy = FailoverPolicy(["primary", "backup"])
    run(policy, clock, 2, {"primary": "100", "backup": "100"})
    run(policy, clock, 12, {"backup": "100"})
    assert policy.active == "backup"
    back = clock.now()
    events = run(policy, clock, 90, {"primary": "100", "backup": "100"})
    assert [(e.to_provider, e.reason) for e in events] == [("primary", "failback")]
    # Healthy from the first evaluate after ticks resumed; back exactly at hysteresis.
    assert events[0].at - back == policy.config.hysteresis + SECOND


def test_alternating_provider_never_gets_traffic_back(clock: FakeClock) -> None:
    policy = FailoverPolicy(["primary", "backup"])
    run(policy, clock, 2, {"primary": "100", "backup": "100"})
    run(policy, clock, 12, {"backup": "100"})
    assert policy.active == "backup"
    for _ in range(10):
        # Healthy for 40 s, then silent for 15 s: always shorter than the hysteresis.
        run(policy, clock, 40, {"primary": "100", "backup": "100"})
        run(policy, clock, 15, {"backup": "100"})
        assert policy.active == "backup"


def test_when_active_diverges_from_peers_then_switch(clock: FakeClock) -> None:
    policy = FailoverPolicy(["primary", "backup", "tertiary"])
    run(policy, clock, 2, {"primary": "100", "backup": "100", "tertiary": "100"})
    # 100.60 vs 100.00 is 60 bps, above the 50 bps default.
    events = run(policy, clock, 1, {"primary": "100.60", "backup": "100", "tertiary": "100.01"})
    assert [(e.from_provider, e.to_provider, e.reason) for e in events] == [
        ("primary", "backup", "divergence")
    ]


def test_small_disagreement_is_not_divergence(clock: FakeClock) -> None:
    policy = FailoverPolicy(["primary", "backup", "tertiary"])
    assert run(policy, clock, 5, {"primary": "100.40", "backup": "100", "tertiary": "100"}) == []


def test_when_latency_too_high_then_switch(clock: FakeClock) -> None:
    policy = FailoverPolicy(["primary", "backup"])
    run(policy, clock, 2, {"primary": "100", "backup": "100"})
    for _ in range(20):
        clock.advance(SECOND)
        policy.on_tick("primary", clock.now() - timedelta(seconds=5), clock.now(), Decimal(100))
        tick(policy, clock, "backup")
        event = policy.evaluate(clock.now(), True)
        if event is not None:
            assert event.reason == "latency"
            break
    assert policy.active == "backup"


def test_when_no_provider_healthy_then_keep_active_and_report_degraded(
    clock: FakeClock,
) -> None:
    policy = FailoverPolicy(["primary", "backup"], FailoverConfig(hysteresis=timedelta(0)))
    run(policy, clock, 2, {"primary": "100", "backup": "100"})
    events = run(policy, clock, 15, {})
    assert len(events) == 1
    assert events[0].degraded and events[0].reason == "degraded:stale"
    assert events[0].from_provider == events[0].to_provider == "primary"
    assert policy.degraded and policy.active == "primary"
    recovered = run(policy, clock, 1, {"primary": "100", "backup": "100"})
    assert [(e.reason, e.degraded) for e in recovered] == [("recovered", False)]


def test_unknown_provider_and_bad_chain_are_refused(clock: FakeClock) -> None:
    policy = FailoverPolicy(["primary"])
    with pytest.raises(ValidationFailed):
        policy.on_error("nope", clock.now())
    with pytest.raises(ValidationFailed):
        FailoverPolicy([])
    with pytest.raises(ValidationFailed):
        FailoverPolicy(["a", "a"])
