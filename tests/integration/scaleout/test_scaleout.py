"""Acceptance 6 (issue 15): on a head + two worker nodes, the feed shards, the paper broker
and an optimization job spread over the nodes; killing the worker that holds the paper
broker leaves the platform serving (its actors restart on the survivor, quotes flow, an
order placed after the kill fills) and the job finishing with every trial exactly once.

Runs ``scaleout_run.py`` in its own process: one Ray per process (the session's Ray and a
``ray.cluster_utils.Cluster`` cannot share one), as the optimization multinode test does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REDIS_URL, RUN_ID, own_database
from tests.integration.optimization.conftest import write_bars_csv

pytestmark = [pytest.mark.slow, pytest.mark.ray]
ROOT = Path(__file__).resolve().parents[3]


def test_node_kill_leaves_platform_serving_and_job_finishing(tmp_path: Path) -> None:
    csv_path = write_bars_csv(tmp_path / "bars.csv", 1500, seed=5)
    with own_database("scaleout") as url:
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.integration.scaleout.scaleout_run",
                url,
                REDIS_URL,
                f"elson-test-{RUN_ID}-scaleout:",
                str(tmp_path / "data"),
                str(csv_path),
            ],
            cwd=ROOT,
            env={**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"},
            capture_output=True,
            text=True,
            timeout=240,
        )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    seen = json.loads(r.stdout.strip().splitlines()[-1])
    print(json.dumps(seen))  # what the run saw, for the log
    before, after = seen["placement_before"], seen["placement_after"]
    # spread: the shards and the broker use both workers, none on the (0-CPU) head
    assert set(before.values()) == {"a", "b"}, seen
    # after the kill every platform actor runs on the survivor
    survivor = ({"a", "b"} - {seen["killed"]}).pop()
    assert set(after.values()) == {survivor}, seen
    assert seen["order_before"] and seen["order_after"] and seen["quotes_after_kill"], seen
    # the job ran on both workers and finished, nothing lost or duplicated
    assert seen["job_status"] == "succeeded", seen
    assert seen["trials"] == seen["distinct_params"] == seen["total_trials"], seen
    assert seen["max_copies"] == 1, seen
    assert set(seen["chunks_by_node"]) >= {"a", "b"}, seen
    assert seen["chunks_before_kill"] < seen["total_chunks"], seen  # it went on after
    assert sum(seen["chunks_by_node"].values()) == seen["total_chunks"], seen
