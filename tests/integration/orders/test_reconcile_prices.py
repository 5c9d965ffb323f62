"""``elson reconcile`` checks every open order's reservation, market buys included, and
names the price it used: the latest quote when there is one, else the ask recorded when
the order was submitted (``reserve_price``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import redis
from sqlalchemy import text

from cluster import migrate
from cluster.db import Database, PoolSize
from cluster.orders import reserve_check
from cluster.orders.service import OrderService
from domain.clock import FakeClock
from domain.market_hours import MarketCalendar
from domain.orders import Order, OrderStatus
from tests.conftest import REDIS_URL
from tests.integration.orders.conftest import OPEN_TUESDAY, FakeQuotes
from tests.integration.orders.helpers import market
from tests.kit.orders import create_account

ROOT = Path(__file__).resolve().parents[3]


def _market_buy(db: Database, calendar: MarketCalendar, quotes: FakeQuotes) -> Order:
    service = OrderService(db, FakeClock(OPEN_TUESDAY), calendar, quotes)
    account = create_account(db)
    service.fund(account, Decimal("1000.00"))
    quotes.set("AAPL", "89.90", "90.00")
    order = service.submit(account, market("buy", qty="10")).order
    assert order.status is OrderStatus.PENDING_NEW, order.reject_reason
    assert order.reserve_price == Decimal("90.00")  # recorded by the submit path
    return order


def _tamper(db: Database, order_id: str, sql: str) -> None:
    with db.session() as s:
        s.execute(text(f"UPDATE orders SET {sql} WHERE id = CAST(:id AS uuid)"), {"id": order_id})


def _priced(service: OrderService, account: str) -> list[reserve_check.Priced]:
    with service.db.session() as s:
        return reserve_check.priced(
            s,
            account,
            asks=reserve_check.asks_from(service.quotes),
            buffer_bps=service.reserve_buffer_bps,
        )


def test_an_open_market_buy_is_checked_at_the_latest_quote_else_its_reserve_price(
    orders_db: Database, calendar: MarketCalendar
) -> None:
    quotes = FakeQuotes()
    order = _market_buy(orders_db, calendar, quotes)
    service = OrderService(orders_db, FakeClock(OPEN_TUESDAY), calendar, quotes)
    account = order.account_id
    assert service.check_invariants(account) == []  # type: ignore[arg-type]
    (line,) = _priced(service, account)
    assert (line.price, line.source, line.held) == (Decimal("90.00"), "quote", Decimal("904.50"))
    assert "price 90 from quote" in str(line)

    # The market moved: at the latest ask the open buy would overdraw the cash.
    quotes.set("AAPL", "119.90", "120.00")
    (found,) = service.check_invariants(account)  # type: ignore[arg-type]
    assert (found.check, found.expected, found.actual) == ("reservations", "<= 1000", "1206")
    assert f"{order.id} at 120 from quote" in found.subject

    # No quote at all: the ask recorded at submit prices it, and the check still runs.
    quotes.quotes.clear()
    assert service.check_invariants(account) == []  # type: ignore[arg-type]
    (line,) = _priced(service, account)
    assert (line.price, line.source, line.held) == (
        Decimal("90.00"),
        "reserve_price",
        Decimal("904.50"),
    )
    _tamper(orders_db, order.id, "qty = 20")  # a hand edit: twice the shares
    (found,) = service.check_invariants(account)  # type: ignore[arg-type]
    assert (found.check, found.actual) == ("reservations", "1809")
    assert f"{order.id} at 90 from reserve_price" in found.subject

    # Neither a quote nor a recorded price: reported, not skipped.
    _tamper(orders_db, order.id, "qty = 10, reserve_price = NULL")
    (found,) = service.check_invariants(account)  # type: ignore[arg-type]
    assert (found.check, found.actual) == ("reservation-price", "none")
    assert order.id in found.subject


def test_open_sells_beyond_the_position_are_found(
    orders_db: Database, calendar: MarketCalendar
) -> None:
    quotes = FakeQuotes()
    service = OrderService(orders_db, FakeClock(OPEN_TUESDAY), calendar, quotes)
    order = _market_buy(orders_db, calendar, quotes)
    _tamper(orders_db, order.id, "side = 'sell'")  # an open sell of shares never held
    (found,) = service.check_invariants(order.account_id)  # type: ignore[arg-type]
    assert (found.check, found.subject, found.actual) == (
        "sell-reservations",
        "open sells of AAPL",
        "10",
    )


def _reconcile(url: str, prefix: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ELSON_DATABASE_URL": url,
        "ELSON_REDIS_URL": REDIS_URL,
        "ELSON_REDIS_KEY_PREFIX": prefix,
        "ELSON_ENV": "test",
    }
    return subprocess.run(
        [sys.executable, "-m", "cluster.cli", "reconcile", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_reconcile_cli_names_the_feed_cache_quote_or_the_reserve_price(
    empty_database_url: str, calendar: MarketCalendar, redis_prefix: str
) -> None:
    url = empty_database_url
    migrate.upgrade(url)
    db = Database(url, PoolSize(1, 0))
    try:
        order = _market_buy(db, calendar, FakeQuotes())
    finally:
        db.dispose()
    prefix = f"{redis_prefix}reconcile:"
    client = redis.Redis.from_url(REDIS_URL)
    try:
        clean = _reconcile(url, prefix, "--account", order.account_id)
        assert clean.returncode == 0, clean.stdout + clean.stderr
        assert f"order {order.id} buy market AAPL: holds 904.50" in clean.stdout
        assert "price 90 from reserve_price" in clean.stdout

        # The feed cache knows a later ask: reconcile uses it, and finds the overdraft.
        quotes = FakeQuotes()
        quotes.set("AAPL", "119.90", "120.00")
        quote = quotes.quotes["AAPL"]
        wire = json.dumps(quote.to_wire())
        client.hset(f"{prefix}feed:last:AAPL", "quote", wire)
        broken = _reconcile(url, prefix, "--account", order.account_id)
        assert broken.returncode == 1, broken.stdout + broken.stderr
        assert "price 120 from quote" in broken.stdout
        assert f"reservations: account {order.account_id} open buy reservations" in broken.stdout
        assert "expected <= 1000, got 1206" in broken.stdout
    finally:
        client.delete(f"{prefix}feed:last:AAPL")
        client.close()
