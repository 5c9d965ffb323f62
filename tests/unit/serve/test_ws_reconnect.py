"""The client's reconnect policy: full jitter from the first retry over a window that
scales with the fleet or the server's hint; no reset until a connection stayed healthy."""

from __future__ import annotations

import random

import pytest

from cluster.retry import Backoff
from serve.ws_reconnect import MAX_HINT_S, ReconnectPolicy, ReconnectState, hint_from

POLICY = ReconnectPolicy(
    Backoff(base_s=0.5, cap_s=30.0, max_attempts=5), expected_clients=300, rate_per_s=20.0
)


def test_first_window_when_300_clients_expected_then_spans_15_s() -> None:
    assert POLICY.window_s(0) == pytest.approx(15.0)
    assert POLICY.window_s(1) == pytest.approx(30.0)
    assert POLICY.window_s(9) == pytest.approx(30.0)  # the cap


def test_first_window_when_one_client_then_base() -> None:
    assert ReconnectPolicy(Backoff(0.5, 30.0)).window_s(0) == pytest.approx(0.5)


def test_window_when_hint_wider_than_cap_then_hint_is_floor_and_cap() -> None:
    assert POLICY.window_s(0, hint_s=45.0) == pytest.approx(45.0)
    assert POLICY.window_s(3, hint_s=45.0) == pytest.approx(45.0)


def test_window_when_attempt_huge_then_cap_without_overflow() -> None:
    assert POLICY.window_s(10**9) == pytest.approx(30.0)


def test_first_delays_when_many_clients_then_spread_over_whole_window() -> None:
    delays = [POLICY.delay_s(0, random.Random(i), None) for i in range(300)]
    assert max(delays) <= 15.0
    per_second = [sum(1 for d in delays if s <= d < s + 1) for s in range(15)]
    assert max(per_second) <= 0.15 * 300
    assert min(delays) < 1.0 and max(delays) > 14.0


def test_dropped_when_connection_short_lived_then_attempts_keep_growing() -> None:
    state = ReconnectState(POLICY)
    state.next_delay(random.Random(1), None)
    state.connected(now=100.0)
    state.dropped(now=105.0)
    assert state.attempt == 1


def test_dropped_when_connection_stayed_healthy_then_attempts_reset() -> None:
    state = ReconnectState(POLICY)
    for _ in range(3):
        state.next_delay(random.Random(1), None)
    state.connected(now=100.0)
    state.dropped(now=130.0)
    assert state.attempt == 0


def test_exhausted_when_max_attempts_used_then_true() -> None:
    state = ReconnectState(POLICY)
    for _ in range(4):
        state.next_delay(None, None)
    assert not state.exhausted()
    state.next_delay(None, None)
    assert state.exhausted()


@pytest.mark.parametrize(
    ("error", "reason", "expected"),
    [
        ({"retry_after_s": 12.5}, None, 12.5),
        (None, "service restart; retry_after_s=7", 7.0),
        ({"code": "x"}, "service restart; retry_after_s=3.5", 3.5),
        (None, "going away", None),
        ({"retry_after_s": "nan"}, None, None),
        ({"retry_after_s": -1}, None, None),
        ({"retry_after_s": 10_000}, None, MAX_HINT_S),
    ],
)
def test_hint_from_when_error_or_reason_then_parsed_and_bounded(
    error: dict[str, object] | None, reason: str | None, expected: float | None
) -> None:
    assert hint_from(error, reason) == expected
