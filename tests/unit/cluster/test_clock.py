from __future__ import annotations

import pickle
import time
from datetime import UTC, datetime

import pytest

from cluster.clock import ShiftedClock, SystemClock, clock_for
from cluster.settings import load_settings

START = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # Tuesday 10:00 New York


def test_clocks_built_apart_from_the_same_settings_agree() -> None:
    settings = load_settings(clock_start=START)
    first = clock_for(settings.clock_start, settings.clock_anchor)
    time.sleep(0.3)
    copy = pickle.loads(pickle.dumps(settings))  # as Ray hands it to another process
    second = clock_for(copy.clock_start, copy.clock_anchor)
    assert abs((first.now() - second.now()).total_seconds()) < 0.05


def test_shifted_clock_moves_with_real_time() -> None:
    clock = ShiftedClock(START, datetime.now(UTC))
    a = clock.now()
    time.sleep(0.05)
    assert clock.now() > a >= START


def test_no_start_then_system_clock() -> None:
    assert isinstance(clock_for(None), SystemClock)


def test_naive_start_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        ShiftedClock(datetime(2026, 11, 24, 15, 0))
