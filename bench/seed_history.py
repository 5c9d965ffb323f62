"""Give bench accounts a long history: ``n`` filled orders each, with their fills, journal
entries and postings, written in bulk by SQL (``generate_series``).

Bench-only: it writes as the superuser with ``session_replication_role = replica`` (no
triggers, so the per-row balance check does not run ten million times), so it recomputes
the account's materialized ``balances`` from its postings afterwards, and each entry it
writes balances by construction (a buy of 1 MSFT at 100.00, then its sell). ``elson
reconcile`` on the account still passes.
"""

from __future__ import annotations

import psycopg

SEED = """
WITH o AS (
  INSERT INTO orders (id, account_id, client_order_id, fingerprint, symbol, side, type,
    time_in_force, qty, status, filled_qty, filled_notional, filled_avg_price, broker,
    created_at, updated_at, submitted_at, filled_at)
  SELECT gen_random_uuid(), %(acct)s, 'hist-' || g, 'hist', 'MSFT',
    CASE WHEN g %% 2 = 0 THEN 'sell' ELSE 'buy' END, 'limit', 'day', 1, 'filled', 1, 100, 100,
    'paper', now() - interval '2 days', now() - interval '2 days',
    now() - interval '2 days', now() - interval '2 days'
  FROM generate_series(1, %(n)s) g
  RETURNING id, side, client_order_id
), f AS (
  INSERT INTO fills (execution_id, order_id, account_id, symbol, side, qty, price, at)
  SELECT o.id || '-1', o.id, %(acct)s, 'MSFT', o.side, 1, 100, now() - interval '2 days'
  FROM o RETURNING execution_id, side
), j AS (
  INSERT INTO journal_entries (id, account_id, kind, at, memo)
  SELECT 'fill:' || f.execution_id, %(acct)s, 'fill', now() - interval '2 days', 'history'
  FROM f RETURNING id
)
INSERT INTO postings (entry_id, ledger_account, account_id, unit, amount)
SELECT j.id, p.account, %(acct)s, p.unit,
  p.amount * CASE WHEN f.side = 'buy' THEN 1 ELSE -1 END
FROM j JOIN f ON j.id = 'fill:' || f.execution_id
CROSS JOIN (VALUES ('cash', 'USD', -100), ('trades', 'USD', 100),
                   ('position:MSFT', 'shares:MSFT', 1), ('market:MSFT', 'shares:MSFT', -1))
  AS p(account, unit, amount)
"""

REBALANCE = """
INSERT INTO balances (account_id, ledger_account, unit, amount)
SELECT account_id, ledger_account, min(unit), sum(amount) FROM postings
WHERE account_id = %(acct)s GROUP BY account_id, ledger_account
ON CONFLICT (account_id, ledger_account) DO UPDATE SET amount = excluded.amount
"""


def seed(admin_db_url: str, accounts: list[str], n: int) -> None:
    with psycopg.connect(admin_db_url, autocommit=False) as conn:
        conn.execute("SET session_replication_role = replica")
        for acct in accounts:
            conn.execute(SEED, {"acct": acct, "n": n})
            conn.execute(REBALANCE, {"acct": acct})
            conn.commit()
        conn.execute("SET session_replication_role = origin")
        conn.commit()
    # settle the tables before measuring: autovacuum on millions of new rows would
    # otherwise run during the measurement and charge its CPU to the history accounts
    with psycopg.connect(admin_db_url, autocommit=True) as conn:
        for table in ("orders", "fills", "journal_entries", "postings", "balances"):
            conn.execute(f"VACUUM (ANALYZE) {table}")
