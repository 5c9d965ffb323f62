"""SQLAlchemy tables of the foundation; capabilities add theirs on the same ``metadata``.

Tables are not API schemas: pydantic models live in ``serve/`` and meet these in
repository mappers. Money is NUMERIC, times are timestamptz, and constraints keep the
data valid in the database itself, whatever code writes it. Rows that must survive
(audit, orders, fills, postings) are append-only: a trigger refuses UPDATE/DELETE.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

ROLES = ("user", "quant", "admin")
ACCOUNT_TYPES = ("individual", "joint", "ira", "custodial")
ACCOUNT_STATUSES = ("active", "restricted", "closed")


def ts_column(name: str, nullable: bool = True, default: bool = False) -> Column:  # type: ignore[type-arg]
    """An aware-UTC timestamp column (``timestamptz``), ``now()`` by default if asked."""
    return Column(
        name,
        DateTime(timezone=True),
        nullable=nullable,
        server_default=func.now() if default else None,
    )


def in_check(column: str, values: tuple[str, ...]) -> str:
    """A CHECK constraint's text: ``column`` holds one of ``values``."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


users = Table(
    "users",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    # encrypted (cluster/accounts/cipher.py); login and uniqueness go by the keyed
    # blind index ``email_index`` (HMAC of the trimmed, case-folded address): 0008_pii
    Column("email", Text, nullable=False),
    Column("email_index", Text, nullable=True),
    Column("password_hash", Text, nullable=False),
    Column("role", Text, nullable=False, server_default="user"),
    Column("disabled", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint(in_check("role", ROLES), name="role"),
    Index("uq_users_email_index", "email_index", unique=True),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("owner_user_id", UUID(as_uuid=True), ForeignKey("users.id"), nullable=False),
    Column("type", Text, nullable=False),
    Column("status", Text, nullable=False, server_default="active"),
    Column("currency", Text, nullable=False, server_default="USD"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint(in_check("type", ACCOUNT_TYPES), name="type"),
    CheckConstraint(in_check("status", ACCOUNT_STATUSES), name="status"),
    CheckConstraint("currency = 'USD'", name="currency"),
    Index("ix_accounts_owner_user_id", "owner_user_id"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("detail", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    CheckConstraint("length(action) > 0", name="action"),
    Index("ix_audit_log_subject_at", "subject", "at"),
)

#: Tables whose rows may never be updated or deleted (enforced by a trigger).
APPEND_ONLY = ["audit_log"]

FORBID_MUTATION_FUNCTION = """
CREATE OR REPLACE FUNCTION elson_forbid_mutation() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def append_only_trigger_sql(table: str) -> str:
    return (
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION elson_forbid_mutation();"
    )


def load_all_tables() -> MetaData:
    """Import every module that defines tables, so ``metadata`` is complete."""
    import importlib

    for module in (
        "cluster.orders.tables",
        "cluster.auth.tables",
        "cluster.optimization.tables",
        "cluster.eventlog.tables",
        "cluster.risk.tables",
        "cluster.pii.tables",
        "cluster.billing.tables",
        "cluster.strategies.tables",
    ):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if not exc.name or not module.startswith(exc.name):
                raise
    return metadata
