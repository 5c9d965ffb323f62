"""The real API app on uvicorn against a database of this package's own: rotation and
retirement change the whole key ring, which other tests' rows must not see."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from cluster.settings import Settings
from serve.api import create_api
from serve.services import Services, build_services
from tests.conftest import own_database
from tests.kit.api import serve_in_thread

PII_KEY = "test-only-pii-key-" + "q" * 30


@pytest.fixture(scope="package")
def pii_database_url() -> Iterator[str]:
    with own_database("pii") as url:
        yield url


def settings_for(settings: Settings, url: str) -> Settings:
    return settings.with_overrides(
        database_url=url,
        pii_key=PII_KEY,
        login_max_failures=10_000,
        api_replicas=1,
        job_workers=0,
    )


@contextmanager
def pii_stack(settings: Settings, tag: str) -> Iterator[tuple[str, Services, str]]:
    """(database URL, services, API base URL) on a database of the caller's own."""
    with own_database(tag) as url:
        services = build_services(settings_for(settings, url), in_ray=False, process_label=tag)
        try:
            with serve_in_thread(create_api(services)) as base:
                yield url, services, base
        finally:
            services.close()


@pytest.fixture(scope="package")
def pii_settings(settings: Settings, pii_database_url: str) -> Settings:
    return settings_for(settings, pii_database_url)


@pytest.fixture(scope="package")
def pii_services(pii_settings: Settings) -> Iterator[Services]:
    services = build_services(pii_settings, in_ray=False, process_label="pii-tests")
    yield services
    services.close()


@pytest.fixture(scope="package")
def pii_url(pii_services: Services) -> Iterator[str]:
    with serve_in_thread(create_api(pii_services)) as url:
        yield url


@pytest.fixture
def client(pii_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=pii_url, timeout=20) as c:
        yield c


def pii_values() -> dict[str, Any]:
    """A registration's PII, unique per call so a dump search finds only this user."""
    rnd = random.Random(uuid.uuid4().int)
    tag = uuid.uuid4().hex[:8]
    return {
        "email": f"Pii.{tag}@Example.com",
        "legal_name": f"Zelda Quux{tag}",
        "tax_id": f"{rnd.randint(100, 599)}-{rnd.randint(10, 99)}-{rnd.randint(1000, 9999)}",
        "date_of_birth": f"{rnd.randint(1940, 1989)}-0{rnd.randint(1, 9)}-{rnd.randint(10, 28)}",
        "phone": f"+1212{rnd.randint(2_000_000, 9_999_999)}",
    }


def dump_all_tables(url: str) -> str:
    """Every row of every table as text (what ``pg_dump --data-only`` would show)."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            tables = conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            ).scalars()
            parts = []
            for table in list(tables):
                rows = conn.execute(text(f'SELECT t::text FROM "{table}" t')).scalars()
                parts.extend(f"{table}: {r}" for r in rows)
            return "\n".join(parts)
    finally:
        engine.dispose()


def sql(url: str, statement: str, **params: Any) -> list[Any]:
    """Run one statement in its own transaction; rows if it returns any."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement), params)
            return list(result.all()) if result.returns_rows else []
    finally:
        engine.dispose()
