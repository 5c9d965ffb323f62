"""Order submission through Ray Serve, against a floor and plain uvicorn, in one run.

Every server runs the same ``serve.api.create_api`` over the same kind of ``Services``
(database, Redis, and the platform's actors in the same Ray cluster: the outbox dispatcher
sends every order to the paper broker, the relay publishes its events). Serve runs in its
high-throughput mode when ``RAY_SERVE_ENABLE_HA_PROXY=1`` (printed). The load:
``--clients`` concurrent aiohttp clients, each on its own funded account, POSTing
non-marketable limit buys for ``--seconds``. Runs, all in one process tree:

- ``serve``: order submission through Serve;
- ``floor``: ``POST /v1/bench/floor`` through Serve, in the same app: verify the token and
  insert one row in one transaction on the same pool (the least a write request costs);
- ``uvicorn``: order submission on the same app under plain uvicorn;
- ``no-events``: the same uvicorn app with the durable event write patched out (bench
  only), so the event write's share of the order path is measured;
- ``fresh`` / ``history``: order submission through Serve with ``--history-clients``
  clients on fresh accounts, then on accounts holding ``--history-fills`` prior fills.

Targets (issue 10): serve >= 50% of floor throughput, p99 <= 2x floor's; serve >= 2/3 of
uvicorn; history p50 <= 1.2x fresh. Issue 18: events cost < 10% of order throughput.
Before this issue the same machine measured 50 orders/s through Serve (issue 10's text).

Run: .venv/bin/python bench/order_submit.py [--clients 32] [--seconds 15]
     [--history-clients 8] [--history-fills 100000]
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
SERVE_PORT, UVICORN_PORT, NO_EVENTS_PORT = 8000, 8011, 8012
ORDER = {
    "symbol": "AAPL",
    "qty": "1",
    "side": "buy",
    "type": "limit",
    "time_in_force": "gtc",
    "limit_price": "1.00",
}
PASSWORD = "Bench-password-2026!"


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def load(
    base: str,
    users: list[tuple[str, str]],
    seconds: float,
    *,
    floor: bool = False,
    symbol: str = "AAPL",
) -> tuple[int, list[float], int]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def client(token: str, account: str) -> None:
            nonlocal errors
            headers = {"Authorization": f"Bearer {token}"}
            path = "/v1/bench/floor" if floor else f"/v1/accounts/{account}/orders"
            while time.perf_counter() < deadline:
                body = (
                    {}
                    if floor
                    else {**ORDER, "symbol": symbol, "client_order_id": uuid.uuid4().hex}
                )
                started = time.perf_counter()
                async with http.post(f"{base}{path}", json=body, headers=headers) as r:
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
        f"  {name:<10} {rps:8.1f} req/s   p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   "
        f"mean {statistics.fmean(lat):7.2f} ms   errors {errors}",
        flush=True,
    )
    return {"rps": rps, "p50": p50, "p99": p99}


def measure(
    name: str,
    url: str,
    users: list[tuple[str, str]],
    seconds: float,
    floor: bool = False,
    symbol: str = "AAPL",
) -> dict[str, float]:
    asyncio.run(load(url, users, 2.0, floor=floor, symbol=symbol))  # warm-up
    n, lat, errors = asyncio.run(load(url, users, seconds, floor=floor, symbol=symbol))
    return report(name, n, lat, errors, seconds)


def start_uvicorn(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench._uvicorn_app:app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
    )


def print_ratios(r: dict[str, dict[str, float]]) -> None:
    s, f, u, n = r["serve"], r["floor"], r["uvicorn"], r["no-events"]
    print("Ratios (targets in brackets):")
    print(f"  serve/floor throughput   {s['rps'] / f['rps']:5.2f}  [>= 0.50]")
    print(f"  serve/floor p99          {s['p99'] / f['p99']:5.2f}  [<= 2.00]")
    print(f"  serve/uvicorn throughput {s['rps'] / u['rps']:5.2f}  [>= 0.67]")
    print(f"  event write cost         {1 - u['rps'] / n['rps']:5.1%}  [< 10% of throughput]")
    if "history" in r:
        h, fr = r["history"], r["fresh"]
        print(f"  history/fresh p50        {h['p50'] / fr['p50']:5.2f}  [<= 1.20]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--history-clients", type=int, default=8)
    parser.add_argument("--history-fills", type=int, default=100_000, help="0: skip")
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
        "ELSON_BENCH_FLOOR_ROUTE": "true",
    }
    os.environ.update(env_settings)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        from cluster import migrate
        from cluster.names import API_APP
        from cluster.ray_runtime import init_ray
        from cluster.settings import load_settings

        migrate.upgrade(db_url)
        with psycopg.connect(ADMIN.rsplit("/", 1)[0] + f"/{dbname}", autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE bench_floor (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
                " user_id uuid NOT NULL, at timestamptz NOT NULL DEFAULT now())"
            )
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
        procs.append(start_uvicorn(UVICORN_PORT, env))
        procs.append(start_uvicorn(NO_EVENTS_PORT, env | {"ELSON_BENCH_NO_EVENTS": "1"}))
        uvicorn_url = f"http://127.0.0.1:{UVICORN_PORT}"
        no_events_url = f"http://127.0.0.1:{NO_EVENTS_PORT}"
        wait_ready(uvicorn_url)
        wait_ready(no_events_url)

        print(
            f"Order submission, {args.clients} concurrent clients, {args.seconds:.0f} s each; "
            f"Serve mode: {mode}; machine: {os.cpu_count()} cores",
            flush=True,
        )
        r: dict[str, dict[str, float]] = {}
        users = prepare_users(serve_url, args.clients)
        r["serve"] = measure("serve", serve_url, users, args.seconds)
        r["floor"] = measure("floor", serve_url, users, args.seconds, floor=True)
        r["uvicorn"] = measure(
            "uvicorn", uvicorn_url, prepare_users(uvicorn_url, args.clients), args.seconds
        )
        r["no-events"] = measure(
            "no-events", no_events_url, prepare_users(no_events_url, args.clients), args.seconds
        )
        if args.history_fills:
            fresh = prepare_users(serve_url, args.history_clients)
            old = prepare_users(serve_url, args.history_clients)
            began = time.perf_counter()
            from bench.seed_history import seed

            seed(ADMIN.rsplit("/", 1)[0] + f"/{dbname}", [a for _, a in old], args.history_fills)
            print(
                f"  (seeded {args.history_fills:,} fills on each of {len(old)} accounts in "
                f"{time.perf_counter() - began:.0f} s)",
                flush=True,
            )
            # alternate, twice each, and keep the better of each pair: a background burst
            # (autovacuum, the dispatcher catching up) then hits both sides alike
            runs: dict[str, list[dict[str, float]]] = {"fresh": [], "history": []}
            for _ in range(2):
                runs["fresh"].append(measure("fresh", serve_url, fresh, args.seconds))
                runs["history"].append(measure("history", serve_url, old, args.seconds))
            for name, got in runs.items():
                r[name] = min(got, key=lambda m: m["p50"])
        print_ratios(r)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(20)
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
