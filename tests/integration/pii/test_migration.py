"""Acceptance 5: ``0008_pii`` encrypts existing plaintext in one transaction; a failure
injected midway leaves the database as it was (schema, data, revision) and a rerun
completes; downgrade restores the plaintext."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect

from cluster import migrate
from cluster.pii import backfill
from tests.integration.foundation.test_migrations import schema_of
from tests.integration.pii.conftest import PII_KEY, dump_all_tables, pii_values, sql

BEFORE = "0007_strategies"


@pytest.fixture
def pii_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """The migration takes its keys from the settings of the environment, like ``elson
    db upgrade`` does."""
    monkeypatch.setenv("ELSON_ENV", "test")
    monkeypatch.setenv("ELSON_PII_KEY", PII_KEY)
    monkeypatch.setenv("ELSON_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(backfill, "after_batch", None)
    yield


def _seed(url: str, n: int) -> list[dict[str, str]]:
    people = []
    for _ in range(n):
        v = pii_values() | {"id": str(uuid.uuid4()), "profile_id": str(uuid.uuid4())}
        v["email"] = v["email"].lower()
        sql(
            url,
            "INSERT INTO users (id, email, password_hash) VALUES (:id, :email, 'h')",
            id=v["id"],
            email=v["email"],
        )
        sql(
            url,
            "INSERT INTO profiles (id, user_id, legal_name, date_of_birth, tax_id, phone)"
            " VALUES (:pid, :uid, :name, :dob, :tax, :phone)",
            pid=v["profile_id"],
            uid=v["id"],
            name=v["legal_name"],
            dob=v["date_of_birth"],
            tax=v["tax_id"],
            phone=v["phone"],
        )
        people.append(v)
    return people


def _plain_rows(url: str) -> list[tuple[object, ...]]:
    return [
        tuple(r)
        for r in sql(
            url,
            "SELECT u.id, u.email, p.legal_name, p.date_of_birth, p.tax_id, p.phone, p.cipher"
            " FROM users u JOIN profiles p ON p.user_id = u.id ORDER BY u.id",
        )
    ]


def test_failure_midway_leaves_database_as_before_then_rerun_completes_and_downgrade_restores(
    empty_database_url: str, pii_env: None
) -> None:
    url = empty_database_url
    migrate.upgrade(url, BEFORE)
    people = _seed(url, 7)
    before_schema, before_rows = schema_of(url), _plain_rows(url)
    seen: list[tuple[str, int]] = []

    def fail_midway(table: str, done: int) -> None:
        seen.append((table, done))
        if table == "profiles":  # every email already encrypted, profiles not yet
            raise RuntimeError("injected failure midway through 0008_pii")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(backfill, "after_batch", fail_midway)
        with pytest.raises(RuntimeError, match="injected failure"):
            migrate.upgrade(url, "0008_pii")
    assert seen and seen[0] == ("users", 7)
    assert migrate.current(url) == BEFORE
    assert schema_of(url) == before_schema
    assert _plain_rows(url) == before_rows

    migrate.upgrade(url, "0008_pii")  # the rerun completes
    assert migrate.current(url) == "0008_pii"
    dump = dump_all_tables(url).casefold()
    for v in people:
        for name in ("email", "legal_name", "tax_id", "date_of_birth", "phone"):
            assert v[name].casefold() not in dump, name
    rows = sql(url, "SELECT email, email_index FROM users")
    assert all(r[0].startswith("pii1.k1.") and len(r[1]) == 64 for r in rows)
    assert {r[0] for r in sql(url, "SELECT cipher FROM profiles")} == {"k1"}
    assert "pii_keys" in inspect_tables(url)

    migrate.downgrade(url, BEFORE)  # decrypts back
    assert schema_of(url) == before_schema
    assert _plain_rows(url) == before_rows


def test_upgrade_then_login_by_blind_index_and_decrypt_with_settings_keys(
    empty_database_url: str, pii_env: None
) -> None:
    from cluster.pii.crypto import BlindIndex  # noqa: F401  (type of the index)
    from cluster.pii.wiring import blind_index
    from cluster.settings import load_settings

    url = empty_database_url
    migrate.upgrade(url, BEFORE)
    (person,) = _seed(url, 1)
    migrate.upgrade(url)
    index = blind_index(load_settings())
    (row,) = sql(
        url,
        "SELECT id FROM users WHERE email_index = :i",
        i=index.of("  " + person["email"].upper()),
    )
    assert str(row[0]) == person["id"]


def inspect_tables(url: str) -> list[str]:
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)
    try:
        return list(inspect(engine).get_table_names())
    finally:
        engine.dispose()
