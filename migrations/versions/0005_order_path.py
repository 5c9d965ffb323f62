"""The order path at scale: materialized balances, the broker outbox, the durable event log,
paper marks, fees.

Revision ID: 0005_order_path
Revises: 0004_optimization
Create Date: 2026-12-07

Frozen: the schema is spelled out here, not imported from the table modules; the drift
test compares the two.

- ``balances``: one row per (account, ledger account), kept by a statement-level trigger on
  ``postings`` in the same transaction as the postings, so no code path can forget it. The
  postings stay the truth; ``elson reconcile`` checks that the two agree. Backfilled here.
- ``broker_outbox``: what the dispatcher must send to a broker (submit, cancel, replace),
  written in the transaction that stores the request.
- ``events`` / ``event_streams``: every event a committed change produces, with its
  gap-free per-stream sequence number assigned in that transaction; the relay publishes
  them to Redis Streams and stamps ``published_at``.
- ``orders.stop_triggered`` and ``orders.reserve_price``; ``fills.fee``; a partial index of
  open orders per account so a submit's reservation sum does not scan history.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0005_order_path"
down_revision = "0004_optimization"
branch_labels = None
depends_on = None

NOW = sa.text("now()")
OPEN = (
    "'pending_new', 'accepted', 'new', 'partially_filled', 'done_for_day', "
    "'pending_cancel', 'pending_replace'"
)

KEEP_BALANCES = """
CREATE OR REPLACE FUNCTION elson_keep_balances() RETURNS trigger AS $$
BEGIN
  INSERT INTO balances AS b (account_id, ledger_account, unit, amount)
  SELECT account_id, ledger_account, min(unit), sum(amount)
  FROM new_postings GROUP BY account_id, ledger_account
  ORDER BY account_id, ledger_account
  ON CONFLICT (account_id, ledger_account)
  DO UPDATE SET amount = b.amount + excluded.amount;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""


def upgrade() -> None:
    op.create_table(
        "balances",
        sa.Column("account_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("ledger_account", sa.Text(), nullable=False),
        sa.Column("unit", sa.Text(), nullable=False),
        sa.Column("amount", sa.Numeric(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_balances_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint("account_id", "ledger_account", name="pk_balances"),
    )
    op.execute(
        "INSERT INTO balances (account_id, ledger_account, unit, amount) "
        "SELECT account_id, ledger_account, min(unit), sum(amount) FROM postings "
        "GROUP BY account_id, ledger_account"
    )
    op.execute(KEEP_BALANCES)
    op.execute(
        "CREATE TRIGGER postings_keep_balances AFTER INSERT ON postings "
        "REFERENCING NEW TABLE AS new_postings "
        "FOR EACH STATEMENT EXECUTE FUNCTION elson_keep_balances();"
    )

    op.create_table(
        "broker_outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("order_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("replacement_id", pg.UUID(as_uuid=True), nullable=True),
        sa.Column("broker", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "action IN ('submit', 'cancel', 'replace')", name="ck_broker_outbox_action"
        ),
        sa.CheckConstraint(
            "(action = 'replace') = (replacement_id IS NOT NULL)",
            name="ck_broker_outbox_replacement",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_broker_outbox_order_id_orders"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_broker_outbox"),
    )
    op.create_index(
        "ix_broker_outbox_unsent",
        "broker_outbox",
        ["broker", "id"],
        postgresql_where=sa.text("sent_at IS NULL"),
    )
    op.create_index("ix_broker_outbox_order_id", "broker_outbox", ["order_id"])

    op.create_table(
        "event_streams",
        sa.Column("stream", sa.Text(), nullable=False),
        sa.Column("head", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("head >= 0", name="ck_event_streams_head"),
        sa.PrimaryKeyConstraint("stream", name="pk_event_streams"),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("stream", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("data", pg.JSONB(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("seq > 0", name="ck_events_seq"),
        sa.PrimaryKeyConstraint("stream", "seq", name="pk_events"),
        sa.UniqueConstraint("id", name="uq_events_id"),
    )
    op.create_index(
        "ix_events_unpublished",
        "events",
        ["id"],
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_index("ix_events_at", "events", ["at"])

    op.add_column(
        "orders",
        sa.Column("stop_triggered", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column("orders", sa.Column("reserve_price", sa.Numeric(), nullable=True))
    op.add_column(
        "orders",
        sa.Column("fee_reserve", sa.Numeric(), server_default=sa.text("0"), nullable=False),
    )
    op.create_index(
        "ix_orders_open_account_id",
        "orders",
        ["account_id", "side"],
        postgresql_where=sa.text(f"status IN ({OPEN})"),
    )
    op.add_column(
        "fills", sa.Column("fee", sa.Numeric(), server_default=sa.text("0"), nullable=False)
    )
    op.create_check_constraint("ck_fills_fee", "fills", "fee >= 0 AND fee = round(fee, 2)")


def downgrade() -> None:
    op.drop_constraint("ck_fills_fee", "fills", type_="check")
    op.drop_column("fills", "fee")
    op.drop_index("ix_orders_open_account_id", table_name="orders")
    op.drop_column("orders", "fee_reserve")
    op.drop_column("orders", "reserve_price")
    op.drop_column("orders", "stop_triggered")
    op.drop_table("events")
    op.drop_table("event_streams")
    op.drop_table("broker_outbox")
    op.execute("DROP TRIGGER IF EXISTS postings_keep_balances ON postings")
    op.execute("DROP FUNCTION IF EXISTS elson_keep_balances()")
    op.drop_table("balances")
