from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cluster import names
from cluster.settings import Settings

SERVE_PORT = 8000
BASE = f"http://127.0.0.1:{SERVE_PORT}"


#: Tuesday 2026-11-24 10:00 New York: the Serve deployment runs on a shifted clock so the
#: market is open whatever day the suite runs (end-to-end paper trading needs fills).
MARKET_OPEN = "2026-11-24T15:00:00+00:00"


@pytest.fixture(scope="session")
def serve_database_url() -> Iterator[str]:
    """The Serve deployment's own database: its reconciler and paper broker work on every
    open order they see, so they must not see the orders other tests make."""
    from cluster import migrate
    from tests.conftest import RUN_ID, create_database, drop_database

    name = f"elson_test_{RUN_ID}_serve"
    url = create_database(name)
    migrate.upgrade(url)
    yield url
    drop_database(name)


@pytest.fixture(scope="session")
def paper_database_url() -> Iterator[str]:
    """A database of the paper tests' own. The paper broker is one per database in
    production (after a restart it ignores quotes older than the last event booked for a
    symbol), so fills other tests book for the same symbols must not be in its database."""
    from cluster import migrate
    from tests.conftest import RUN_ID, create_database, drop_database

    name = f"elson_test_{RUN_ID}_paper"
    url = create_database(name)
    migrate.upgrade(url)
    yield url
    drop_database(name)


@pytest.fixture(scope="session")
def serve_settings(settings: Settings, serve_database_url: str) -> Settings:
    return settings.with_overrides(
        database_url=serve_database_url,
        api_replicas=2,
        http_port=SERVE_PORT,
        clock_start=MARKET_OPEN,
        feed_shards=2,
        feed_symbols="AAPL,MSFT,SPY",
        feed_tick_interval_s=0.25,
    )


@pytest.fixture(scope="session")
def serve_services(serve_settings: Settings) -> Iterator[Any]:
    """In-process services on the Serve deployment's database and Redis prefix (to make
    users, tokens and events the deployment sees)."""
    from serve.services import build_services

    services = build_services(serve_settings, in_ray=False, process_label="serve-tests")
    yield services
    services.close()


@pytest.fixture(scope="session")
def serve_app(ray_cluster: None, serve_settings: Settings) -> Iterator[str]:
    """The real Serve applications (API + gateway) from the typed builders, once per session."""
    from ray import serve

    from serve.app import AppArgs, build_app, build_gateway

    s = serve_settings
    serve.start(http_options={"host": "127.0.0.1", "port": SERVE_PORT})
    overrides = {
        "env": s.env.value,
        "database_url": s.database_url,
        "redis_url": s.redis_url,
        "redis_key_prefix": s.redis_key_prefix,
        "api_replicas": s.api_replicas,
        "data_dir": str(s.data_dir),
        "clock_start": s.clock_start,
        "clock_anchor": s.clock_anchor,
        "feed_shards": s.feed_shards,
        "feed_symbols": s.feed_symbols,
        "feed_tick_interval_s": s.feed_tick_interval_s,
    }
    args = AppArgs(settings=overrides)
    serve.run(build_app(args), name=names.API_APP, route_prefix="/", blocking=False)
    serve.run(build_gateway(args), name=names.GATEWAY_APP, route_prefix="/ws", blocking=False)
    deadline, last = time.monotonic() + 90, "no answer"
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(f"{BASE}/readyz", timeout=5)
            if answer.status_code == 200:
                break
            last = answer.text
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.5)
    else:
        raise RuntimeError(f"Serve app did not become ready: {last}")
    # No teardown: the session's local Ray ends right after (``ray_cluster``) and takes the
    # applications, their HAProxy and the detached actors with it. ``serve.delete`` of each
    # application waited out every replica's graceful shutdown: a minute of the suite.
    yield BASE
