"""``elson reconcile [--account ID]``: run the order and ledger invariants, print each
difference, exit 0 when there are none and 1 otherwise (so cron and CI can alert).

Every open order's reservation is checked, market buys included: they are priced at the
last ask the feed cache in Redis knows and, without one, at the ask recorded when the
order was submitted (``reserve_price``). One ``priced:`` line per open order says what
it holds and which price (and source) that came from.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from cluster import cli as elson_cli
from cluster.settings import Settings

#: Reconcile wants the last known quote, however old: the cache's own TTL bounds it.
LAST_KNOWN_S = 366 * 24 * 3600.0


def _quotes(settings: Settings) -> tuple[Any, str]:
    """The feed cache as a quote lookup, and a line saying where it is (or why none)."""
    from cluster.clock import SystemClock
    from cluster.embedded import EmbeddedRedis
    from cluster.marketdata.latest import CachedQuoteLookup
    from cluster.orders.types import NoQuotes
    from cluster.redis_client import ResilientRedis

    if settings.redis_url is not None:
        redis = ResilientRedis.from_settings(settings)
    else:
        socket = EmbeddedRedis(settings.data_dir).socket_path
        if not socket.exists():
            return NoQuotes(), "no feed cache (the embedded Redis is not running)"
        redis = ResilientRedis(
            f"unix://{socket}",
            prefix=settings.redis_key_prefix,
            timeout_s=settings.redis_timeout_s,
            attempts=settings.redis_retry_attempts,
        )
    lookup = CachedQuoteLookup(redis, SystemClock().now, max_age_s=LAST_KNOWN_S)
    return lookup, "last known quotes from the feed cache"


def cmd_reconcile(args: argparse.Namespace, settings: Settings) -> int:
    from cluster.clock import SystemClock
    from cluster.db import Database, PoolSize
    from cluster.orders import reserve_check
    from cluster.orders.service import OrderService
    from domain.ids import parse_account_id
    from domain.market_hours import MarketCalendar

    account = None if args.account is None else parse_account_id(args.account, "--account")
    quotes, where = _quotes(settings)
    with elson_cli._database_url(settings) as url:
        db = Database(
            url, PoolSize(1, 0), statement_timeout_ms=max(settings.db_statement_timeout_ms, 600_000)
        )
        try:
            today = SystemClock().now().date()
            # The calendar is unused by the checks; a week is enough.
            service = OrderService(
                db,
                SystemClock(),
                MarketCalendar(today, today + timedelta(days=7)),
                quotes,
                reserve_buffer_bps=settings.reserve_buffer_bps,
            )
            differences = service.check_invariants(account)
            with db.session() as s:
                priced = reserve_check.priced(
                    s,
                    account,
                    asks=reserve_check.asks_from(quotes),
                    buffer_bps=settings.reserve_buffer_bps,
                )
        finally:
            db.dispose()
    print(f"reconcile: market buys priced at {where}, else at their reserve_price", flush=True)
    for line in priced:
        print(line)
    for difference in differences:
        print(difference)
    scope = f"account {account}" if account else "all accounts"
    print(f"reconcile: {len(differences)} difference(s) in {scope}", flush=True)
    return 0 if not differences else 1


def add_reconcile(sub: Any) -> None:
    p = sub.add_parser(
        "reconcile",
        help="check orders and the ledger for broken invariants",
        description="Run every order/ledger invariant; exit 1 if any difference is found.",
    )
    p.add_argument("--account", help="only this account (UUID)")
    p.set_defaults(func=cmd_reconcile)


if add_reconcile not in elson_cli.EXTRA_COMMANDS:
    elson_cli.EXTRA_COMMANDS.append(add_reconcile)
