"""The data keys: which one writes, unwrapped keys cached for a bounded time, rotation
and retirement.

Store functions take any SQLAlchemy ``Connection`` or ``Session`` (the migration passes
its connection). ``Keyring`` serves the cipher of a process: the write key is read from
the table on every write (a rotation is seen at once by every process; PII writes are
rare), unwrapped keys live in memory at most ``cache_ttl_s``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from cluster.pii.crypto import new_key
from cluster.pii.kek import Kek, KekUnavailable
from cluster.pii.tables import pii_keys
from domain.pii import next_key_id


class KeyUnavailable(Exception):
    """No usable data key for an id: unknown, retired, or the KEK refused it."""

    def __init__(self, key_id: str, reason: str) -> None:
        super().__init__(f"data key {key_id}: {reason}")
        self.key_id, self.reason = key_id, reason


@dataclass(frozen=True, slots=True)
class KeyInfo:
    id: str
    kek: str
    state: str
    created_at: datetime
    retired_at: datetime | None


# --- store (any connection) ---
def list_keys(conn: Any) -> list[KeyInfo]:
    rows = conn.execute(select(pii_keys).order_by(pii_keys.c.created_at, pii_keys.c.id)).all()
    return [
        KeyInfo(r.id, r.kek, r.state, r.created_at, r.retired_at)
        for r in sorted(rows, key=lambda r: int(r.id[1:]))
    ]


def active_id(conn: Any, *, share: bool = False) -> str | None:
    """``share``: hold the row FOR SHARE to the end of the caller's transaction, so a
    rotation (which locks the table) waits for this write and every later write sees
    the new key: nothing is written with an old version after a rotation commits."""
    q = select(pii_keys.c.id).where(pii_keys.c.state == "active")
    row = conn.execute(q.with_for_update(read=True) if share else q).first()
    return str(row.id) if row else None


def ensure_active(conn: Any, kek: Kek, *, share: bool = False) -> str:
    """The write key's id, creating ``k1`` when the ring is empty (racing creators: one
    insert wins through the unique index, the others read it)."""
    found = active_id(conn, share=share)
    if found:
        return found
    conn.execute(
        pg_insert(pii_keys)
        .values(id="k1", kek=kek.name, wrapped=kek.wrap("k1", new_key()), state="active")
        .on_conflict_do_nothing()
    )
    found = active_id(conn, share=share)
    if found is None:
        raise KeyUnavailable("k1", "no active data key")
    return found


def rotate(conn: Any, kek: Kek) -> str:
    """A new data key becomes the write key; the previous one keeps decrypting."""
    conn.execute(text("LOCK TABLE pii_keys IN EXCLUSIVE MODE"))
    kek.rotate()
    new_id = next_key_id([k.id for k in list_keys(conn)])
    for k in list_keys(conn):
        if k.kek == kek.name and k.state != "retired":
            wrapped = conn.execute(select(pii_keys.c.wrapped).where(pii_keys.c.id == k.id))
            conn.execute(
                update(pii_keys)
                .where(pii_keys.c.id == k.id)
                .values(wrapped=kek.rewrap(k.id, wrapped.scalar_one()))
            )
    conn.execute(update(pii_keys).where(pii_keys.c.state == "active").values(state="decrypt"))
    conn.execute(
        pg_insert(pii_keys).values(
            id=new_id, kek=kek.name, wrapped=kek.wrap(new_id, new_key()), state="active"
        )
    )
    return new_id


def retire(conn: Any, key_id: str, in_use: int, *, now: datetime | None = None) -> None:
    """Stop a version from decrypting; refused for the write key or while rows use it."""
    row = conn.execute(select(pii_keys.c.state).where(pii_keys.c.id == key_id)).first()
    if row is None:
        raise KeyUnavailable(key_id, "unknown data key")
    if row.state == "active":
        raise KeyUnavailable(key_id, "is the write key; rotate first")
    if in_use:
        raise KeyUnavailable(key_id, f"still seals {in_use} field(s); run the re-encryption job")
    conn.execute(
        update(pii_keys)
        .where(pii_keys.c.id == key_id)
        .values(state="retired", retired_at=now or datetime.now(UTC))
    )


def load(conn: Any, kek: Kek, key_id: str) -> bytes:
    row = conn.execute(select(pii_keys).where(pii_keys.c.id == key_id)).first()
    if row is None:
        raise KeyUnavailable(key_id, "unknown data key")
    if row.state == "retired":
        raise KeyUnavailable(key_id, "retired")
    try:
        return kek.unwrap(key_id, row.wrapped)
    except KekUnavailable as exc:
        raise KeyUnavailable(key_id, "the KEK refused to unwrap it") from exc


# --- the process's key ring ---
class Keyring:
    def __init__(
        self,
        connect: Callable[[], Any],
        kek: Kek,
        *,
        cache_ttl_s: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``connect()`` returns a context manager yielding a connection in a transaction
        (``Database.session`` or ``engine.begin``)."""
        self._connect, self.kek = connect, kek
        self.cache_ttl_s, self._monotonic = cache_ttl_s, monotonic
        self._cache: dict[str, tuple[float, bytes]] = {}
        self._lock = threading.Lock()

    def write_key(self) -> tuple[str, bytes]:
        with self._connect() as conn:
            key_id = ensure_active(conn, self.kek)
        return key_id, self.key(key_id)

    def write_key_in(self, conn: Any) -> tuple[str, bytes]:
        """The write key, read and held FOR SHARE in the caller's transaction."""
        key_id = ensure_active(conn, self.kek, share=True)
        return key_id, self.key(key_id, conn)

    def key(self, key_id: str, conn: Any = None) -> bytes:
        """The unwrapped data key (``conn``: read it there on a miss, e.g. a key created
        in the caller's still-open transaction)."""
        now = self._monotonic()
        with self._lock:
            hit = self._cache.get(key_id)
            if hit is not None and hit[0] > now:
                return hit[1]
        if conn is not None:
            dek = load(conn, self.kek, key_id)
        else:
            with self._connect() as own:
                dek = load(own, self.kek, key_id)
        with self._lock:
            self._cache[key_id] = (now + self.cache_ttl_s, dek)
        return dek

    def forget(self) -> None:
        """Drop unwrapped keys (after a retirement in this process)."""
        with self._lock:
            self._cache.clear()
