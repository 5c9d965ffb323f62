"""Scale-out proof (issue 15, acceptance 6) as a script: one Ray per process, so the test
session's own Ray and a ``ray.cluster_utils.Cluster`` never share one (as
``tests/integration/optimization/multinode_job.py`` does).

Head (0 CPUs: the driver and 0-CPU actors) + workers ``a`` and ``b`` (4 CPUs each, custom
resources ``scaleout_a``/``scaleout_b`` naming them). The platform actors are created by the
same ``ensure_actors`` as ``elson up``, with ``actor_scheduling=SPREAD`` and one CPU for each
feed shard and the paper broker, so they must spread; an order fills from live quotes; a
grid optimization job starts. Once a few chunks are stored, the worker that ran most of
them is killed: the actors on it (a feed shard at least, the paper broker when Ray put it
there) restart on the survivor, quotes keep flowing, an order placed after the kill fills,
and the job finishes on the survivor with every trial exactly once. Prints one JSON line
with what it saw.

Usage: ``python -m tests.integration.scaleout.scaleout_run <database_url> <redis_url>
<redis_prefix> <data_dir> <bars_csv>``
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

MARKET_OPEN = "2026-11-24T15:00:00+00:00"
SHARDS = 2


def _placement(_namespace: str) -> dict[str, str]:
    """Alive named actor -> the node label (``a``, ``b`` or ``head``) it runs on."""
    import ray
    from ray._private.state import state

    labels = {}
    for node in ray.nodes():
        res = node.get("Resources", {})
        label = "a" if "scaleout_a" in res else "b" if "scaleout_b" in res else "head"
        labels[node["NodeID"]] = label
    out = {}
    for info in state.actor_table(None).values():  # one cluster of our own: no namespace filter
        if info.get("Name") and info.get("State") == "ALIVE":
            out[info["Name"]] = labels.get(info["Address"]["NodeID"], "?")
    return out


def _wait(pred: Any, within: float, what: str, step: float = 0.2) -> Any:
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = pred()
        except Exception as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(step)
    raise RuntimeError(f"timed out waiting for {what}: {last!r}")


def main(database_url: str, redis_url: str, prefix: str, data_dir: str, csv: str) -> dict[str, Any]:
    import ray
    from ray.cluster_utils import Cluster

    from actors.bootstrap import ensure_actors
    from actors.optimize_driver import DriverOptions, JobDriver
    from cluster import names
    from cluster.clock import clock_for
    from cluster.db import Database, PoolSize
    from cluster.marketdata.query import MarketDataQuery
    from cluster.optimization.service import OptimizationService
    from cluster.orders.service import OrderService
    from cluster.orders.wiring import calendar_around
    from cluster.settings import Settings
    from domain.optimization import OptimizationRequest
    from tests.kit.orders import funded_account, request
    from tests.kit.quotes import ScriptedQuotes

    settings = Settings(
        env="test",
        database_url=database_url,
        redis_url=redis_url,
        redis_key_prefix=prefix,
        data_dir=data_dir,
        clock_start=MARKET_OPEN,
        clock_anchor=datetime.now(UTC).isoformat(),
        feed_shards=SHARDS,
        feed_symbols="AAPL,MSFT,SPY,QQQ",
        feed_tick_interval_s=0.2,
        feed_always_open=True,
        actor_scheduling="SPREAD",
        actor_cpus={"feed_shard": 1, "paper_broker": 1},
        dispatch_poll_s=0.2,
        job_workers=0,
    )
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    node_a = cluster.add_node(num_cpus=4, resources={"scaleout_a": 1})
    node_b = cluster.add_node(num_cpus=4, resources={"scaleout_b": 1})
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, namespace=settings.ray_namespace, logging_level="ERROR")
    db = Database(database_url, PoolSize(3, 2))
    seen: dict[str, Any] = {}
    try:
        started = time.monotonic()
        ensure_actors(settings)
        shard_names = [names.feed_shard(i) for i in range(SHARDS)]
        platform = [*shard_names, names.PAPER_BROKER]
        before = _wait(
            lambda: (
                (p := _placement(settings.ray_namespace)) and all(n in p for n in platform) and p
            ),
            60,
            "platform actors",
        )
        seen["placement_before"] = {n: before[n] for n in platform}
        query = MarketDataQuery(settings.ray_namespace, SHARDS, timeout_s=5)

        def seqs() -> dict[str, int]:
            status = asyncio.run(query.feed_status())
            return {
                sym: int(info["seq"])
                for shard in status["shards"]
                for sym, info in shard.get("symbols", {}).items()
            }

        _wait(lambda: len(seqs()) == 4 and all(v > 0 for v in seqs().values()), 60, "quotes")

        clock = clock_for(settings.clock_start, settings.clock_anchor)
        orders = OrderService(db, clock, calendar_around(clock.now()), ScriptedQuotes())
        account = funded_account(db, orders, "100000")

        def place_and_fill(symbol: str) -> str:
            order = orders.submit(
                account, request(symbol, type="limit", qty="1", limit_price="1000")
            ).order
            _wait(
                lambda: orders.get_order(order.id).status.value == "filled",
                60,
                f"fill of {symbol}",
            )
            return str(order.id)

        seen["order_before"] = bool(place_and_fill("AAPL"))

        service = OptimizationService(db, max_grid=100_000, cpus=lambda: 4)
        job = service.submit(
            OptimizationRequest.from_dict(
                {
                    "strategy": "sma_cross",
                    "data": {"kind": "file", "path": csv},
                    "params": {"n1": list(range(2, 42)), "n2": list(range(65, 165))},
                    "chunk_size": 50,
                }
            ),
            owner_user_id=None,
            via="job",
        )
        driver = JobDriver(
            service.repo,
            service.uploads,
            options=DriverOptions(max_grid=100_000, task_retries=5, in_flight_per_cpu=4),
        )
        result: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: result.update(report=driver.run(job.id)))
        thread.start()
        id_of = {"a": node_a.node_id[:12], "b": node_b.node_id[:12]}
        # Kill the worker that has run the most chunks once a few are stored: the job is cut
        # early and the survivor runs the rest (so it spreads over both). Both workers hold
        # platform actors (SPREAD puts a feed shard on each); whether the paper broker is on
        # the doomed one is up to Ray's placement and is reported.
        label_of = {v: k for k, v in id_of.items()}
        done = _wait(
            lambda: (c := _chunk_nodes(db, job.id)) and len(c) >= 3 and c,
            60,
            "the first chunks",
            0.05,
        )
        doomed = label_of[Counter(done.values()).most_common(1)[0][0]]
        seen["killed"] = doomed
        seen["broker_on_killed_node"] = before[names.PAPER_BROKER] == doomed
        seen["chunks_before_kill"] = len(_chunk_nodes(db, job.id))
        seq_before = seqs()
        cluster.remove_node(node_a if doomed == "a" else node_b, allow_graceful=False)
        killed_at = time.monotonic()
        survivor = "b" if doomed == "a" else "a"

        after = _wait(
            lambda: (
                (p := _placement(settings.ray_namespace))
                and all(p.get(n) == survivor for n in platform if before[n] == doomed)
                and all(n in p for n in platform)
                and p
            ),
            60,
            "actors restarted on the survivor",
        )
        seen["placement_after"] = {n: after[n] for n in platform}
        _wait(
            lambda: (s := seqs()) and all(s.get(k, 0) > v for k, v in seq_before.items()),
            60,
            "quotes after the kill",
        )
        seen["quotes_after_kill"] = True
        seen["order_after"] = bool(place_and_fill("MSFT"))
        seen["recovered_s"] = round(time.monotonic() - killed_at, 1)
        thread.join(120)
        report = result["report"]
        trials = service.repo.trials(job.id, sort="id", limit=None)
        counts = Counter(tuple(sorted(t.params.items())) for t in trials)
        by_node = Counter(_chunk_nodes(db, job.id).values())
        seen |= {
            "job_status": report.status.value,
            "total_trials": job.total_trials,
            "total_chunks": job.total_chunks,
            "trials": len(trials),
            "distinct_params": len(counts),
            "max_copies": max(counts.values()) if counts else 0,
            "chunks_by_node": {label_of.get(k, k): v for k, v in by_node.items()},
            "elapsed_s": round(time.monotonic() - started, 1),
        }
        return seen
    finally:
        db.dispose()
        ray.shutdown()
        cluster.shutdown()


def _chunk_nodes(db: Any, job_id: str) -> dict[int, str]:
    import uuid

    from sqlalchemy import select

    from cluster.optimization.tables import optimization_chunks as c

    with db.session() as s:
        rows = s.execute(select(c.c.chunk_index, c.c.node).where(c.c.job_id == uuid.UUID(job_id)))
        return {int(i): str(n) for i, n in rows}


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:6])), flush=True)
