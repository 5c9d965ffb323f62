"""Migration ``0008_pii``'s data step: plaintext PII to ciphertext (and back on downgrade).

Runs on the migration's connection, inside its one transaction, in batches (bounded
memory; keyset order by id). Rows already in the stored form are skipped, so a rerun
after a failure (which rolled everything back) does the whole job again, and a partly
encrypted table (rows written by a newer binary) is fine. ``after_batch`` is a hook for
tests that inject a failure midway.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update

from cluster.accounts.cipher import PiiCipher
from cluster.accounts.repository import PII_COLUMNS, field_context
from cluster.auth.tables import profiles
from cluster.pii.crypto import BlindIndex, open_sealed
from cluster.pii.kek import Kek
from cluster.pii.keyring import ensure_active, load
from cluster.pii.tables import pii_keys
from cluster.tables import users
from domain.pii import PREFIX, FieldRef, decode

#: called after each batch with (table, rows so far); tests raise from it
after_batch: Callable[[str, int], None] | None = None


def _hook(table: str, done: int) -> None:
    if after_batch is not None:
        after_batch(table, done)


def _batches(conn: Any, query: Any, id_col: Any, size: int) -> Any:
    last: uuid.UUID | None = None
    while True:
        q = query.order_by(id_col).limit(size)
        if last is not None:
            q = q.where(id_col > last)
        rows = conn.execute(q).all()
        if not rows:
            return
        yield rows
        last = rows[-1].id


def _profile_cols() -> list[Any]:
    """Named columns only: a later revision may add columns this one must not select."""
    return [profiles.c.id, *(profiles.c[c] for c in PII_COLUMNS)]


def needs_keys(conn: Any) -> bool:
    """Is there any plaintext to encrypt (so the migration must resolve the keys)?"""
    plain_user = conn.execute(
        select(users.c.id).where(users.c.email.not_like(f"{PREFIX}.%")).limit(1)
    ).first()
    plain_profile = conn.execute(
        select(profiles.c.id).where(profiles.c.cipher == "identity").limit(1)
    ).first()
    return plain_user is not None or plain_profile is not None


def encrypt_plaintext(conn: Any, kek: Kek, index: BlindIndex, *, batch: int = 500) -> int:
    key_id = ensure_active(conn, kek)
    dek = load(conn, kek, key_id)
    done = 0
    plain_users = select(users.c.id, users.c.email).where(users.c.email.not_like(f"{PREFIX}.%"))
    for rows in _batches(conn, plain_users, users.c.id, batch):
        for r in rows:
            sealed = PiiCipher.encrypt_with(key_id, dek, r.email, context=f"users|email|{r.id}")
            conn.execute(
                update(users)
                .where(users.c.id == r.id)
                .values(email=sealed, email_index=index.of(r.email))
            )
        done += len(rows)
        _hook("users", done)
    plain_profiles = select(*_profile_cols()).where(profiles.c.cipher == "identity")
    for rows in _batches(conn, plain_profiles, profiles.c.id, batch):
        for r in rows:
            m = r._mapping
            values: dict[str, Any] = {
                c: PiiCipher.encrypt_with(key_id, dek, m[c], context=field_context(c, r.id))
                for c in PII_COLUMNS
                if m[c] is not None
            }
            conn.execute(
                update(profiles).where(profiles.c.id == r.id).values(cipher=key_id, **values)
            )
        done += len(rows)
        _hook("profiles", done)
    return done


def decrypt_to_plaintext(conn: Any, kek: Kek, *, batch: int = 500) -> int:
    """Downgrade: every field back to plaintext (retired versions too: their wraps remain)."""
    keys: dict[str, bytes] = {}

    def plain(stored: str, context: str) -> str:
        key_id, sealed = decode(stored)
        if key_id not in keys:
            wrapped = conn.execute(select(pii_keys.c.wrapped).where(pii_keys.c.id == key_id))
            keys[key_id] = kek.unwrap(key_id, wrapped.scalar_one())
        return open_sealed(keys[key_id], sealed, FieldRef.parse(context).aad()).decode()

    done = 0
    sealed_users = select(users.c.id, users.c.email).where(users.c.email.like(f"{PREFIX}.%"))
    for rows in _batches(conn, sealed_users, users.c.id, batch):
        for r in rows:
            email = plain(r.email, f"users|email|{r.id}")
            conn.execute(update(users).where(users.c.id == r.id).values(email=email))
        done += len(rows)
    sealed_profiles = select(*_profile_cols()).where(profiles.c.cipher != "identity")
    for rows in _batches(conn, sealed_profiles, profiles.c.id, batch):
        for r in rows:
            m = r._mapping
            values = {
                c: plain(m[c], field_context(c, r.id)) for c in PII_COLUMNS if m[c] is not None
            }
            conn.execute(
                update(profiles).where(profiles.c.id == r.id).values(cipher="identity", **values)
            )
        done += len(rows)
    return done
