"""Feed shard throughput and tick-to-consumer latency: Ray actors vs the same logic in-process.

Run from the repository root, under the shared Ray lock:

    flock /tmp/elson-ray.lock .venv/bin/python bench/feed_throughput.py [--seconds 5]

Two measurements, each done twice in one run: first with ``FeedCore`` (the shard's
logic) in this process with no Ray (the baseline), then with the real actors (shards via
the supervisor, a ``FeedClient`` in this process as the consumer):

1. throughput: one shard owning the symbols that hash to shard 0 of 500 (about 125), fed
   by a provider that quotes as fast as the shard takes them; ticks ingested per second
   (renumbered, recorded, cached) and delivered to one consumer per second.
2. latency: 500 symbols across the default shards at ``--rate`` quotes per symbol per
   second; tick-to-consumer latency = consumer receive time - the quote's exchange time
   (stamped when the provider built it), p50 and p99.

The Redis cache is on in both (shared Redis, a key prefix of its own, removed at the end).
``--profile`` also prints the top of a cProfile of the in-process throughput run.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import sys
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

from cluster.marketdata.provider import BaseProvider, ErrorHook, ProviderState, Snapshot  # noqa: E402
from domain.marketdata import Quote  # noqa: E402

REDIS_URL = os.environ.get("ELSON_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
FACTORIES = {"burst": "bench.feed_throughput:make_burst"}


class BurstProvider(BaseProvider):
    """Quotes every subscribed symbol each ``interval_s`` (0: as fast as they are taken)."""

    def __init__(self, *, interval_s: float, on_error: ErrorHook | None, name: str) -> None:
        super().__init__(name=name, on_error=on_error, queue_size=10_000)
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._begin_start():
            self._transition(ProviderState.RUNNING)
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        await self._finish_stop(task)

    async def subscribe(self, symbols: Iterable[str]) -> None:
        self._add_symbols(symbols)

    async def unsubscribe(self, symbols: Iterable[str]) -> None:
        self._remove_symbols(symbols)

    async def snapshot(self, symbols: Iterable[str]) -> dict[str, Snapshot]:
        return self._latest_snapshot(symbols)

    async def _run(self) -> None:
        bid, ask = Decimal("100.00"), Decimal("100.02")
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            for symbol in sorted(self._symbols):
                now = datetime.now(UTC)
                quote = Quote(symbol, bid, 100, ask, 100, now, now, self.name, 0)
                await self._queue.put(quote)  # no latest-map upkeep: not needed here
            if self.interval_s:
                next_at += self.interval_s
                await asyncio.sleep(max(0.0, next_at - loop.time()))
            else:
                await asyncio.sleep(0)


def make_burst(
    *, settings: Any = None, on_error: ErrorHook | None = None, name: str = "burst", **_: Any
) -> BurstProvider:
    interval = settings.feed_tick_interval_s if settings is not None else 0.0
    return BurstProvider(
        interval_s=0.0 if interval < 1e-5 else interval, on_error=on_error, name=name
    )


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def latency_ms(event: dict[str, Any], now: datetime) -> float:
    return (now - datetime.fromisoformat(event["exchange_ts"])).total_seconds() * 1000


def bench_settings(symbols: list[str], shards: int, interval_s: float) -> Any:
    from cluster.settings import Settings

    tag = uuid.uuid4().hex[:8]
    return Settings(
        env="test",
        redis_url=REDIS_URL,
        redis_key_prefix=f"elson-bench-{tag}:",
        ray_namespace=f"feedbench-{tag}",
        feed_shards=shards,
        feed_symbols=",".join(symbols),
        feed_providers="burst",
        feed_always_open=True,
        feed_tick_interval_s=max(interval_s, 1e-6),
        feed_check_interval_s=1.0,
        feed_consumer_buffer=100_000,
    )


# -- in-process baseline --------------------------------------------------------------------


def build_cores(s: Any) -> list[Any]:
    from actors.feed_core import FeedCore
    from actors.feed_shard import failover_config
    from cluster.clock import SystemClock
    from cluster.marketdata.cache import FeedCache
    from cluster.marketdata.sharding import partition
    from cluster.redis_client import AsyncResilientRedis

    cores = []
    for index, owned in sorted(partition(s.symbols, s.feed_shards).items()):
        redis = AsyncResilientRedis(s.redis_url.get_secret_value(), prefix=s.redis_key_prefix)
        cores.append(
            FeedCore(
                shard=index,
                symbols=owned,
                chain=["burst"],
                make_provider=lambda name, on_error: make_burst(settings=s, on_error=on_error),
                failover=failover_config(s),
                clock=SystemClock(),
                market_open=lambda _at: True,
                epoch="bench",
                cache=FeedCache(redis, ttl_s=60, bar_history=10),
                consumer_buffer=s.feed_consumer_buffer,
            )
        )
    return cores


async def run_local(s: Any, seconds: float) -> dict[str, Any]:
    cores = build_cores(s)
    got: list[float] = []
    delivered = 0

    async def consume(core: Any) -> None:
        nonlocal delivered
        core.subscribe("bench", core.symbols)
        while True:
            batch = await core.poll("bench", 0.5)
            now = datetime.now(UTC)
            delivered += len(batch["events"])
            got.extend(latency_ms(e, now) for e in batch["events"][::10])

    for core in cores:
        await core.start()
    consumers = [asyncio.create_task(consume(c)) for c in cores]
    await asyncio.sleep(1.0)  # warm-up
    f0, d0 = sum(c.forwarded for c in cores), delivered
    got.clear()
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    took = time.perf_counter() - started
    result = {
        "ingested_per_s": (sum(c.forwarded for c in cores) - f0) / took,
        "delivered_per_s": (delivered - d0) / took,
        "p50_ms": pct(got, 0.5),
        "p99_ms": pct(got, 0.99),
        "dropped": sum(c2.dropped_total for c in cores for c2 in c.hub.consumers.values()),
    }
    for task in consumers:
        task.cancel()
    for core in cores:
        await core.stop()
        await core.cache.redis.close()
    return result


# -- Ray ------------------------------------------------------------------------------------------


async def run_ray(s: Any, seconds: float) -> dict[str, Any]:
    import ray

    from actors.feed_supervisor import ensure
    from cluster import names
    from cluster.marketdata.client import FeedClient

    await asyncio.to_thread(ensure, s, FACTORIES)
    shards = [names.get_actor(names.feed_shard(i), s.ray_namespace) for i in range(s.feed_shards)]
    client = FeedClient(
        s.ray_namespace, s.feed_shards, max_buffer=100_000, poll_timeout_s=0.5, queue_size=1024
    )
    got: list[float] = []
    delivered = 0

    async def consume() -> None:
        nonlocal delivered
        async for batch in client.batches():
            now = datetime.now(UTC)
            delivered += len(batch.events)
            got.extend(latency_ms(e, now) for e in batch.events[::10])

    async def forwarded() -> int:
        statuses = await asyncio.gather(*(h.status.remote() for h in shards))  # type: ignore[union-attr]
        return sum(st["forwarded"] for st in statuses)

    try:
        await client.subscribe(s.symbols)
        task = asyncio.create_task(consume())
        await asyncio.sleep(1.0)
        f0, d0 = await forwarded(), delivered
        got.clear()
        started = time.perf_counter()
        await asyncio.sleep(seconds)
        f1, d1 = await forwarded(), delivered
        took = time.perf_counter() - started
        statuses = await asyncio.gather(*(h.status.remote() for h in shards))  # type: ignore[union-attr]
        dropped = sum(c["dropped"] for st in statuses for c in st["consumers"].values())
        task.cancel()
        await client.close()
    finally:
        sup = names.get_actor(names.FEED_SUPERVISOR, s.ray_namespace)
        if sup is not None:
            await sup.stop_shards.remote()  # type: ignore[attr-defined]
            ray.kill(sup, no_restart=True)  # type: ignore[arg-type]
    return {
        "ingested_per_s": (f1 - f0) / took,
        "delivered_per_s": (d1 - d0) / took,
        "p50_ms": pct(got, 0.5),
        "p99_ms": pct(got, 0.99),
        "dropped": dropped,
    }


def cleanup(prefixes: list[str]) -> None:
    import redis

    r = redis.Redis.from_url(REDIS_URL)
    for prefix in prefixes:
        keys = list(r.scan_iter(match=prefix + "*", count=1000))
        if keys:
            r.delete(*keys)
    r.close()


def show(title: str, local: dict[str, Any], remote: dict[str, Any]) -> None:
    print(f"\n{title}")
    print(f"  {'':18}{'in-process':>14}{'Ray actors':>14}{'ratio':>10}")
    for key in ("ingested_per_s", "delivered_per_s", "p50_ms", "p99_ms", "dropped"):
        a, b = local[key], remote[key]
        ratio = f"{b / a:.2f}x" if a else "-"
        print(f"  {key:18}{a:>14,.1f}{b:>14,.1f}{ratio:>10}")


def step_table(rows: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> None:
    print(
        f"  {'offered/s':>10} | {'in-process: in/s':>16} {'out/s':>8} {'p99 ms':>7} |"
        f" {'Ray: in/s':>10} {'out/s':>8} {'dropped':>8} {'p50 ms':>7} {'p99 ms':>7}"
    )
    for label, a, b in rows:
        print(
            f"  {label:>10} | {a['ingested_per_s']:>16,.0f} {a['delivered_per_s']:>8,.0f}"
            f" {a['p99_ms']:>7.1f} | {b['ingested_per_s']:>10,.0f} {b['delivered_per_s']:>8,.0f}"
            f" {b['dropped']:>8,.0f} {b['p50_ms']:>7.1f} {b['p99_ms']:>7.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--rate", type=float, default=2.0, help="quotes/symbol/s for latency")
    parser.add_argument(
        "--steps", default="5000,10000,20000,max", help="offered quotes/s into one shard"
    )
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    from cluster.marketdata.sharding import partition
    from cluster.ray_runtime import init_ray

    symbols = [f"S{i:04d}" for i in range(args.symbols)]
    one_shard = partition(symbols, args.shards)[0]
    steps = [
        (label, 0.0 if label == "max" else len(one_shard) / float(label))
        for label in args.steps.split(",")
    ]
    step_settings = [(label, bench_settings(one_shard, 1, iv)) for label, iv in steps]
    paced = bench_settings(symbols, args.shards, 1.0 / args.rate)
    prefixes = [st.redis_key_prefix for _, st in step_settings] + [paced.redis_key_prefix]
    rows = []
    try:
        print(f"baseline: in-process ({len(one_shard)} symbols on one shard, then latency)")
        local = [asyncio.run(run_local(st, args.seconds)) for _, st in step_settings]
        local_lat = asyncio.run(run_local(paced, args.seconds))
        print("Ray actors: the same, with shards as actors and a FeedClient here")
        init_ray(paced)
        remote = [asyncio.run(run_ray(st, args.seconds)) for _, st in step_settings]
        remote_lat = asyncio.run(run_ray(paced, args.seconds))
        rows = [(label, a, b) for (label, _), a, b in zip(steps, local, remote, strict=True)]
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            asyncio.run(run_local(step_settings[-1][1], 3.0))
            prof.disable()
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(15)
            print("\nprofile of the in-process last-step run (3 s):\n" + out.getvalue())
    finally:
        cleanup(prefixes)
    print(f"\n1) one shard, {len(one_shard)} symbols, offered rate steps (one consumer)")
    step_table(rows)
    offered = args.symbols * args.rate
    show(
        f"2) {args.symbols} symbols / {args.shards} shards at {offered:,.0f} quotes/s",
        local_lat,
        remote_lat,
    )
    print(
        f"\nlatency sampled on every 10th event; {os.cpu_count()} cores. In-process, the "
        "consumer shares the shard's event loop; with Ray it runs in this process. Past "
        "saturation, latency is queueing (provider queue, consumer buffer), not transport."
    )


if __name__ == "__main__":
    main()
