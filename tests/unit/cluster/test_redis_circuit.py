"""The Redis client's circuit: one failure opens it, the cooldown runs on the passed-in
clock, then exactly one caller is told to start the probe and the probe's verdict decides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cluster.redis_circuit import CircuitOpen, RedisCircuit, shared_circuit
from domain.breaker import BreakerState
from domain.clock import FakeClock


def circuit(cooldown_s: float = 1.0) -> tuple[RedisCircuit, FakeClock]:
    clock = FakeClock(datetime(2026, 12, 7, 12, 0, tzinfo=UTC))
    return RedisCircuit(cooldown_s, now=clock.now), clock


def test_admit_when_closed_then_calls_go_out() -> None:
    c, _ = circuit()
    assert c.admit() is True and c.admit() is True
    assert c.state is BreakerState.CLOSED


def test_admit_when_one_failure_then_open_until_the_cooldown_is_over() -> None:
    c, clock = circuit()
    c.failure()
    assert c.state is BreakerState.OPEN
    with pytest.raises(CircuitOpen, match="circuit open for 1 s"):
        c.admit()
    clock.advance(timedelta(seconds=0.9))
    with pytest.raises(CircuitOpen):
        c.admit()


def test_admit_when_cooled_then_one_caller_probes_and_the_rest_fail_fast() -> None:
    c, clock = circuit()
    c.failure()
    clock.advance(timedelta(seconds=1))
    assert c.admit() is False  # this caller starts the probe (and fails fast itself)
    with pytest.raises(CircuitOpen):
        c.admit()  # one probe at a time


def test_probe_when_it_succeeds_then_closed_and_when_it_fails_then_open_again() -> None:
    c, clock = circuit()
    c.failure()
    clock.advance(timedelta(seconds=1))
    assert c.admit() is False
    c.failure()
    assert c.state is BreakerState.OPEN
    clock.advance(timedelta(seconds=1))
    assert c.admit() is False
    c.success()
    assert c.state is BreakerState.CLOSED
    assert c.admit() is True


def test_circuit_when_cooldown_zero_then_never_opens() -> None:
    c, _ = circuit(cooldown_s=0)
    c.failure()
    assert c.admit() is True and c.state is BreakerState.CLOSED


def test_shared_circuit_when_same_server_then_one_circuit_for_every_client() -> None:
    url = "redis://127.0.0.1:1/0"
    assert shared_circuit(url, 1.0) is shared_circuit(url, 1.0)
    assert shared_circuit(url, 1.0) is not shared_circuit("redis://127.0.0.1:2/0", 1.0)
    assert shared_circuit(url, 0) is not shared_circuit(url, 0)  # off: nothing to share
