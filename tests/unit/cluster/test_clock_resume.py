"""Where a dev clock's market time begins after a restart (pure rule)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cluster.clock_resume import RESUME_MARGIN, resume_start

START = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_nothing_stored_then_configured_start() -> None:
    assert resume_start(START, None) == START


def test_stored_data_before_start_then_configured_start() -> None:
    assert resume_start(START, START - HOUR) == START


def test_stored_data_after_start_then_just_after_it() -> None:
    assert resume_start(START, START + HOUR) == START + HOUR + RESUME_MARGIN


def test_stored_data_at_start_then_just_after_it() -> None:
    assert resume_start(START, START) == START + RESUME_MARGIN
