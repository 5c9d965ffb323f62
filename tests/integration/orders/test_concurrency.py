"""No overdraft and one order per client order id, under real concurrency.

Several processes (multiprocessing ``spawn``), each with threads and its own
``Database``, submit against one account on the real PostgreSQL. What keeps them honest
is the per-account ``SELECT ... FOR UPDATE`` in ``OrderService.submit``: without it
(checked by hand, see the lead's report) many more than 50 orders are accepted here.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from cluster.orders.service import OrderService
from domain.orders import OrderStatus
from tests.integration.orders.conftest import OPEN_TUESDAY, FakeQuotes

PROCESSES = 4
THREADS = 4
ORDERS = 200
PRICE = "100.00"
AFFORDABLE = 50  # cash covers exactly this many 1 x 100.00 limit buys


def _worker(
    url: str,
    account: str,
    client_ids: list[str],
    threads: int,
    barrier: Any,
    results: Any,
) -> None:
    """One process: its own Database and service, ``threads`` threads, start on cue."""
    from cluster.db import Database, PoolSize
    from domain.clock import FakeClock
    from domain.market_hours import MarketCalendar
    from tests.integration.orders.helpers import limit_buy

    db = Database(url, PoolSize(threads, 0), pool_timeout_s=60)
    calendar = MarketCalendar(date(2026, 11, 1), date(2026, 12, 31))
    service = OrderService(db, FakeClock(OPEN_TUESDAY), calendar, FakeQuotes())
    for _ in range(threads):  # open every connection before the start signal
        db.ping()
    lock = threading.Lock()
    out: list[tuple[str, str, str, bool, str | None]] = []

    def submit(coid: str) -> None:
        result = service.submit(account, limit_buy(price=PRICE, client_order_id=coid))  # type: ignore[arg-type]
        with lock:
            out.append(
                (
                    coid,
                    result.order.id,
                    result.order.status.value,
                    result.created,
                    result.order.reject_code,
                )
            )

    try:
        barrier.wait(timeout=120)
        with ThreadPoolExecutor(threads) as pool:
            for future in [pool.submit(submit, c) for c in client_ids]:
                future.result(timeout=120)
        results.put(("ok", out))
    except Exception as exc:  # report, never hang the parent
        results.put(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        db.dispose()


def _run(url: str, account: str, per_process: list[list[str]], threads: int) -> list[Any]:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(per_process))
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(url, account, ids, threads, barrier, results))
        for ids in per_process
    ]
    for p in procs:
        p.start()
    gathered: list[Any] = []
    try:
        for _ in procs:
            kind, payload = results.get(timeout=240)
            assert kind == "ok", payload
            gathered.extend(payload)
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    return gathered


@pytest.mark.slow
def test_concurrent_buys_from_several_processes_never_overdraw(
    service: OrderService, account: str, database_url: str
) -> None:
    service.fund(account, Decimal(PRICE) * AFFORDABLE)
    ids = [f"conc-{i}" for i in range(ORDERS)]
    outcomes = _run(database_url, account, [ids[i::PROCESSES] for i in range(PROCESSES)], THREADS)

    assert len(outcomes) == ORDERS and all(created for *_, created, _ in outcomes)
    statuses = [status for _, _, status, _, _ in outcomes]
    accepted = statuses.count(OrderStatus.PENDING_NEW.value)
    rejected = statuses.count(OrderStatus.REJECTED.value)
    assert (accepted, rejected) == (AFFORDABLE, ORDERS - AFFORDABLE)
    assert all(
        reason == "insufficient_buying_power"
        for _, _, status, _, reason in outcomes
        if status == "rejected"
    )
    # What is stored agrees: one row per client order id, each in exactly one status, and
    # the reservations of the accepted ones never exceed the cash.
    with service.db.session() as s:
        rows = s.execute(
            text(
                "SELECT status, count(*), sum(qty * limit_price) FROM orders "
                "WHERE account_id = :a GROUP BY status"
            ),
            {"a": account},
        ).all()
    stored = {status: (int(n), total) for status, n, total in rows}
    assert set(stored) == {"pending_new", "rejected"}
    assert stored["pending_new"][0] + stored["rejected"][0] == ORDERS
    assert stored["pending_new"][1] <= service.cash(account)
    assert service.buying_power(account) >= 0
    assert service.check_invariants(account) == []


@pytest.mark.slow
def test_one_client_order_id_submitted_50_times_concurrently_creates_one_order(
    service: OrderService, account: str, database_url: str
) -> None:
    service.fund(account, Decimal("1000.00"))
    copies = [["same-coid"] * 10 for _ in range(5)]  # 5 processes x 10 threads
    outcomes = _run(database_url, account, copies, threads=10)

    assert len(outcomes) == 50
    assert len({order_id for _, order_id, *_ in outcomes}) == 1
    assert sum(1 for *_, created, _ in outcomes if created) == 1
    with service.db.session() as s:
        count = s.execute(
            text("SELECT count(*) FROM orders WHERE account_id = :a"), {"a": account}
        ).scalar_one()
    assert count == 1
    assert service.check_invariants(account) == []
