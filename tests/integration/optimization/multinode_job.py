"""Acceptance 3 on a multi-node Ray cluster, as a script (one Ray per process: the test
session's own Ray cannot share a process with a ``ray.cluster_utils.Cluster``).

Head (0 CPUs: the driver only) + two worker nodes of 1 CPU. A grid job starts; once some
chunks are persisted, worker node 2 is removed (its raylet and workers killed) with tasks
in flight on it. Ray retries them on the surviving node; the job must end ``succeeded``
with every trial present exactly once. Prints one JSON line with what it saw.

Usage: ``python -m tests.integration.optimization.multinode_job <database_url> <csv>``
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import Counter

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def main(database_url: str, csv_path: str) -> dict[str, object]:
    import ray
    from ray.cluster_utils import Cluster

    from actors.optimize_driver import DriverOptions, JobDriver
    from cluster.db import Database, PoolSize
    from cluster.optimization.service import OptimizationService
    from domain.optimization import OptimizationRequest

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    cluster.add_node(num_cpus=1)
    doomed = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level="ERROR")
    db = Database(database_url, PoolSize(2, 1))
    try:
        service = OptimizationService(db, max_grid=100_000, cpus=lambda: 2)
        request = OptimizationRequest.from_dict(
            {
                "strategy": "sma_cross",
                "data": {"kind": "file", "path": csv_path},
                "params": {"n1": list(range(2, 62)), "n2": list(range(65, 165))},
                "chunk_size": 100,
            }
        )
        job = service.submit(request, owner_user_id=None, via="job")
        options = DriverOptions(max_grid=100_000, task_retries=5, in_flight_per_cpu=2)
        driver = JobDriver(service.repo, service.uploads, options=options)
        result: dict[str, object] = {}
        thread = threading.Thread(target=lambda: result.update(report=driver.run(job.id)))
        started = time.monotonic()
        thread.start()
        doomed_id = doomed.node_id[:12]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rows = _chunk_nodes(db, job.id)
            if len(rows) >= 4 and doomed_id in rows.values():
                break
            time.sleep(0.05)
        before_kill = len(_chunk_nodes(db, job.id))
        cluster.remove_node(doomed, allow_graceful=False)
        killed_at = time.monotonic() - started
        thread.join(120)
        report = result["report"]
        trials = service.repo.trials(job.id, sort="id", limit=None)
        counts = Counter(tuple(sorted(t.params.items())) for t in trials)
        nodes = Counter(_chunk_nodes(db, job.id).values())
        return {
            "status": report.status.value,  # type: ignore[attr-defined]
            "total_trials": job.total_trials,
            "total_chunks": job.total_chunks,
            "trials": len(trials),
            "distinct_params": len(counts),
            "max_copies": max(counts.values()),
            "chunks_before_kill": before_kill,
            "killed_at_s": round(killed_at, 2),
            "doomed_node": doomed_id,
            "chunks_by_node": dict(nodes),
            "chunks_submitted": report.chunks_submitted,  # type: ignore[attr-defined]
            "elapsed_s": round(time.monotonic() - started, 2),
        }
    finally:
        db.dispose()
        ray.shutdown()
        cluster.shutdown()


def _chunk_nodes(db: object, job_id: str) -> dict[int, str]:
    import uuid

    from sqlalchemy import select

    from cluster.optimization.tables import optimization_chunks as c

    with db.session() as s:  # type: ignore[attr-defined]
        rows = s.execute(select(c.c.chunk_index, c.c.node).where(c.c.job_id == uuid.UUID(job_id)))
        return {int(i): str(n) for i, n in rows}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])), flush=True)
