"""Acceptance 7 (second half): restart the platform with the same ``ELSON_CLOCK_START``
and orders on every symbol still fill.

The first run's market time is an hour past the start (its clock anchored an hour ago:
the platform ran for an hour). The restart reads the same start; without
``cluster.clock_resume`` its market time would begin an hour before the restored orders'
last events, and the paper broker would drop every quote for those symbols as already
seen. With it, market time resumes just after the stored data and every order fills.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import ray

from cluster.clock import clock_for
from cluster.clock_resume import newest_market_instant, resume_clock
from cluster.db import Database, PoolSize
from cluster.orders.service import OrderService
from cluster.orders.wiring import calendar_around
from cluster.settings import Settings
from tests.kit.orders import close_open_orders, funded_account, request
from tests.kit.quotes import LAG, ScriptedQuotes, call, quote

TUESDAY = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # 10:00 New York
SYMBOLS = ("AAPL", "MSFT", "NVDA", "SPY")


@pytest.fixture
def own_db() -> Iterator[tuple[str, Database]]:
    """A database of this test's own: the resume looks at every order stored."""
    from cluster import migrate
    from tests.conftest import RUN_ID, create_database, drop_database

    name = f"elson_test_{RUN_ID}_clock_{uuid.uuid4().hex[:6]}"
    url = create_database(name)
    migrate.upgrade(url)
    db = Database(url, PoolSize(2, 2))
    yield url, db
    db.dispose()
    drop_database(name)


def _run_settings(settings: Settings, url: str, **clock: Any) -> Settings:
    return settings.with_overrides(
        database_url=url,
        paper_tick_interval_s=3600,
        reconcile_interval_s=3600,
        paper_quote_feed=False,
        clock_start=TUESDAY,
        **clock,
    )


async def _start_broker(s: Settings) -> Any:
    from actors.paper_broker import ensure

    name = f"test.paper.clock.{uuid.uuid4().hex[:8]}"
    ensure(s, name=name)
    return ray.get_actor(name, namespace=s.ray_namespace)


def _quotes(s: Settings, ask: str, size: int) -> list[dict[str, Any]]:
    at = clock_for(s.clock_start, s.clock_anchor).now() - LAG
    return [quote(sym, "99.00", ask, at=at, ask_size=size).to_wire() for sym in SYMBOLS]


async def test_restart_with_same_clock_start_then_orders_fill_on_every_symbol(
    ray_cluster: None, settings: Settings, own_db: tuple[str, Database]
) -> None:
    url, db = own_db
    first = _run_settings(settings, url, clock_anchor=datetime.now(UTC) - timedelta(hours=1))
    clock = clock_for(first.clock_start, first.clock_anchor)
    service = OrderService(
        db, clock, calendar_around(TUESDAY), ScriptedQuotes(), broker_name="paper"
    )
    account = funded_account(db, service, "1000000")
    try:
        broker = await _start_broker(first)
        orders = []
        for symbol in SYMBOLS:
            req = request(symbol, type="limit", time_in_force="gtc", qty="10", limit_price="101")
            order = service.submit(account, req).order
            await call(broker.submit.remote(str(order.id)))
            orders.append(order.id)
        await call(broker.on_quotes.remote(_quotes(first, "100.00", 4)))  # 4 of 10 each
        assert {service.get_order(o).status.value for o in orders} == {"partially_filled"}
        ray.kill(broker, no_restart=True)  # the platform stops

        configured = _run_settings(settings, url)  # same ELSON_CLOCK_START, a new anchor
        newest = newest_market_instant(db)
        assert newest is not None
        assert clock_for(configured.clock_start, configured.clock_anchor).now() < newest
        second, why = resume_clock(configured, db)
        assert why is not None and "resumes at" in why
        assert second.clock_start is not None and second.clock_start > newest

        broker = await _start_broker(second)
        assert (await call(broker.ping.remote()))["restored"] == len(SYMBOLS)
        await call(broker.on_quotes.remote(_quotes(second, "100.50", 100)))
        statuses = {str(service.get_order(o).symbol): service.get_order(o).status for o in orders}
        assert {k: v.value for k, v in statuses.items()} == dict.fromkeys(SYMBOLS, "filled")
        ray.kill(broker, no_restart=True)
    finally:
        close_open_orders(service, [account])


def test_start_after_stored_data_then_used_as_given(
    settings: Settings, own_db: tuple[str, Database]
) -> None:
    url, db = own_db
    configured = _run_settings(settings, url)
    assert resume_clock(configured, db) == (configured, None)  # empty database


def test_bootstrap_clock_stage_then_says_where_market_time_resumes(
    settings: Settings, own_db: tuple[str, Database]
) -> None:
    """``elson up``'s clock stage: the resumed start reaches every process, and it says so."""
    import io

    from cluster.bootstrap import Platform

    url, db = own_db
    earlier = _run_settings(settings, url, clock_anchor=datetime.now(UTC) - timedelta(hours=1))
    clock = clock_for(earlier.clock_start, earlier.clock_anchor)
    service = OrderService(
        db, clock, calendar_around(TUESDAY), ScriptedQuotes(), broker_name="paper"
    )
    account = funded_account(db, service, "1000")
    order = service.submit(account, request("AAPL", type="limit", qty="1", limit_price="1"))
    assert order.order.status.value == "pending_new"
    out = io.StringIO()
    platform = Platform(_run_settings(settings, url), out=out)
    resumed = platform._resume_clock()
    newest = newest_market_instant(db)
    assert newest is not None and resumed.clock_start is not None
    assert resumed.clock_start > newest and resumed.clock_anchor is not None
    assert "[clock] ELSON_CLOCK_START 2026-11-24T15:00:00+00:00" in out.getvalue()
    close_open_orders(service, [account])
