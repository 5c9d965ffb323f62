"""The paper tests' fixtures (a paper broker actor per test on the paper database, the
test's own OrderService, scripted quotes), and a replay file of a few hundred bars."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.paper.conftest import (  # noqa: F401 - fixtures, used by name
    WEDNESDAY,
    calendar,
    desk,
    make_desk,
    paper_settings,
    test_db,
)
from tests.integration.strategy_runner.replay import write_replay


@pytest.fixture
def replay_file(tmp_path: Path) -> Path:
    return write_replay(tmp_path / "bars.csv", "AAPL", WEDNESDAY, n=180)
