"""Alembic environment: driven from code (``cluster.migrate``), metadata from ``cluster``.

Every revision runs in its own transaction (``transaction_per_migration``): PostgreSQL has
transactional DDL, so a revision that fails halfway leaves schema and data as they were.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from cluster.tables import load_all_tables

config = context.config
target_metadata = load_all_tables()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


def _run(connection: object) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        transaction_per_migration=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():  # pragma: no cover - we never generate offline SQL
    raise SystemExit("offline migrations are not supported")
run_migrations_online()
