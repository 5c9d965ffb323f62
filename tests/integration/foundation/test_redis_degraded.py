"""Redis stopped while the platform runs: served, degraded, counted; back: recovers."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from cluster import metrics
from cluster.settings import Settings
from serve.api import create_api
from serve.services import build_services
from tests.kit.api import serve_in_thread
from tests.kit.redis_server import RedisProcess


def failures_total() -> float:
    """``elson_redis_failures_total`` as recorded by this process (Ray or prometheus)."""
    return metrics.redis_failures().local_total


def test_redis_outage_then_degraded_served_counted_and_recovers(
    settings: Settings, tmp_path: Path
) -> None:
    redis_proc = RedisProcess(tmp_path / "redis")
    redis_proc.start()
    services = build_services(settings.with_overrides(redis_url=redis_proc.url), in_ray=False)
    try:
        with (
            serve_in_thread(create_api(services)) as base,
            httpx.Client(base_url=base, timeout=10) as http,
        ):
            ready = http.get("/readyz")
            assert ready.status_code == 200 and ready.json()["status"] == "ready"

            redis_proc.stop()
            before = failures_total()
            degraded = http.get("/readyz")
            assert degraded.status_code == 200
            body = degraded.json()
            assert body["status"] == "degraded"
            assert body["checks"]["redis"]["state"] == "degraded"
            assert body["checks"]["postgres"]["state"] == "up"
            assert http.get("/v1/version").status_code == 200  # still served
            assert failures_total() > before
            assert services.redis.health.ok is False

            redis_proc.start()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if http.get("/readyz").json()["status"] == "ready":
                    break
                time.sleep(0.2)
            assert http.get("/readyz").json()["status"] == "ready"
            assert services.redis.health.ok is True
    finally:
        services.close()
        redis_proc.stop()
