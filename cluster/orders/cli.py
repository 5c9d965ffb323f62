"""``elson reconcile [--account ID]``: run the order and ledger invariants, print each
difference, exit 0 when there are none and 1 otherwise (so cron and CI can alert)."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from cluster import cli as elson_cli
from cluster.settings import Settings


def cmd_reconcile(args: argparse.Namespace, settings: Settings) -> int:
    from cluster.clock import SystemClock
    from cluster.db import Database, PoolSize
    from cluster.orders.service import OrderService
    from cluster.orders.types import NoQuotes
    from domain.ids import parse_account_id
    from domain.market_hours import MarketCalendar

    account = None if args.account is None else parse_account_id(args.account, "--account")
    with elson_cli._database_url(settings) as url:
        db = Database(
            url, PoolSize(1, 0), statement_timeout_ms=max(settings.db_statement_timeout_ms, 600_000)
        )
        try:
            today = SystemClock().now().date()
            # No quotes here: open market buys cannot be valued and are left out of the
            # reservation check. The calendar is unused by the checks; a week is enough.
            service = OrderService(
                db,
                SystemClock(),
                MarketCalendar(today, today + timedelta(days=7)),
                NoQuotes(),
                reserve_buffer_bps=settings.reserve_buffer_bps,
            )
            differences = service.check_invariants(account)
        finally:
            db.dispose()
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
