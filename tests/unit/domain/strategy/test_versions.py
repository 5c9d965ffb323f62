"""Version arithmetic: gap-free numbering, sources, rollback as an undo stack."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.errors import Conflict, ValidationFailed
from domain.strategy.versions import (
    ParamVersion,
    check_source,
    next_version,
    origin,
    rollback_source,
    rollback_target,
)

T = datetime(2026, 12, 7, tzinfo=UTC)


def v(n: int, restores: int | None = None) -> ParamVersion:
    source = "manual" if restores is None else rollback_source(n - 1)
    return ParamVersion(n, {"n1": n}, source, T, "t", restores=restores)


def test_next_version_is_last_plus_one_and_gaps_are_refused() -> None:
    assert next_version([]) == 1
    assert next_version([v(1), v(2)]) == 3
    with pytest.raises(ValueError, match="gap"):
        next_version([v(1), v(3)])


def test_rollback_undoes_one_introduction_at_a_time() -> None:
    history = [v(1), v(2), v(3)]
    assert rollback_target(history).version == 2
    history.append(v(4, restores=2))
    assert origin(history, 4) == 2
    assert rollback_target(history).version == 1
    history.append(v(5, restores=1))
    with pytest.raises(Conflict):
        rollback_target(history)
    history.append(v(6))  # a promotion after rollbacks starts a new top
    assert rollback_target(history).version == 1  # what was in force before 6: version 5's


def test_nothing_to_roll_back() -> None:
    with pytest.raises(Conflict):
        rollback_target([])
    with pytest.raises(Conflict):
        rollback_target([v(1)])


def test_sources() -> None:
    assert check_source("manual") == "manual"
    assert check_source("optimization:abc") == "optimization:abc"
    assert check_source("rollback:3") == "rollback:3"
    for bad in ("", "auto", "optimization:", "rollback"):
        with pytest.raises(ValidationFailed):
            check_source(bad)
