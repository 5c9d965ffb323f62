"""Feed shards in the session Ray cluster, each test in its own namespace and key prefix."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import ray

from actors.feed_supervisor import ensure
from cluster import names
from cluster.settings import Settings

SCRIPTED = {"scripted": "tests.kit.scripted_provider:make_scripted"}


def feed_settings(settings: Settings, **overrides: Any) -> Settings:
    """Small, fast feed settings in a namespace and Redis prefix of the test's own."""
    tag = uuid.uuid4().hex[:8]
    base: dict[str, Any] = {
        "ray_namespace": f"feedtest-{tag}",
        "redis_key_prefix": f"{settings.redis_key_prefix}{tag}:",
        "feed_shards": 1,
        "feed_symbols": "AAPL,MSFT",
        "feed_providers": "simulated",
        "feed_always_open": True,
        "feed_tick_interval_s": 0.05,
        "feed_staleness_s": 0.5,
        "feed_check_interval_s": 0.25,
        "feed_hysteresis_s": 1.0,
        "feed_breaker_open_s": 1.0,
        "feed_cache_flush_s": 0.1,
        # Two providers with unrelated prices always "diverge"; these tests are about
        # staleness and errors, so divergence is switched off.
        "feed_divergence_bps": Decimal("1e9"),
    }
    return settings.with_overrides(**(base | overrides))


@contextmanager
def running_feed(s: Settings, factories: dict[str, str] | None = None) -> Iterator[dict[int, Any]]:
    """Supervisor + shards up and answering; everything killed afterwards."""
    try:
        checked = ensure(s, factories)
        assert checked == [names.FEED_SUPERVISOR] + [
            names.feed_shard(i) for i in range(s.feed_shards)
        ]
        yield {
            i: names.get_actor(names.feed_shard(i), s.ray_namespace) for i in range(s.feed_shards)
        }
    finally:
        sup = names.get_actor(names.FEED_SUPERVISOR, s.ray_namespace)
        if sup is not None:
            try:
                ray.get(sup.stop_shards.remote(), timeout=30)  # type: ignore[attr-defined]
            finally:
                ray.kill(sup, no_restart=True)  # type: ignore[arg-type]


def wait_for(
    probe: Callable[[], Any], timeout_s: float, interval_s: float = 0.05, what: str = ""
) -> Any:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what or probe}")


def metric_total(name: str, **tags: str) -> float:
    """Sum of a Ray-exported counter over the cluster's metrics export (``ray_`` prefix)."""
    from cluster.metrics import gather_cluster_metrics

    total = 0.0
    for line in gather_cluster_metrics().splitlines():
        if not line.startswith(f"ray_{name}{{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in tags.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total
