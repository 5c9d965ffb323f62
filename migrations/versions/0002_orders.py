"""Orders, fills, order events, journal entries and postings.

Revision ID: 0002_orders
Revises: 0001_foundation
Create Date: 2026-11-30

Frozen: the schema is spelled out here, not imported from ``cluster.orders.tables``.
Orders are updated but never deleted; the other four tables are append-only. A deferred
constraint trigger refuses, at commit, a journal entry whose postings do not balance per
unit or whose postings name another account.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0002_orders"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

NOW = sa.text("now()")
STATUSES = (
    "'pending_new', 'accepted', 'new', 'partially_filled', 'filled', 'done_for_day', "
    "'canceled', 'expired', 'rejected', 'pending_cancel', 'pending_replace', 'replaced'"
)
EVENT_KINDS = (
    "'created', 'acknowledge', 'accept_closed', 'release', 'reject', 'partial_fill', "
    "'fill', 'cancel_requested', 'canceled', 'cancel_rejected', 'replace_requested', "
    "'replaced', 'replace_rejected', 'expire', 'done_for_day', 'new_day'"
)
APPEND_ONLY = ("fills", "order_events", "journal_entries", "postings")

CHECK_BALANCED = """
CREATE OR REPLACE FUNCTION elson_check_entry_balanced() RETURNS trigger AS $$
DECLARE
  bad text;
BEGIN
  SELECT string_agg(t.unit || ' ' || t.total::text, ', ') INTO bad FROM (
    SELECT unit, sum(amount) AS total FROM postings
    WHERE entry_id = NEW.entry_id GROUP BY unit HAVING sum(amount) <> 0
  ) AS t;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'journal entry % is unbalanced: %', NEW.entry_id, bad
      USING ERRCODE = 'check_violation';
  END IF;
  IF NOT EXISTS (
    SELECT 1 FROM journal_entries WHERE id = NEW.entry_id AND account_id = NEW.account_id
  ) THEN
    RAISE EXCEPTION 'a posting of journal entry % names another account', NEW.entry_id
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""


def _ts(name: str, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("account_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("client_order_id", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=True),
        sa.Column("symbol", sa.Text(), nullable=False),
        sa.Column("side", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("time_in_force", sa.Text(), nullable=False),
        sa.Column("qty", sa.Numeric(), nullable=True),
        sa.Column("notional", sa.Numeric(), nullable=True),
        sa.Column("limit_price", sa.Numeric(), nullable=True),
        sa.Column("stop_price", sa.Numeric(), nullable=True),
        sa.Column("trail_price", sa.Numeric(), nullable=True),
        sa.Column("trail_percent", sa.Numeric(), nullable=True),
        sa.Column("extended_hours", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("resume_status", sa.Text(), nullable=True),
        sa.Column("filled_qty", sa.Numeric(), server_default=sa.text("0"), nullable=False),
        sa.Column("filled_notional", sa.Numeric(), server_default=sa.text("0"), nullable=False),
        sa.Column("filled_avg_price", sa.Numeric(), nullable=True),
        sa.Column("high_water_mark", sa.Numeric(), nullable=True),
        sa.Column("reject_reason", sa.Text(), nullable=True),
        sa.Column("replaces", pg.UUID(as_uuid=True), nullable=True),
        sa.Column("replaced_by", pg.UUID(as_uuid=True), nullable=True),
        sa.Column("broker", sa.Text(), nullable=False),
        sa.Column("broker_order_id", sa.Text(), nullable=True),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
        _ts("submitted_at"),
        _ts("filled_at"),
        _ts("canceled_at"),
        _ts("expired_at"),
        _ts("failed_at"),
        sa.Column("ack_checks", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint(f"status IN ({STATUSES})", name="ck_orders_status"),
        sa.CheckConstraint(
            f"resume_status IS NULL OR resume_status IN ({STATUSES})", name="ck_orders_resume"
        ),
        sa.CheckConstraint("side IN ('buy', 'sell')", name="ck_orders_side"),
        sa.CheckConstraint(
            "type IN ('market', 'limit', 'stop', 'stop_limit', 'trailing_stop')",
            name="ck_orders_type",
        ),
        sa.CheckConstraint(
            "time_in_force IN ('day', 'gtc', 'ioc', 'fok', 'opg', 'cls')", name="ck_orders_tif"
        ),
        sa.CheckConstraint(
            "(qty IS NULL) <> (notional IS NULL)", name="ck_orders_qty_xor_notional"
        ),
        sa.CheckConstraint("qty IS NULL OR qty > 0", name="ck_orders_qty_positive"),
        sa.CheckConstraint("notional IS NULL OR notional > 0", name="ck_orders_notional_positive"),
        sa.CheckConstraint("filled_qty >= 0", name="ck_orders_filled_non_negative"),
        sa.CheckConstraint("qty IS NULL OR filled_qty <= qty", name="ck_orders_filled_within_qty"),
        sa.CheckConstraint(
            "length(client_order_id) BETWEEN 1 AND 128", name="ck_orders_client_order_id"
        ),
        sa.CheckConstraint("ack_checks >= 0", name="ck_orders_ack_checks"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_orders_account_id_accounts"
        ),
        sa.ForeignKeyConstraint(["replaces"], ["orders.id"], name="fk_orders_replaces_orders"),
        sa.ForeignKeyConstraint(
            ["replaced_by"], ["orders.id"], name="fk_orders_replaced_by_orders"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_orders"),
        sa.UniqueConstraint(
            "account_id", "client_order_id", name="uq_orders_account_id_client_order_id"
        ),
        sa.UniqueConstraint(
            "account_id", "idempotency_key", name="uq_orders_account_id_idempotency_key"
        ),
    )
    op.create_index(
        "ix_orders_account_id_created_at_id", "orders", ["account_id", "created_at", "id"]
    )
    op.create_index("ix_orders_status", "orders", ["status"])

    op.create_table(
        "fills",
        sa.Column("execution_id", sa.Text(), nullable=False),
        sa.Column("order_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("account_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("symbol", sa.Text(), nullable=False),
        sa.Column("side", sa.Text(), nullable=False),
        sa.Column("qty", sa.Numeric(), nullable=False),
        sa.Column("price", sa.Numeric(), nullable=False),
        _ts("at", nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.CheckConstraint("qty > 0", name="ck_fills_qty_positive"),
        sa.CheckConstraint("price > 0", name="ck_fills_price_positive"),
        sa.CheckConstraint("side IN ('buy', 'sell')", name="ck_fills_side"),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name="fk_fills_order_id_orders"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_fills_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint("execution_id", name="pk_fills"),
    )
    op.create_index("ix_fills_order_id", "fills", ["order_id"])
    op.create_index("ix_fills_account_id_symbol", "fills", ["account_id", "symbol"])

    op.create_table(
        "order_events",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("order_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("from_status", sa.Text(), nullable=True),
        sa.Column("to_status", sa.Text(), nullable=False),
        _ts("at", nullable=False),
        sa.Column("detail", pg.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.CheckConstraint(f"kind IN ({EVENT_KINDS})", name="ck_order_events_kind"),
        sa.CheckConstraint(
            f"from_status IS NULL OR from_status IN ({STATUSES})", name="ck_order_events_from"
        ),
        sa.CheckConstraint(f"to_status IN ({STATUSES})", name="ck_order_events_to"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_order_events_order_id_orders"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_order_events"),
    )
    op.create_index("ix_order_events_order_id_id", "order_events", ["order_id", "id"])

    op.create_table(
        "journal_entries",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("account_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        _ts("at", nullable=False),
        sa.Column("memo", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.CheckConstraint(
            "kind IN ('funding', 'fill', 'fee', 'reset')", name="ck_journal_entries_kind"
        ),
        sa.CheckConstraint("length(id) > 0", name="ck_journal_entries_id"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_journal_entries_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_journal_entries"),
        sa.UniqueConstraint("seq", name="uq_journal_entries_seq"),
    )
    op.create_index("ix_journal_entries_account_id_seq", "journal_entries", ["account_id", "seq"])

    op.create_table(
        "postings",
        sa.Column("entry_id", sa.Text(), nullable=False),
        sa.Column("ledger_account", sa.Text(), nullable=False),
        sa.Column("account_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("unit", sa.Text(), nullable=False),
        sa.Column("amount", sa.Numeric(), nullable=False),
        sa.CheckConstraint("unit = 'USD' OR unit LIKE 'shares:_%'", name="ck_postings_unit"),
        sa.CheckConstraint(
            "(ledger_account IN ('cash', 'fees', 'trades', 'funding')) = (unit = 'USD')",
            name="ck_postings_unit_matches",
        ),
        sa.CheckConstraint(
            "unit <> 'USD' OR amount = round(amount, 2)", name="ck_postings_whole_cents"
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entries.id"], name="fk_postings_entry_id_journal_entries"
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_postings_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint("entry_id", "ledger_account", name="pk_postings"),
    )
    op.create_index(
        "ix_postings_account_id_ledger_account", "postings", ["account_id", "ledger_account"]
    )

    op.execute(
        "CREATE TRIGGER orders_no_delete BEFORE DELETE ON orders "
        "FOR EACH ROW EXECUTE FUNCTION elson_forbid_mutation();"
    )
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION elson_forbid_mutation();"
        )
    op.execute(CHECK_BALANCED)
    op.execute(
        "CREATE CONSTRAINT TRIGGER postings_balanced AFTER INSERT ON postings "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
        "EXECUTE FUNCTION elson_check_entry_balanced();"
    )


def downgrade() -> None:
    op.drop_table("postings")
    op.drop_table("journal_entries")
    op.drop_table("order_events")
    op.drop_table("fills")
    op.drop_table("orders")
    op.execute("DROP FUNCTION IF EXISTS elson_check_entry_balanced()")
