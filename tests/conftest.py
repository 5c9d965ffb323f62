"""Session fixtures: a database of our own on the real PostgreSQL, a Redis key prefix of our
own on the real Redis, and one Ray cluster per test session. Each cleans up after itself.

Override the servers with ``ELSON_TEST_PG_ADMIN_URL`` and ``ELSON_TEST_REDIS_URL``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
import redis

from cluster.settings import Settings
from tests.kit.vault_fixtures import vault, vault_tls  # noqa: F401  (fixtures: the fake Vault)

# Ray reads these when it is imported; local Ray stays on loopback (FIELD-NOTES).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_metrics_report_interval_ms", "1000")

PG_ADMIN = os.environ.get(
    "ELSON_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("ELSON_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RUN_ID = uuid.uuid4().hex[:8]


def sa_url(dbname: str) -> str:
    base = PG_ADMIN.rsplit("/", 1)[0]
    return base.replace("postgresql://", "postgresql+psycopg://", 1) + f"/{dbname}"


def create_database(name: str) -> str:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return sa_url(name)


def drop_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def own_database(tag: str) -> Iterator[str]:
    """A migrated database of a test module's own: for actors and loops (dispatcher, relay,
    reconciler) that work on every row they see, so they must not see other tests' rows."""
    from cluster import migrate

    name = f"elson_test_{RUN_ID}_{tag}"
    url = create_database(name)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        drop_database(name)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh database at the head revision for the whole session."""
    from cluster import migrate

    name = f"elson_test_{RUN_ID}"
    url = create_database(name)
    migrate.upgrade(url)
    yield url
    drop_database(name)


@pytest.fixture
def empty_database_url() -> Iterator[str]:
    """A fresh, unmigrated database for one test."""
    name = f"elson_test_{RUN_ID}_{uuid.uuid4().hex[:6]}"
    url = create_database(name)
    yield url
    drop_database(name)


@pytest.fixture(scope="session")
def redis_prefix() -> Iterator[str]:
    prefix = f"elson-test-{RUN_ID}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


#: The Redis-facing tests run against both: production's kind (the machine's Redis 7) and
#: the embedded valkey-server that ``./dev up`` runs (issue 8: they once differed).
REDIS_SERVERS = ("machine", "embedded")


@pytest.fixture(scope="session")
def embedded_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The embedded Redis, started by the same code as ``./dev up`` (``cluster.embedded``)."""
    from cluster.embedded import EmbeddedRedis

    server = EmbeddedRedis(tmp_path_factory.mktemp("embedded-redis"))
    url = server.start()
    yield url
    server.stop()


@pytest.fixture(params=REDIS_SERVERS)
def redis_url(request: pytest.FixtureRequest) -> str:
    """Each Redis-facing test runs once per server in ``REDIS_SERVERS``."""
    if request.param == "embedded":
        return str(request.getfixturevalue("embedded_redis_url"))
    return REDIS_URL


@pytest.fixture(scope="session")
def settings(database_url: str, redis_prefix: str) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        redis_url=REDIS_URL,
        redis_key_prefix=redis_prefix,
        data_dir=f"/tmp/elson-test-{RUN_ID}",
        # The limiter runs in every test (its keys under this prefix) but never trips:
        # tests fire bursts from one token and one IP. test_rate_limits.py sets tight ones.
        rate_limit_token_per_s=1e6,
        rate_limit_token_burst=1_000_000,
        rate_limit_ip_per_s=1e6,
        rate_limit_ip_burst=1_000_000,
    )


@pytest.fixture(scope="session")
def ray_cluster(settings: Settings) -> Iterator[None]:
    """One local Ray for the whole session (loopback, no dashboard). Ending it stops every
    process it started: Serve's controller, proxies and HAProxy, replicas, detached actors
    (checked: no ``haproxy`` or ``raylet`` is left). A ``serve.shutdown()`` first would
    only wait for replicas' graceful shutdowns."""
    from cluster.ray_runtime import init_ray, shutdown_ray

    assert settings.ray_address is None, "the tests start their own local Ray"
    init_ray(settings)
    yield
    shutdown_ray()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests on the session's Serve deployment (``serve_app``) run last, in their order.

    Once started, that deployment (API and gateway replicas, feed shards ticking, paper
    broker, dispatcher, relay) runs until the session ends and keeps part of a core busy;
    started at the first of them in file order (``check/``), it slowed everything after.
    """
    items.sort(key=lambda item: "serve_app" in getattr(item, "fixturenames", ()))
