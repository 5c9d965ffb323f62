"""Symbol -> shard: stable across processes, spread, case-insensitive."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cluster.marketdata.sharding import partition, shard_of
from domain.errors import ValidationFailed


def test_shard_of_when_computed_in_another_process_then_same_answer() -> None:
    code = "from cluster.marketdata.sharding import shard_of; print(shard_of('AAPL', 4))"
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert int(other.stdout) == shard_of("AAPL", 4)


def test_shard_of_when_lower_case_then_same_shard() -> None:
    assert shard_of("brk.b", 7) == shard_of("BRK.B", 7)


def test_shard_of_when_500_symbols_then_every_shard_gets_a_fair_share() -> None:
    symbols = [f"S{i:03d}" for i in range(500)]
    groups = partition(symbols, 4)
    assert sorted(groups) == [0, 1, 2, 3]
    assert all(80 <= len(g) <= 170 for g in groups.values())
    assert sum(len(g) for g in groups.values()) == 500


def test_partition_when_duplicates_then_each_symbol_once() -> None:
    groups = partition(["aapl", "AAPL", " msft "], 3)
    flat = sorted(s for g in groups.values() for s in g)
    assert flat == ["AAPL", "MSFT"]


def test_shard_of_when_zero_shards_then_refused() -> None:
    with pytest.raises(ValidationFailed):
        shard_of("AAPL", 0)
