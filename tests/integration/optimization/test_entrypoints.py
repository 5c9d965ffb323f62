"""``elson optimize`` and ``python -m jobs.optimize`` as a user runs them, in their own
processes, joined to the session Ray through ``RAY_ADDRESS`` exactly as ``ray job submit``
hands a cluster's address to its entrypoint (the session Ray has no dashboard, so no job
server: the entrypoint command itself is what runs here)."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cluster.optimization.service import OptimizationService
from cluster.settings import Settings

pytestmark = [pytest.mark.ray, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[3]
ELSON = str(Path(sys.executable).parent / "elson")


@pytest.fixture
def env(ray_cluster: None, opt_settings: Settings) -> dict[str, str]:
    import ray

    assert opt_settings.database_url is not None and opt_settings.redis_url is not None
    return {
        **os.environ,
        "RAY_ADDRESS": ray.get_runtime_context().gcs_address,
        "ELSON_ENV": "test",
        "ELSON_DATABASE_URL": opt_settings.database_url.get_secret_value(),
        "ELSON_REDIS_URL": opt_settings.redis_url.get_secret_value(),
        "ELSON_REDIS_KEY_PREFIX": opt_settings.redis_key_prefix,
        "ELSON_OPTIMIZE_MAX_GRID": "5000",
    }


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=240)


def _job_id(out: str) -> str:
    found = re.search(r"job ([0-9a-f-]{36}) queued", out)
    assert found, out
    return found.group(1)


def test_elson_optimize_end_to_end(
    env: dict[str, str], tmp_path: Path, service: OptimizationService
) -> None:
    heat, export = tmp_path / "heat.png", tmp_path / "trials.csv"
    cmd = [
        ELSON, "optimize", "--strategy", "sma_cross", "--data", "simulated:MSFT:300:2",
        "--param", "n1=5:20:5", "--param", "n2=30,50,80", "--chunk-size", "3",
        "--heatmap", "n1,n2", "--heatmap-out", str(heat), "--export", str(export),
    ]  # fmt: skip
    r = _run(cmd, env, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    job_id = _job_id(r.stdout)
    assert "progress " in r.stdout  # not a terminal: plain lines, no bar
    assert f"job {job_id} succeeded" in r.stdout and "best 10 by sharpe_ratio" in r.stdout
    assert heat.read_bytes().startswith(b"\x89PNG")
    rows = list(csv.DictReader(export.open()))
    assert len(rows) == 12 and {"n1", "n2", "score", "trades"} <= set(rows[0])
    assert service.repo.get(job_id).via == "cli"
    assert service.repo.count_trials(job_id) == 12


def test_elson_optimize_bad_input_exits_2_and_stores_nothing(
    env: dict[str, str], tmp_path: Path, service: OptimizationService
) -> None:
    before = len(service.repo.list_jobs(None, limit=100_000))
    cmd = [ELSON, "optimize", "--strategy", "sma_cross", "--data", "simulated:MSFT:300",
           "--param", "n1=1,5"]  # fmt: skip
    r = _run(cmd, env, tmp_path)
    assert r.returncode == 2
    assert "params.n1" in r.stderr and r.stdout == ""
    bad = tmp_path / "bad.csv"
    bad.write_text("Date,Open,High,Low,Close\n2024-01-02,1,1,1,\n2024-01-03,1,1,1,1\n")
    r = _run([ELSON, "optimize", "--strategy", "sma_cross", "--data", str(bad)], env, tmp_path)
    assert r.returncode == 2 and "data.close" in r.stderr
    assert len(service.repo.list_jobs(None, limit=100_000)) == before


def test_python_m_jobs_optimize_stops_and_resumes(
    env: dict[str, str], tmp_path: Path, service: OptimizationService
) -> None:
    request = tmp_path / "request.json"
    request.write_text(
        json.dumps(
            {
                "strategy": "momentum",
                "data": {"kind": "simulated", "symbol": "QQQ", "bars": 300, "seed": 4},
                "search": "random",
                "n_trials": 40,
                "seed": 9,
                "chunk_size": 5,
                "objective": "return_pct",
            }
        )
    )
    module = [sys.executable, "-m", "jobs.optimize"]
    first = _run([*module, "--request", str(request), "--stop-after", "3"], env, ROOT)
    assert first.returncode == 1, first.stdout + first.stderr  # still running: stopped
    job_id = _job_id(first.stdout)
    persisted = len(service.repo.done_chunks(job_id))
    assert persisted >= 3
    second = _run([*module, "--job-id", job_id], env, ROOT)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"skipped={persisted} of 8" in second.stdout
    assert f"chunks run={8 - persisted} " in second.stdout
    assert service.repo.count_trials(job_id) == 40
    job = service.repo.get(job_id)
    assert (job.via, job.status.value, job.restarts) == ("job", "succeeded", 1)


def test_elson_optimize_without_database_url_then_uses_the_embedded_postgres(
    env: dict[str, str], tmp_path: Path
) -> None:
    """A new user's `elson optimize` needs no configuration: like `elson db`, it starts
    the embedded PostgreSQL of `./dev up` under ELSON_DATA_DIR and stores the job there."""
    bare = {k: v for k, v in env.items() if k != "ELSON_DATABASE_URL"}
    bare["ELSON_ENV"] = "dev"
    bare["ELSON_DATA_DIR"] = str(tmp_path / "data")
    cmd = [ELSON, "optimize", "--strategy", "sma_cross", "--data", "simulated:MSFT:300:2",
           "--param", "n1=5,10", "--param", "n2=30,50"]  # fmt: skip
    r = _run(cmd, bare, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"job {_job_id(r.stdout)} succeeded" in r.stdout
    assert (tmp_path / "data").is_dir() and any((tmp_path / "data").iterdir())
