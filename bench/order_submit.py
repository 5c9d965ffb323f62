"""Order submission through Ray Serve against the same app on plain uvicorn, in one run.

Both servers run the same ``serve.api.create_api`` over the same ``Services`` (database,
Redis, the paper broker actor in the same Ray cluster), so the ratio isolates what Serve
costs. Serve runs in its high-throughput mode (HAProxy: ``RAY_SERVE_ENABLE_HA_PROXY=1``,
``RAY_SERVE_THROUGHPUT_OPTIMIZED=1``), printed below. The load: ``--clients`` concurrent
aiohttp clients, each on its own funded account, POSTing non-marketable limit buys
(stored, routed to the paper broker, acknowledged) for ``--seconds``.

Target (issue 5): Serve throughput >= 2/3 of uvicorn's, p99 within 1.5x.

Run: .venv/bin/python bench/order_submit.py [--clients 32] [--seconds 15]
It creates and drops its own database and Redis key prefix; traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import aiohttp  # noqa: E402
import httpx  # noqa: E402
import psycopg  # noqa: E402

ADMIN = os.environ.get("ELSON_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("ELSON_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
SERVE_PORT, UVICORN_PORT = 8000, 8011
PASSWORD = "Bench-password-2026!"


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def load(
    base: str, users: list[tuple[str, str]], seconds: float
) -> tuple[int, list[float], int]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def client(token: str, account: str) -> None:
            nonlocal errors
            headers = {"Authorization": f"Bearer {token}"}
            while time.perf_counter() < deadline:
                body = {
                    "symbol": "AAPL",
                    "qty": "1",
                    "side": "buy",
                    "type": "limit",
                    "time_in_force": "gtc",
                    "limit_price": "1.00",
                    "client_order_id": uuid.uuid4().hex,
                }
                started = time.perf_counter()
                async with http.post(
                    f"{base}/v1/accounts/{account}/orders", json=body, headers=headers
                ) as r:
                    await r.read()
                    if r.status == 201:
                        latencies.append((time.perf_counter() - started) * 1000)
                    else:
                        errors += 1

        await asyncio.gather(*(client(t, a) for t, a in users))
    return len(latencies), latencies, errors


def prepare_users(base: str, n: int) -> list[tuple[str, str]]:
    users = []
    with httpx.Client(base_url=base, timeout=30) as c:
        for _ in range(n):
            email = f"bench-{uuid.uuid4().hex[:10]}@example.com"
            r = c.post(
                "/v1/auth/register",
                json={"email": email, "password": PASSWORD, "account_type": "individual"},
            )
            r.raise_for_status()
            account = r.json()["account"]["id"]
            token = c.post("/v1/auth/login", json={"email": email, "password": PASSWORD}).json()[
                "access_token"
            ]
            c.post(
                f"/v1/accounts/{account}/fund",
                json={"amount": "10000000"},
                headers={"Authorization": f"Bearer {token}"},
            ).raise_for_status()
            users.append((token, account))
    return users


def wait_ready(url: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} did not become ready")


def report(name: str, n: int, lat: list[float], errors: int, seconds: float) -> dict[str, float]:
    rps = n / seconds
    p50, p99 = percentile(lat, 0.50), percentile(lat, 0.99)
    print(
        f"  {name:<8} {rps:8.1f} orders/s   p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   "
        f"mean {statistics.fmean(lat):7.2f} ms   errors {errors}"
    )
    return {"rps": rps, "p50": p50, "p99": p99}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()

    dbname = f"elson_bench_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    db_url = (
        ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{dbname}"
    )
    prefix = f"elson-bench-{uuid.uuid4().hex[:6]}:"
    env_settings = {
        "ELSON_ENV": "test",
        "ELSON_DATABASE_URL": db_url,
        "ELSON_REDIS_URL": REDIS,
        "ELSON_REDIS_KEY_PREFIX": prefix,
        "ELSON_LOGIN_MAX_FAILURES": "100000",
        "ELSON_RATE_LIMIT_ENABLED": "false",  # measure the order path, not the limiter
        "ELSON_DATA_DIR": f"/tmp/{dbname}",
        "ELSON_API_MAX_ONGOING_REQUESTS": "100",
    }
    os.environ.update(env_settings)
    uvicorn_proc = None
    try:
        from cluster import migrate
        from cluster.names import API_APP
        from cluster.ray_runtime import init_ray
        from cluster.settings import load_settings

        migrate.upgrade(db_url)
        settings = load_settings()
        init_ray(settings)
        import ray
        from ray import serve

        from serve.app import build_app

        mode = (
            "high-throughput (HAProxy)"
            if os.environ.get("RAY_SERVE_ENABLE_HA_PROXY") == "1"
            else "default proxy"
        )
        serve.start(http_options={"host": "127.0.0.1", "port": SERVE_PORT})
        serve.run(build_app(), name=API_APP, route_prefix="/", blocking=False)
        serve_url = f"http://127.0.0.1:{SERVE_PORT}"
        wait_ready(serve_url)
        # uvicorn: the same app factory in its own process, joined to the same Ray cluster
        env = os.environ | {"ELSON_RAY_ADDRESS": ray.get_runtime_context().gcs_address}
        uvicorn_proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bench._uvicorn_app:app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(UVICORN_PORT),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=ROOT,
            env=env,
        )
        uvicorn_url = f"http://127.0.0.1:{UVICORN_PORT}"
        wait_ready(uvicorn_url)

        print(
            f"Order submission, {args.clients} concurrent clients, {args.seconds:.0f} s each; "
            f"Serve mode: {mode}; machine: {os.cpu_count()} cores"
        )
        results = {}
        for name, url in (("uvicorn", uvicorn_url), ("serve", serve_url)):
            users = prepare_users(url, args.clients)
            asyncio.run(load(url, users, 2.0))  # warm-up
            n, lat, errors = asyncio.run(load(url, users, args.seconds))
            results[name] = report(name, n, lat, errors, args.seconds)
        u, s = results["uvicorn"], results["serve"]
        print(
            f"  ratio    throughput serve/uvicorn = {s['rps'] / u['rps']:.2f} (target >= 0.67)   "
            f"p99 serve/uvicorn = {s['p99'] / u['p99']:.2f} (target <= 1.5)"
        )
    finally:
        if uvicorn_proc is not None:
            uvicorn_proc.terminate()
            uvicorn_proc.wait(20)
        try:
            from ray import serve

            serve.shutdown()
            import ray

            ray.shutdown()
        except Exception:
            pass
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


if __name__ == "__main__":
    main()
