"""More concurrent sessions than the pool allows: 503 problems after pool_timeout, never a
server-side 'too many connections'."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import psycopg
from fastapi import FastAPI
from sqlalchemy import text

from cluster.db import Database, pool_budget
from cluster.settings import Settings
from serve.api import ROUTE_MODULES, create_api
from serve.services import Services, build_services
from tests.conftest import PG_ADMIN
from tests.kit.api import serve_in_thread

LIMIT = 4


def _hold_route(app: FastAPI, services: Services) -> None:
    @app.get("/test/hold")
    def hold() -> dict[str, str]:
        with services.db.session() as session:
            session.execute(text("SELECT pg_sleep(0.6)"))
        return {"ok": "held"}


def test_load_beyond_pool_then_503_problems_never_too_many_connections(
    settings: Settings, database_url: str
) -> None:
    role = f"elson_pool_{uuid.uuid4().hex[:6]}"
    dbname = database_url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT {LIMIT}")
        conn.execute(f'GRANT CONNECT ON DATABASE "{dbname}" TO {role}')
    role_url = database_url.replace("postgres@", f"{role}@")
    services = build_services(settings, in_ray=False)
    services.db.dispose()
    # the role's limit plays the server's max_connections; one process holds the only pool
    services.db = Database(role_url, pool_budget(LIMIT, 0, 1), pool_timeout_s=0.3)
    ROUTE_MODULES.append(_hold_route)
    try:
        app = create_api(services)
    finally:
        ROUTE_MODULES.remove(_hold_route)
    try:
        with serve_in_thread(app) as base:

            async def load() -> list[httpx.Response]:
                async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                    return await asyncio.gather(*(client.get("/test/hold") for _ in range(12)))

            started = time.monotonic()
            responses = asyncio.run(load())
            elapsed = time.monotonic() - started
        codes = sorted(r.status_code for r in responses)
        assert set(codes) == {200, 503}, codes
        assert codes.count(200) >= LIMIT
        for r in responses:
            if r.status_code == 503:
                assert r.headers["content-type"].startswith("application/problem+json")
                assert r.json()["type"] == "/problems/dependency-unavailable"
                assert "pool exhausted" in r.json()["detail"]
            assert "too many connections" not in r.text
        assert elapsed < 10
    finally:
        services.close()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'REVOKE CONNECT ON DATABASE "{dbname}" FROM {role}')
            conn.execute(f"DROP ROLE {role}")
