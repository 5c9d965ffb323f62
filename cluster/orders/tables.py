"""Tables of the orders capability, on the shared ``cluster.tables.metadata``.

- ``orders`` rows are updated (status, fills) but never deleted: a trigger refuses DELETE.
- ``fills``, ``order_events``, ``journal_entries`` and ``postings`` are append-only.
- Balances are never stored: they are sums of ``postings``. A deferred constraint trigger
  refuses, at commit, any journal entry whose postings do not sum to zero per unit, so an
  unbalanced entry cannot be written by any code path (a superuser can still bypass
  triggers with ``session_replication_role = replica``; ``elson reconcile`` finds that).

Migration ``0002_orders`` spells the same schema out (revisions are frozen); a test
compares the two.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from cluster.tables import in_check as _in
from cluster.tables import metadata
from cluster.tables import ts_column as _ts
from domain.ledger import EntryKind
from domain.orders import OrderEventKind, OrderStatus, OrderType, Side, TimeInForce

STATUSES = tuple(s.value for s in OrderStatus)
SIDES = tuple(s.value for s in Side)
TYPES = tuple(t.value for t in OrderType)
TIFS = tuple(t.value for t in TimeInForce)
#: ``created`` is the row written when the order is first stored (no broker fact yet).
EVENT_KINDS = ("created", *(k.value for k in OrderEventKind))
ENTRY_KINDS = tuple(k.value for k in EntryKind)
OPEN_STATUSES = tuple(s.value for s in OrderStatus if s.is_open)
USD_LEDGER_ACCOUNTS = ("cash", "fees", "trades", "funding")


orders = Table(
    "orders",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("account_id", UUID(as_uuid=True), ForeignKey("accounts.id"), nullable=False),
    Column("client_order_id", Text, nullable=False),
    Column("fingerprint", Text, nullable=False),
    Column("idempotency_key", Text, nullable=True),
    Column("symbol", Text, nullable=False),
    Column("side", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("time_in_force", Text, nullable=False),
    Column("qty", Numeric, nullable=True),
    Column("notional", Numeric, nullable=True),
    Column("limit_price", Numeric, nullable=True),
    Column("stop_price", Numeric, nullable=True),
    Column("trail_price", Numeric, nullable=True),
    Column("trail_percent", Numeric, nullable=True),
    Column("extended_hours", Boolean, nullable=False, server_default=text("false")),
    Column("status", Text, nullable=False),
    Column("resume_status", Text, nullable=True),
    Column("filled_qty", Numeric, nullable=False, server_default=text("0")),
    Column("filled_notional", Numeric, nullable=False, server_default=text("0")),
    Column("filled_avg_price", Numeric, nullable=True),
    Column("high_water_mark", Numeric, nullable=True),
    Column("reject_reason", Text, nullable=True),
    #: the stable reason code of a rejection (``domain.risk.codes.ReasonCode``)
    Column("reject_code", Text, nullable=True),
    Column("replaces", UUID(as_uuid=True), ForeignKey("orders.id"), nullable=True),
    Column("replaced_by", UUID(as_uuid=True), ForeignKey("orders.id"), nullable=True),
    Column("broker", Text, nullable=False),
    Column("broker_order_id", Text, nullable=True),
    _ts("created_at", nullable=False),
    _ts("updated_at", nullable=False),
    _ts("submitted_at"),
    _ts("filled_at"),
    _ts("canceled_at"),
    _ts("expired_at"),
    _ts("failed_at"),
    Column("ack_checks", Integer, nullable=False, server_default=text("0")),
    #: a stop or stop-limit whose trigger price was crossed (survives a paper restart)
    Column("stop_triggered", Boolean, nullable=False, server_default=text("false")),
    #: the price a market or trailing buy's reservation was computed at when submitted
    Column("reserve_price", Numeric, nullable=True),
    #: the most a buy can pay in fees (the paper fee model), held with its reservation
    Column("fee_reserve", Numeric, nullable=False, server_default=text("0")),
    #: the strategy instance whose runner placed the order (null: placed by a person)
    Column("strategy_id", Text, nullable=True),
    CheckConstraint(_in("status", STATUSES), name="status"),
    CheckConstraint(f"resume_status IS NULL OR {_in('resume_status', STATUSES)}", name="resume"),
    CheckConstraint(_in("side", SIDES), name="side"),
    CheckConstraint(_in("type", TYPES), name="type"),
    CheckConstraint(_in("time_in_force", TIFS), name="tif"),
    CheckConstraint("(qty IS NULL) <> (notional IS NULL)", name="qty_xor_notional"),
    CheckConstraint("qty IS NULL OR qty > 0", name="qty_positive"),
    CheckConstraint("notional IS NULL OR notional > 0", name="notional_positive"),
    CheckConstraint("filled_qty >= 0", name="filled_non_negative"),
    CheckConstraint("qty IS NULL OR filled_qty <= qty", name="filled_within_qty"),
    CheckConstraint("length(client_order_id) BETWEEN 1 AND 128", name="client_order_id"),
    CheckConstraint("ack_checks >= 0", name="ack_checks"),
    UniqueConstraint("account_id", "client_order_id"),
    UniqueConstraint("account_id", "idempotency_key"),
    Index("ix_orders_account_id_created_at_id", "account_id", "created_at", "id"),
    Index("ix_orders_status", "status"),
    # a submit sums the reservations of open orders: this keeps it off the account's history
    Index(
        "ix_orders_open_account_id",
        "account_id",
        "side",
        postgresql_where=text(_in("status", OPEN_STATUSES)),
    ),
    # a strategy runner finds its latest order after a restart
    Index(
        "ix_orders_strategy_id_created_at",
        "strategy_id",
        "created_at",
        postgresql_where=text("strategy_id IS NOT NULL"),
    ),
)

fills = Table(
    "fills",
    metadata,
    Column("execution_id", Text, primary_key=True),
    Column("order_id", UUID(as_uuid=True), ForeignKey("orders.id"), nullable=False),
    Column("account_id", UUID(as_uuid=True), ForeignKey("accounts.id"), nullable=False),
    Column("symbol", Text, nullable=False),
    Column("side", Text, nullable=False),
    Column("qty", Numeric, nullable=False),
    Column("price", Numeric, nullable=False),
    _ts("at", nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("fee", Numeric, nullable=False, server_default=text("0")),
    CheckConstraint("qty > 0", name="qty_positive"),
    CheckConstraint("fee >= 0 AND fee = round(fee, 2)", name="fee"),
    CheckConstraint("price > 0", name="price_positive"),
    CheckConstraint(_in("side", SIDES), name="side"),
    Index("ix_fills_order_id", "order_id"),
    Index("ix_fills_account_id_symbol", "account_id", "symbol"),
)

order_events = Table(
    "order_events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("order_id", UUID(as_uuid=True), ForeignKey("orders.id"), nullable=False),
    Column("kind", Text, nullable=False),
    Column("from_status", Text, nullable=True),
    Column("to_status", Text, nullable=False),
    _ts("at", nullable=False),
    Column("detail", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    CheckConstraint(_in("kind", EVENT_KINDS), name="kind"),
    CheckConstraint(f"from_status IS NULL OR {_in('from_status', STATUSES)}", name="from"),
    CheckConstraint(_in("to_status", STATUSES), name="to"),
    Index("ix_order_events_order_id_id", "order_id", "id"),
)

journal_entries = Table(
    "journal_entries",
    metadata,
    Column("id", Text, primary_key=True),
    Column("seq", BigInteger, Identity(), nullable=False),
    Column("account_id", UUID(as_uuid=True), ForeignKey("accounts.id"), nullable=False),
    Column("kind", Text, nullable=False),
    _ts("at", nullable=False),
    Column("memo", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint(_in("kind", ENTRY_KINDS), name="kind"),
    CheckConstraint("length(id) > 0", name="id"),
    UniqueConstraint("seq"),
    Index("ix_journal_entries_account_id_seq", "account_id", "seq"),
)

postings = Table(
    "postings",
    metadata,
    Column("entry_id", Text, ForeignKey("journal_entries.id"), nullable=False),
    Column("ledger_account", Text, nullable=False),
    Column("account_id", UUID(as_uuid=True), ForeignKey("accounts.id"), nullable=False),
    Column("unit", Text, nullable=False),
    Column("amount", Numeric, nullable=False),
    PrimaryKeyConstraint("entry_id", "ledger_account"),
    CheckConstraint("unit = 'USD' OR unit LIKE 'shares:_%'", name="unit"),
    CheckConstraint(
        f"({_in('ledger_account', USD_LEDGER_ACCOUNTS)}) = (unit = 'USD')", name="unit_matches"
    ),
    CheckConstraint("unit <> 'USD' OR amount = round(amount, 2)", name="whole_cents"),
    Index("ix_postings_account_id_ledger_account", "account_id", "ledger_account"),
)

#: Materialized balances: one row per (account, ledger account), kept by the
#: ``postings_keep_balances`` trigger in the transaction that inserts the postings.
balances = Table(
    "balances",
    metadata,
    Column("account_id", UUID(as_uuid=True), ForeignKey("accounts.id"), nullable=False),
    Column("ledger_account", Text, nullable=False),
    Column("unit", Text, nullable=False),
    Column("amount", Numeric, nullable=False),
    PrimaryKeyConstraint("account_id", "ledger_account"),
)

#: What the dispatcher must send to a broker, written with the request it carries.
broker_outbox = Table(
    "broker_outbox",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("order_id", UUID(as_uuid=True), ForeignKey("orders.id"), nullable=False),
    Column("replacement_id", UUID(as_uuid=True), nullable=True),
    Column("broker", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    _ts("sent_at"),
    Column("outcome", Text, nullable=True),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text, nullable=True),
    CheckConstraint("action IN ('submit', 'cancel', 'replace')", name="action"),
    CheckConstraint("(action = 'replace') = (replacement_id IS NOT NULL)", name="replacement"),
    Index("ix_broker_outbox_unsent", "broker", "id", postgresql_where=text("sent_at IS NULL")),
    Index("ix_broker_outbox_order_id", "order_id"),
)

#: Tables whose rows are never updated nor deleted.
APPEND_ONLY = ("fills", "order_events", "journal_entries", "postings")

#: The foundation's accounts table, re-exported so order SQL imports one module.
accounts_table = metadata.tables["accounts"]
