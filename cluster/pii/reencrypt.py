"""Row operations of re-encryption: move one batch of fields to the write key.

Every update is a compare-and-set on the ciphertext read (``users.email``; a profile's
``legal_name`` and ``cipher``: a writer always rewrites them with a fresh nonce), so a
concurrent API write is never overwritten: the job's update then matches no row and the
row is looked at again in the next pass. A field that does not decrypt is left alone and
reported by row id (``PiiUnreadable`` is already counted and logged by the cipher).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, select, update

from cluster.accounts.cipher import PiiCipher
from cluster.accounts.repository import PII_COLUMNS, field_context
from cluster.auth.tables import profiles
from cluster.tables import users
from domain.pii import PREFIX, PiiUnreadable


@dataclass
class BatchResult:
    seen: int = 0
    moved: int = 0
    conflicts: int = 0
    unreadable: list[str] = field(default_factory=list)
    last_id: uuid.UUID | None = None


def _email_context(user_id: object) -> str:
    return f"users|email|{user_id}"


def users_batch(
    s: Any, cipher: PiiCipher, write: tuple[str, bytes], after: uuid.UUID | None, size: int
) -> BatchResult:
    key_id, dek = write
    q = (
        select(users.c.id, users.c.email)
        .where(users.c.email.like(f"{PREFIX}.%"), users.c.email.not_like(f"{PREFIX}.{key_id}.%"))
        .order_by(users.c.id)
        .limit(size)
    )
    if after is not None:
        q = q.where(users.c.id > after)
    out = BatchResult()
    for r in s.execute(q).all():
        out.seen, out.last_id = out.seen + 1, r.id
        ctx = _email_context(r.id)
        try:
            plain = cipher.decrypt(r.email, context=ctx)
        except PiiUnreadable:
            out.unreadable.append(f"users:{r.id}")
            continue
        sealed = PiiCipher.encrypt_with(key_id, dek, plain, context=ctx)
        res = s.execute(
            update(users).where(users.c.id == r.id, users.c.email == r.email).values(email=sealed)
        )
        if res.rowcount == 1:
            out.moved += 1
        else:
            out.conflicts += 1
    return out


def profiles_batch(
    s: Any, cipher: PiiCipher, write: tuple[str, bytes], after: uuid.UUID | None, size: int
) -> BatchResult:
    key_id, dek = write
    cols = [profiles.c.id, profiles.c.cipher, *(profiles.c[c] for c in PII_COLUMNS)]
    q = (
        select(*cols)
        .where(profiles.c.cipher.not_in([key_id, "identity"]))
        .order_by(profiles.c.id)
        .limit(size)
    )
    if after is not None:
        q = q.where(profiles.c.id > after)
    out = BatchResult()
    for r in s.execute(q).all():
        out.seen, out.last_id = out.seen + 1, r.id
        m = r._mapping
        try:
            values = {
                c: PiiCipher.encrypt_with(
                    key_id,
                    dek,
                    cipher.decrypt(m[c], context=field_context(c, r.id)),
                    context=field_context(c, r.id),
                )
                for c in PII_COLUMNS
                if m[c] is not None
            }
        except PiiUnreadable:
            out.unreadable.append(f"profiles:{r.id}")
            continue
        res = s.execute(
            update(profiles)
            .where(
                and_(
                    profiles.c.id == r.id,
                    profiles.c.cipher == m["cipher"],
                    profiles.c.legal_name == m["legal_name"],
                )
            )
            .values(cipher=key_id, **values)
        )
        if res.rowcount == 1:
            out.moved += 1
        else:
            out.conflicts += 1
    return out


def in_use(s: Any, key_id: str) -> int:
    """How many rows still hold a field sealed by ``key_id``."""
    n_users = s.execute(
        select(func.count()).where(users.c.email.like(f"{PREFIX}.{key_id}.%"))
    ).scalar_one()
    n_profiles = s.execute(select(func.count()).where(profiles.c.cipher == key_id)).scalar_one()
    return int(n_users) + int(n_profiles)


def versions_in_use(s: Any) -> dict[str, int]:
    """Rows per key id (profiles by ``cipher``, users by the email's key id)."""
    out: dict[str, int] = {}
    for cipher, n in s.execute(
        select(profiles.c.cipher, func.count()).group_by(profiles.c.cipher)
    ).all():
        out[cipher] = out.get(cipher, 0) + int(n)
    key_of_email = func.split_part(users.c.email, ".", 2)
    for key_id, n in s.execute(
        select(key_of_email, func.count())
        .where(users.c.email.like(f"{PREFIX}.%"))
        .group_by(key_of_email)
    ).all():
        out[key_id] = out.get(key_id, 0) + int(n)
    return out
