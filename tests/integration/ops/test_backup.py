"""Acceptance 5: the backup CronJob's scripts (kuberay/base/backup/*.sh) dump a migrated
database with data, the database is dropped, and a restore into a fresh database holds
identical data: every table's rows, every sequence's position, the same schema.
The machine's pg_dump/pg_restore/psql run the scripts, as the CronJob's postgres image does."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest

from tests.conftest import RUN_ID, create_database, drop_database, own_database

SCRIPTS = Path(__file__).resolve().parents[3] / "kuberay" / "base" / "backup"


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _run(
    script: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/sh", str(SCRIPTS / script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


def _fill(url: str) -> None:
    """Rows in a platform table and in one of every awkward type."""
    with psycopg.connect(_plain(url), autocommit=True) as conn:
        for i in range(50):
            conn.execute(
                "INSERT INTO audit_log (actor, action, subject, detail) VALUES (%s, %s, %s, %s)",
                (
                    f"user-{i}",
                    "role.set",
                    f"subject-{i}",
                    psycopg.types.json.Jsonb({"i": i, "é": "ü"}),
                ),
            )
        conn.execute(
            "CREATE TABLE backup_probe (id bigserial PRIMARY KEY, amount numeric(20, 9),"
            " at timestamptz, raw bytea, note text, tags text[])"
        )
        conn.execute(
            "INSERT INTO backup_probe (amount, at, raw, note, tags) VALUES"
            " (12345678901.123456789, '2026-11-24T15:00:00Z', '\\x00ff10',"
            " 'quote '' and \\ and ☃', '{a,b}'),"
            " (NULL, NULL, NULL, NULL, NULL),"
            " (-0.000000001, '1999-12-31T23:59:59.999999Z', '', '', '{}')"
        )
        conn.execute("SELECT setval('backup_probe_id_seq', 1000)")


def _fingerprint(url: str) -> dict[str, str]:
    """Every table's rows (hashed in a stable order) and every sequence's position."""
    out: dict[str, str] = {}
    with psycopg.connect(_plain(url)) as conn:
        tables = conn.execute(
            "SELECT schemaname, tablename FROM pg_tables"
            " WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
        ).fetchall()
        for schema, table in tables:
            (digest, count) = conn.execute(
                f"SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')), count(*)"
                f' FROM "{schema}"."{table}" t'
            ).fetchone()  # type: ignore[misc]
            out[f"{schema}.{table}"] = f"{count}:{digest}"
        for schema, seq, last in conn.execute(
            "SELECT schemaname, sequencename, last_value FROM pg_sequences ORDER BY 1, 2"
        ).fetchall():
            out[f"sequence {schema}.{seq}"] = str(last)
    return out


def _schema(url: str) -> str:
    dump = subprocess.run(
        ["pg_dump", "--schema-only", "--no-owner", "--no-privileges", f"--dbname={_plain(url)}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    # the \restrict token (PostgreSQL 17.6+, 15.14+) is random per dump
    return "\n".join(
        line
        for line in dump.stdout.splitlines()
        if not line.startswith(("\\restrict", "\\unrestrict"))
    )


def test_dump_drop_restore_into_a_fresh_database_gives_identical_data(tmp_path: Path) -> None:
    with own_database("backup_src") as source:
        _fill(source)
        before, schema_before = _fingerprint(source), _schema(source)
        made = _run("backup.sh", str(tmp_path), env={"ELSON_DATABASE_URL": source})
        assert made.returncode == 0, made.stderr
        dump = Path(made.stdout.strip().splitlines()[-1])
        assert dump.name.startswith("elson-") and dump.suffix == ".dump" and dump.stat().st_size > 0
        assert not list(tmp_path.glob("*.partial"))
    # own_database dropped the source: only the dump is left
    name = f"elson_test_{RUN_ID}_restored_{uuid.uuid4().hex[:6]}"
    target = create_database(name)
    try:
        restored = _run("restore.sh", str(dump), target)
        assert restored.returncode == 0, restored.stderr
        assert _fingerprint(target) == before
        assert before["public.backup_probe"].startswith("3:") and before[
            "public.audit_log"
        ].startswith("50:")
        assert _schema(target) == schema_before
    finally:
        drop_database(name)


@pytest.fixture
def dump_file(tmp_path: Path) -> Path:
    with own_database("backup_one") as source:
        _fill(source)
        made = _run("backup.sh", str(tmp_path), env={"ELSON_DATABASE_URL": source})
        assert made.returncode == 0, made.stderr
        return Path(made.stdout.strip().splitlines()[-1])


def test_restore_refuses_a_database_that_holds_tables(dump_file: Path) -> None:
    with own_database("backup_busy") as busy:
        refused = _run("restore.sh", str(dump_file), busy)
        assert refused.returncode != 0
        assert "fresh database" in refused.stderr


def test_truncated_dump_restores_nothing(dump_file: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.dump"
    data = dump_file.read_bytes()
    broken.write_bytes(data[: len(data) * 2 // 3])
    name = f"elson_test_{RUN_ID}_broken_{uuid.uuid4().hex[:6]}"
    target = create_database(name)
    try:
        failed = _run("restore.sh", str(broken), target)
        assert failed.returncode != 0
        assert _fingerprint(target) == {}  # one transaction: nothing half-restored
    finally:
        drop_database(name)


def test_backup_without_a_database_url_fails_and_writes_nothing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ELSON_DATABASE_URL"}
    made = subprocess.run(
        ["/bin/sh", str(SCRIPTS / "backup.sh"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=False,
    )
    assert made.returncode != 0 and "ELSON_DATABASE_URL" in made.stderr
    assert list(tmp_path.iterdir()) == []
