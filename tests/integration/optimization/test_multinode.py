"""Acceptance 3: a worker node dies mid-job on a multi-node cluster; the job still finishes
with every trial exactly once. Runs ``multinode_job.py`` in its own process (one Ray per
process); kept under a minute."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.optimization.conftest import write_bars_csv

pytestmark = [pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[3]


def test_killing_a_worker_node_mid_job_loses_and_duplicates_nothing(
    database_url: str, tmp_path: Path
) -> None:
    csv_path = write_bars_csv(tmp_path / "bars.csv", 6000, seed=21)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.integration.optimization.multinode_job",
            database_url,
            str(csv_path),
        ],
        cwd=ROOT,
        env={**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"},
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    seen = json.loads(r.stdout.strip().splitlines()[-1])
    assert seen["status"] == "succeeded", seen
    assert seen["trials"] == seen["distinct_params"] == seen["total_trials"] == 6000, seen
    assert seen["max_copies"] == 1
    # the killed node had done work before it died, and the job went on after it
    assert seen["chunks_by_node"].get(seen["doomed_node"], 0) >= 1, seen
    assert seen["chunks_before_kill"] < seen["total_chunks"], seen
    assert sum(seen["chunks_by_node"].values()) == seen["total_chunks"]
