"""Migrations: up, down to base, up again; a revision failing halfway changes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

import migrations
from cluster import migrate
from cluster.tables import load_all_tables


def schema_of(url: str) -> dict[str, Any]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        insp = inspect(engine)
        out: dict[str, Any] = {}
        for table in sorted(insp.get_table_names()):
            out[table] = {
                "columns": [
                    (c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(table)
                ],
                "checks": sorted(c["name"] or "" for c in insp.get_check_constraints(table)),
                "indexes": sorted(i["name"] or "" for i in insp.get_indexes(table)),
            }
        with engine.connect() as conn:
            out["_triggers"] = sorted(
                r[0]
                for r in conn.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"))
            )
        return out
    finally:
        engine.dispose()


def test_upgrade_downgrade_to_base_and_upgrade_again(empty_database_url: str) -> None:
    url = empty_database_url
    migrate.upgrade(url)
    assert migrate.current(url) == migrate.head()
    full = schema_of(url)
    assert {"users", "accounts", "audit_log"} <= set(full)
    migrate.downgrade(url, "base")
    assert migrate.current(url) is None
    emptied = schema_of(url)
    assert set(emptied) == {"alembic_version", "_triggers"}
    assert emptied["_triggers"] == []
    migrate.upgrade(url)
    assert schema_of(url) == full


def test_migrated_schema_has_no_drift_from_metadata(empty_database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    migrate.upgrade(empty_database_url)
    engine = create_engine(empty_database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), load_all_tables())
    finally:
        engine.dispose()
    assert diff == []


FAILING_REVISION = '''
"""injected failure"""
import sqlalchemy as sa
from alembic import op

revision = "9999_fails_halfway"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("half_done", sa.Column("id", sa.Integer, primary_key=True))
    op.execute("INSERT INTO half_done (id) VALUES (1)")
    op.execute("UPDATE accounts SET status = 'restricted'")
    op.add_column("users", sa.Column("nickname", sa.Text))
    raise RuntimeError("injected failure halfway through the revision")


def downgrade() -> None:
    op.drop_table("half_done")
'''


def test_revision_failing_halfway_leaves_schema_and_data_as_before(
    empty_database_url: str, tmp_path: Path
) -> None:
    url = empty_database_url
    migrate.upgrade(url)
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, email, password_hash) VALUES "
                "('00000000-0000-0000-0000-000000000001', 'a@example.com', 'h')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO accounts (id, owner_user_id, type) VALUES "
                "('00000000-0000-0000-0000-0000000000a1', "
                "'00000000-0000-0000-0000-000000000001', 'individual')"
            )
        )
    before_schema = schema_of(url)
    with engine.connect() as conn:
        before_rows = conn.execute(text("SELECT id, status FROM accounts ORDER BY id")).all()

    scripts = tmp_path / "migrations"
    shutil.copytree(
        Path(migrations.__file__).parent, scripts, ignore=shutil.ignore_patterns("__pycache__")
    )
    (scripts / "versions" / "9999_fails_halfway.py").write_text(
        FAILING_REVISION.format(head=migrate.head())
    )
    cfg = migrate.alembic_config(url)
    cfg.set_main_option("script_location", str(scripts))
    with pytest.raises(RuntimeError, match="injected failure"):
        command.upgrade(cfg, "head")

    assert schema_of(url) == before_schema
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT id, status FROM accounts ORDER BY id")).all() == before_rows
        )
    assert migrate.current(url) == migrate.head()
    engine.dispose()


def test_audit_log_is_append_only(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url)
    engine = create_engine(empty_database_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO audit_log (actor, action, subject) VALUES ('t', 'a', 's')")
            )
        for stmt in ("UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"):
            with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
                conn.execute(text(stmt))
    finally:
        engine.dispose()
