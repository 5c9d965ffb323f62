from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cluster.db import PoolBudgetError, pool_budget


@given(
    max_connections=st.integers(min_value=1, max_value=5000),
    reserved=st.integers(min_value=0, max_value=200),
    processes=st.integers(min_value=1, max_value=500),
)
def test_pools_of_every_process_never_exceed_budget(
    max_connections: int, reserved: int, processes: int
) -> None:
    budget = max_connections - reserved
    try:
        size = pool_budget(max_connections, reserved, processes)
    except PoolBudgetError:
        assert budget // processes < 1
        return
    assert size.pool_size >= 1
    assert size.max_overflow >= 0
    assert processes * size.total <= budget
    # and we do not waste more than one connection per process of the budget
    assert budget - processes * size.total < processes


def test_when_budget_too_small_then_error_names_the_settings() -> None:
    with pytest.raises(PoolBudgetError, match="ELSON_API_REPLICAS"):
        pool_budget(10, 8, 5)


def test_typical_server_of_100_connections() -> None:
    size = pool_budget(100, 3 + 5, 5)
    assert (size.pool_size, size.max_overflow) == (
        12,
        6,
    )  # 92 // 5 = 18 per process: 2/3 pooled, the rest overflow
