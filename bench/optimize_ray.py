"""The whole optimization job through Ray, against the kernel in one process.

Measures, on backtesting.py's bundled GOOG (2,148 daily bars) and EURUSD (5,000 hourly
bars) and the same SMA-crossover grid (n1 2..51 x n2 101..300: 10,000 parameter
sets per data set, 20,000 backtests):

- the kernel in one process (``run_many`` over the whole grid), backtests per CPU second;
- the whole job (``JobDriver``: ``ray.put`` of the bars, chunk tasks with backpressure,
  every trial persisted in PostgreSQL with its chunk marker), backtests/s on all cores,
  its ratio to the kernel's rate x cores (target >= 70%), and the agreement of every
  stored trial's final equity with the kernel run in this process;
- the time of an RSI-reversion grid 10x larger than a base grid (8,036 vs 80,360 parameter
  sets per data set) through the same job (target <= 10.5x the time).

Everything shares this machine: the driver, PostgreSQL (writing every trial) and the
workers compete for the same cores, so the job's ratio is a floor for a real cluster.

Run: ``.venv/bin/python -m bench.optimize_ray`` (a local loopback Ray and a scratch database
on the local PostgreSQL, dropped at the end; ``ELSON_BENCH_PG_ADMIN_URL`` overrides it).
``bench/optimize.py --ray`` calls :func:`ray_section` on its own data and grid.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

PG_ADMIN = os.environ.get(
    "ELSON_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
SMA_GRID = {"n1": list(range(2, 52)), "n2": list(range(101, 301))}
RSI_BASE = {"upper": [55, 59, 63, 67]}  # x n 2..50 (49) x lower 5..45 (41) = 8,036
RSI_LARGE = {"upper": list(range(55, 95))}  # 40 values: 80,360, exactly 10x


@contextmanager
def scratch_database() -> Iterator[str]:
    import psycopg

    from cluster import migrate

    name = f"elson_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    url = f"{url}/{name}"
    try:
        migrate.upgrade(url)
        yield url
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def write_datasets(frames: Mapping[str, pd.DataFrame], folder: Path) -> dict[str, Path]:
    """The frames as CSV files (the job reads files, as users give them)."""
    out = {}
    for name, frame in frames.items():
        path = folder / f"{name}.csv"
        frame.rename_axis("Date").to_csv(path)
        out[name] = path
    return out


def kernel_per_cpu_s(frames: Mapping[str, pd.DataFrame], params: list[dict[str, Any]]) -> float:
    """Backtests per CPU second of ``run_many`` in this process (indicators once per set)."""
    from domain.backtest import Bars, run_many

    runs, cpu = 0, 0.0
    for frame in frames.values():
        bars = Bars.from_frame(frame)
        run_many(bars, "sma_cross", params[:2])  # load the compiled kernel first
        bars = Bars.from_frame(frame)
        started = time.process_time()
        run_many(bars, "sma_cross", params)
        cpu += time.process_time() - started
        runs += len(params)
    return runs / cpu


def overrides_of(params: list[dict[str, Any]]) -> dict[str, list[int]]:
    """The per-parameter values whose constrained product is exactly ``params``."""
    from domain.backtest import get_strategy

    values = {k: sorted({int(p[k]) for p in params}) for k in params[0]}
    grid = get_strategy("sma_cross").grid(values)
    assert {tuple(sorted(p.items())) for p in grid} == {
        tuple(sorted((k, int(v)) for k, v in p.items())) for p in params
    }, "the bench grid is not a constrained product grid"
    return values


def run_jobs(
    service: Any, driver: Any, paths: Mapping[str, Path], raw: dict[str, Any]
) -> tuple[int, float, list[str]]:
    """One job per data set, driven one after the other; (trials, seconds, job ids)."""
    from domain.optimization import JobStatus, OptimizationRequest

    trials, elapsed, ids = 0, 0.0, []
    for path in paths.values():
        request = OptimizationRequest.from_dict(
            {**raw, "data": {"kind": "file", "path": str(path)}}
        )
        job = service.submit(request, owner_user_id=None, via="job")
        started = time.perf_counter()
        report = driver.run(job.id)
        elapsed += time.perf_counter() - started
        assert report.status is JobStatus.SUCCEEDED, report
        trials += report.trials_persisted
        ids.append(job.id)
    return trials, elapsed, ids


def run_jobs_together(
    service: Any, make_driver: Any, paths: Mapping[str, Path], raw: dict[str, Any]
) -> tuple[int, float, list[str]]:
    """One job per data set, all submitted first and driven at once (as two users' jobs
    share a cluster); (trials, seconds from the first start to the last end, job ids)."""
    from concurrent.futures import ThreadPoolExecutor

    from domain.optimization import JobStatus, OptimizationRequest

    jobs = [
        service.submit(
            OptimizationRequest.from_dict({**raw, "data": {"kind": "file", "path": str(p)}}),
            owner_user_id=None,
            via="job",
        )
        for p in paths.values()
    ]
    started = time.perf_counter()
    with ThreadPoolExecutor(len(jobs)) as pool:
        reports = list(pool.map(lambda j: make_driver().run(j.id), jobs))
    elapsed = time.perf_counter() - started
    assert all(r.status is JobStatus.SUCCEEDED for r in reports), reports
    return sum(r.trials_persisted for r in reports), elapsed, [j.id for j in jobs]


def task_seconds(db: Any, ids: list[str]) -> float:
    """Seconds the chunk tasks themselves ran (their ``elapsed_ms``, summed over workers)."""
    from sqlalchemy import func, select

    from cluster.optimization.tables import optimization_chunks as c

    with db.session() as s:
        total = s.execute(
            select(func.sum(c.c.elapsed_ms)).where(c.c.job_id.in_([uuid.UUID(i) for i in ids]))
        ).scalar_one()
    return float(total) / 1000


def agreement(service: Any, ids: list[str], frames: Mapping[str, pd.DataFrame]) -> str:
    """Final equity of every trial the job stored against the kernel run in this process."""
    from domain.backtest import Bars, run_many

    equal = total = 0
    for job_id, frame in zip(ids, frames.values(), strict=True):
        trials = service.repo.trials(job_id, sort="id", limit=None)
        ours = run_many(Bars.from_frame(frame), "sma_cross", [t.params for t in trials])
        for t, s in zip(trials, ours, strict=True):
            total += 1
            equal += abs(t.stats["equity_final"] - s.equity_final) <= 1e-9 * abs(s.equity_final)
    return f"{equal}/{total} equal final equity (rel 1e-9)"


def ray_section(
    frames: Mapping[str, pd.DataFrame], params: list[dict[str, Any]], kernel_cpu_rate: float
) -> dict[str, Any]:
    """The Ray figures: a local loopback Ray and a scratch database, both gone at the end."""
    import ray

    from actors.optimize_driver import DriverOptions, JobDriver
    from cluster.db import Database, PoolSize
    from cluster.optimization.service import OptimizationService
    from cluster.ray_runtime import init_ray
    from cluster.settings import load_settings

    overrides = overrides_of(params)
    with tempfile.TemporaryDirectory() as tmp, scratch_database() as url:
        paths = write_datasets(frames, Path(tmp))
        init_ray(load_settings(env="test", serve_high_throughput=False))
        db = Database(url, PoolSize(3, 2))
        try:
            cores = int(ray.cluster_resources().get("CPU", 1))
            service = OptimizationService(db, max_grid=1_000_000, cpus=lambda: cores)
            options = DriverOptions(max_grid=1_000_000)
            driver = JobDriver(service.repo, service.uploads, options=options)
            warm = {"strategy": "sma_cross", "params": {"n1": [5, 10], "n2": list(range(20, 60))}}
            run_jobs(service, driver, paths, warm | {"chunk_size": 5})  # load kernels in workers
            trials, seconds, ids = run_jobs(
                service, driver, paths, {"strategy": "sma_cross", "params": overrides}
            )
            agree = agreement(service, ids, frames)
            task_s = task_seconds(db, ids)

            def make_driver() -> JobDriver:
                return JobDriver(service.repo, service.uploads, options=options)

            sma = {"strategy": "sma_cross", "params": overrides}
            t_trials, t_seconds, _ = run_jobs_together(service, make_driver, paths, sma)
            rsi = {"strategy": "rsi_reversion"}
            base_t, base_s, _ = run_jobs(service, driver, paths, rsi | {"params": RSI_BASE})
            large_t, large_s, _ = run_jobs(service, driver, paths, rsi | {"params": RSI_LARGE})
        finally:
            db.dispose()
            ray.shutdown()
    return {
        "cores": cores,
        "kernel_cpu_rate": kernel_cpu_rate,
        "job_trials": trials,
        "job_seconds": seconds,
        "job_rate": trials / seconds,
        "job_vs_kernel_x_cores": trials / seconds / (kernel_cpu_rate * cores),
        "agreement": agree,
        "task_seconds": task_s,
        "together_rate": t_trials / t_seconds,
        "together_seconds": t_seconds,
        "scale_base_trials": base_t,
        "scale_base_s": base_s,
        "scale_large_trials": large_t,
        "scale_large_s": large_s,
        "scale_time_ratio": large_s / base_s,
        "scale_size_ratio": large_t / base_t,
    }


def print_section(f: Mapping[str, Any]) -> None:
    cores = int(f["cores"])
    print(f"-- the whole job through Ray ({cores} cores; every trial persisted in PostgreSQL)")
    print(
        f"job: {int(f['job_trials']):,} backtests in {f['job_seconds']:.2f} s = "
        f"{f['job_rate']:,.0f} backtests/s = {100 * f['job_vs_kernel_x_cores']:.0f}% of the "
        f"kernel's {f['kernel_cpu_rate']:,.0f}/CPU-s x {cores} cores (target >= 70%)"
    )
    print(f"  job vs kernel in one process: {f['agreement']}")
    print(
        f"  inside the tasks: {f['task_seconds']:.2f} task-s = "
        f"{f['job_trials'] / f['task_seconds']:,.0f} backtests per task-second; the rest of "
        f"{f['job_seconds'] * cores:.2f} core-s went to PostgreSQL, the driver and Ray"
    )
    print(
        f"same jobs submitted together (one per data set, driven at once): "
        f"{f['together_seconds']:.2f} s = {f['together_rate']:,.0f} backtests/s = "
        f"{100 * f['together_rate'] / (f['kernel_cpu_rate'] * cores):.0f}% of kernel x cores"
    )
    base, large = int(f["scale_base_trials"]), int(f["scale_large_trials"])
    print(
        f"10x grid (RSI reversion, {base:,} -> {large:,} backtests): {f['scale_base_s']:.2f} s "
        f"-> {f['scale_large_s']:.2f} s = {f['scale_time_ratio']:.2f}x the time for "
        f"{f['scale_size_ratio']:.1f}x the work (target <= 10.5x)"
    )
    print(f"  load average at the end: {os.getloadavg()[0]:.1f} (other processes share the cores)")


def main() -> None:
    """Standalone: the bundled data sets and SMA grid of this module's docstring."""
    from backtesting.test import EURUSD, GOOG

    from domain.backtest import get_strategy

    frames = {"GOOG": GOOG, "EURUSD": EURUSD}
    params = get_strategy("sma_cross").grid(SMA_GRID)
    print_section(ray_section(frames, params, kernel_per_cpu_s(frames, params)))


if __name__ == "__main__":
    main()
