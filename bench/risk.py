"""Order submission through the API with the risk engine on and off, in one run (issue 11,
acceptance 6: the gate costs under 10% in throughput and in p99).

Two uvicorn processes of the same API app (``serve.api.create_api`` over the same kind of
``Services``, without Ray: the order path alone), on one database:

- ``off``: ``ELSON_RISK_GATE=false``, no risk gate at all;
- ``on``: the gate on, with a risk book that is not empty: a global max order notional and
  max position, a halted symbol, a reducing account and a locked account (other
  accounts: each order is checked against all of it), and a version that moves;
- ``on+rate``: the same plus an order rate limit per account (one more indexed count
  under the account lock per order).

``--clients`` concurrent clients each POST non-marketable limit buys on their own account
for ``--seconds``; the runs alternate (off, on, on+rate) ``--rounds`` times on fresh users
and the medians are compared, so drift on a shared 2-core machine hits both sides.

Run: .venv/bin/python bench/risk.py [--clients 16] [--seconds 8] [--rounds 2]
It creates and drops its own database; traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from bench.order_submit import (  # noqa: E402
    ADMIN,
    REDIS,
    measure,
    prepare_users,
    start_uvicorn,
    wait_ready,
)

PORTS = {"off": 8021, "on": 8022, "on+rate": 8023}


def seed_risk_book(db_url: str) -> None:
    """A risk book with something in every part (states, locks, limits), none of which
    refuses the bench's own orders."""
    from cluster.db import Database, PoolSize
    from cluster.risk.engine import RiskEngine
    from domain.clock import FakeClock
    from domain.risk.limits import RiskLimits
    from domain.risk.states import Scope, TradingState

    db = Database(db_url, PoolSize(1, 1))
    engine = RiskEngine(db, FakeClock(datetime.now(UTC)))
    engine.set_limits(
        Scope.global_(),
        RiskLimits(max_order_notional=Decimal(1_000_000), max_position_qty=Decimal(10**9)),
        by="bench",
    )
    engine.set_state(Scope.symbol("TSLA"), TradingState.HALTED, reason="bench", by="bench")
    engine.set_state(Scope.account(str(uuid.uuid4())), TradingState.REDUCING, reason="b", by="b")
    engine.create_lock(Scope.account(str(uuid.uuid4())), reason="bench", by="bench")
    # the on+rate run trades MSFT: this scope's rate limit never touches the on run
    engine.set_limits(Scope.symbol("MSFT"), RiskLimits(max_orders=100_000), by="bench")
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    dbname = f"elson_bench_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    db_url = (
        ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{dbname}"
    )
    base_env = os.environ | {
        "ELSON_ENV": "test",
        "ELSON_DATABASE_URL": db_url,
        "ELSON_REDIS_URL": REDIS,
        "ELSON_REDIS_KEY_PREFIX": f"elson-bench-{uuid.uuid4().hex[:6]}:",
        "ELSON_LOGIN_MAX_FAILURES": "100000",
        "ELSON_RATE_LIMIT_ENABLED": "false",
        "ELSON_DATA_DIR": f"/tmp/{dbname}",
        "ELSON_BENCH_NO_RAY": "1",
    }
    procs = []
    try:
        from cluster import migrate

        migrate.upgrade(db_url)
        seed_risk_book(db_url)
        envs = {
            "off": base_env | {"ELSON_RISK_GATE": "false"},
            "on": base_env | {"ELSON_RISK_GATE": "true"},
            "on+rate": base_env | {"ELSON_RISK_GATE": "true"},
        }
        for name in ("off", "on", "on+rate"):
            procs.append(start_uvicorn(PORTS[name], envs[name]))
        for name in PORTS:
            wait_ready(f"http://127.0.0.1:{PORTS[name]}")
        print(
            f"Order submission through the API (uvicorn, no Ray), {args.clients} clients, "
            f"{args.seconds:.0f} s per run, {args.rounds} rounds; {os.cpu_count()} cores",
            flush=True,
        )
        results: dict[str, list[dict[str, float]]] = {name: [] for name in PORTS}
        for rnd in range(args.rounds):
            print(f"round {rnd + 1}", flush=True)
            for name in PORTS:
                url = f"http://127.0.0.1:{PORTS[name]}"
                users = prepare_users(url, args.clients)
                symbol = "MSFT" if name == "on+rate" else "AAPL"
                results[name].append(measure(name, url, users, args.seconds, symbol=symbol))
        med = {
            name: {k: statistics.median(r[k] for r in runs) for k in ("rps", "p99")}
            for name, runs in results.items()
        }
        print("Medians and costs against off (target: < 10% in throughput and p99):")
        for name in ("on", "on+rate"):
            rps_cost = 1 - med[name]["rps"] / med["off"]["rps"]
            p99_cost = med[name]["p99"] / med["off"]["p99"] - 1
            print(
                f"  {name:<8} {med[name]['rps']:7.1f} req/s (off {med['off']['rps']:.1f}): "
                f"throughput cost {rps_cost:6.1%}   p99 {med[name]['p99']:6.2f} ms "
                f"(off {med['off']['p99']:.2f}): p99 cost {p99_cost:6.1%}"
            )
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


if __name__ == "__main__":
    main()
