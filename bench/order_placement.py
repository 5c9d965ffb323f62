"""Order placement throughput and latency through ``OrderService.submit`` on PostgreSQL.

No HTTP: this measures the service and the database. Each figure is set against a
baseline measured in the same run on the same engine: a bare INSERT of an equivalent
``orders`` row in its own transaction (one round trip plus a commit), so the ratio says
what the checks, the account lock and the event row cost on top of the write itself.

Scenarios (each thread has its own account unless "shared"):

- baseline insert, 1 thread and N threads
- submit (limit buy, accepted), 1 thread and N threads
- submit, N threads on ONE shared account (the per-account lock serialises them)

Run:  .venv/bin/python bench/order_placement.py [--orders 400] [--threads 4] [--profile]

It creates its own database on ``ELSON_BENCH_PG_ADMIN_URL`` (default the local server)
and drops it at the end.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cluster import migrate
from cluster.db import Database, PoolSize
from cluster.orders.service import OrderService
from cluster.orders.types import NoQuotes
from domain.clock import FakeClock
from domain.market_hours import MarketCalendar
from domain.order_request import OrderRequest

ADMIN = os.environ.get("ELSON_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # a Tuesday, market open

BASELINE_INSERT = text(
    "INSERT INTO orders (id, account_id, client_order_id, fingerprint, symbol, side, type, "
    "time_in_force, qty, limit_price, status, broker, created_at, updated_at) VALUES "
    "(:id, :account, :coid, 'v1:bench', 'AAPL', 'buy', 'limit', 'day', 1, 1.00, "
    "'pending_new', 'paper', now(), now())"
)


def sa_url(name: str) -> str:
    base = ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}"


def make_accounts(db: Database, n: int, cash: str) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(n)]
    with db.session() as s:
        for account in ids:
            user = uuid.uuid4()
            s.execute(
                text("INSERT INTO users (id, email, password_hash) VALUES (:u, :e, 'x')"),
                {"u": user, "e": f"{user.hex}@bench.example"},
            )
            s.execute(
                text(
                    "INSERT INTO accounts (id, owner_user_id, type) VALUES (:a, :u, 'individual')"
                ),
                {"a": account, "u": user},
            )
    return ids


class Result:
    def __init__(self, name: str, threads: int, latencies: list[float], wall: float) -> None:
        self.name, self.threads, self.wall = name, threads, wall
        self.n = len(latencies)
        ordered = sorted(latencies)
        self.p50 = statistics.median(ordered) * 1000
        self.p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
        self.rate = self.n / wall


def run(name: str, threads: int, jobs: list[Callable[[], object]]) -> Result:
    latencies: list[float] = []
    lock = threading.Lock()

    def one(job: Callable[[], object]) -> None:
        t0 = time.perf_counter()
        job()
        dt = time.perf_counter() - t0
        with lock:
            latencies.append(dt)

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for f in [pool.submit(one, j) for j in jobs]:
            f.result()
    return Result(name, threads, latencies, time.perf_counter() - start)


def request(i: int) -> OrderRequest:
    return OrderRequest.parse(
        symbol="AAPL",
        side="buy",
        type="limit",
        time_in_force="day",
        qty="1",
        limit_price="1.00",
        client_order_id=f"b-{i}",
    )


def baseline_jobs(db: Database, accounts: list[str], n: int) -> list[Callable[[], object]]:
    def job(i: int) -> Callable[[], object]:
        def go() -> None:
            with db.session() as s:
                s.execute(
                    BASELINE_INSERT,
                    {
                        "id": uuid.uuid4(),
                        "account": accounts[i % len(accounts)],
                        "coid": uuid.uuid4().hex,
                    },
                )

        return go

    return [job(i) for i in range(n)]


def submit_jobs(
    service: OrderService, accounts: list[str], n: int, offset: int
) -> list[Callable[[], object]]:
    def job(i: int) -> Callable[[], object]:
        account = accounts[i % len(accounts)]
        req = request(offset + i)
        return lambda: service.submit(account, req)  # type: ignore[arg-type]

    return [job(i) for i in range(n)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--orders", type=int, default=400, help="orders per scenario")
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--profile", action="store_true", help="cProfile a 1-thread submit run")
    args = ap.parse_args()

    name = f"elson_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db = None
    try:
        url = sa_url(name)
        migrate.upgrade(url)
        n, t = args.orders, args.threads
        db = Database(url, PoolSize(t, 0), pool_timeout_s=30)
        calendar = MarketCalendar(date(2026, 11, 1), date(2026, 12, 31))
        service = OrderService(db, FakeClock(NOW), calendar, NoQuotes())
        accounts = make_accounts(db, 2 * t + 2, "0")
        for a in accounts:
            service.fund(a, Decimal("1000000000.00"))  # type: ignore[arg-type]
        solo, many, shared = accounts[:1], accounts[1 : t + 1], accounts[t + 1 : t + 2]
        base_acc = accounts[t + 2 :]
        for _ in range(2):  # warm the pool, the statement cache and the calendar
            service.submit(accounts[-1], request(10**9 + _))  # type: ignore[arg-type]

        results = [
            run("baseline INSERT", 1, baseline_jobs(db, base_acc, n)),
            run("baseline INSERT", t, baseline_jobs(db, base_acc, n)),
            run("submit", 1, submit_jobs(service, solo, n, 0)),
            run("submit (own accounts)", t, submit_jobs(service, many, n, 10**6)),
            run("submit (one account)", t, submit_jobs(service, shared, n, 2 * 10**6)),
        ]
        base = {1: results[0], t: results[1]}
        print(f"\norder placement, {n} orders per row, PostgreSQL {url.split('@')[-1]}")
        print(
            f"{'scenario':<24}{'thr':>4}{'orders/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
            f"{'x base rate':>13}{'x base p50':>12}"
        )
        for r in results:
            b = base[r.threads]
            print(
                f"{r.name:<24}{r.threads:>4}{r.rate:>10.0f}{r.p50:>9.2f}{r.p99:>9.2f}"
                f"{r.rate / b.rate:>13.2f}{r.p50 / b.p50:>12.2f}"
            )
        problems = [d for a in [*solo, *many, *shared] for d in service.check_invariants(a)]
        print(f"invariants of the submit accounts after the run: {len(problems)} difference(s)")

        if args.profile:
            prof = cProfile.Profile()
            fresh = make_accounts(db, 1, "0")
            service.fund(fresh[0], Decimal("1000000000.00"))  # type: ignore[arg-type]
            jobs = submit_jobs(service, fresh, 300, 3 * 10**6)
            prof.enable()
            for job in jobs:
                job()
            prof.disable()
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(30)
            print(out.getvalue())
        return 0
    finally:
        if db is not None:
            db.dispose()
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
