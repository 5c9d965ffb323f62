"""``elson reconcile``: exit 0 on a consistent ledger, 1 (naming the break) otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from cluster import migrate
from cluster.db import Database, PoolSize
from cluster.orders.service import OrderService
from domain.clock import FakeClock
from domain.market_hours import MarketCalendar
from tests.integration.orders.conftest import OPEN_TUESDAY, FakeQuotes, create_account
from tests.integration.orders.helpers import limit_buy

ROOT = Path(__file__).resolve().parents[3]


def _reconcile(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ELSON_DATABASE_URL": url, "ELSON_ENV": "test"}
    return subprocess.run(
        [sys.executable, "-m", "cluster.cli", "reconcile", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_reconcile_exit_codes_follow_the_ledger(
    empty_database_url: str, calendar: MarketCalendar
) -> None:
    url = empty_database_url
    migrate.upgrade(url)
    account = create_account(url)
    db = Database(url, PoolSize(1, 0))
    try:
        service = OrderService(db, FakeClock(OPEN_TUESDAY), calendar, FakeQuotes())
        service.fund(account, Decimal("100.00"))  # type: ignore[arg-type]
        service.submit(account, limit_buy(price="50.00"))  # type: ignore[arg-type]
    finally:
        db.dispose()

    clean = _reconcile(url)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "0 difference(s)" in clean.stdout

    # A superuser bypasses the triggers (replica role) and writes an unbalanced posting.
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            entry = conn.execute(
                text("SELECT id FROM journal_entries WHERE account_id = :a"), {"a": account}
            ).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO postings (entry_id, ledger_account, account_id, unit, amount) "
                    "VALUES (:e, 'fees', :a, 'USD', 0.01)"
                ),
                {"e": entry, "a": account},
            )
    finally:
        engine.dispose()

    broken = _reconcile(url, "--account", account)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert f"entry-balanced: account {account} journal entry {entry} (USD)" in broken.stdout
    assert "cash:" in broken.stdout  # cash no longer mirrors the other USD accounts
    assert _reconcile(url, "--account", "not-a-uuid").returncode == 1
