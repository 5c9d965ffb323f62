"""Object-level access: may this user touch this account?

One check for every route and the gateway. Another user's account answers ``NotFound``
(not ``Forbidden``) so ids cannot be probed; admins may read any account.

Owners come from the process's ``AuthCache`` (``cluster/auth/cache.py``) when the auth
wiring registered one for this ``Database`` (``use_cache``), so a request in steady state
asks PostgreSQL nothing; a miss, an untrusted cache or an unknown account reads the table.
Callers keep passing ``services.db``. Any write to ``accounts.owner_user_id`` or
``accounts.status`` must publish ``Invalidations.account(id)`` after its commit (today no
code path changes either: accounts are created, never re-owned).
"""

from __future__ import annotations

import uuid
from weakref import WeakKeyDictionary

from sqlalchemy import select

from cluster.auth.cache import AccountState, AuthCache
from cluster.db import Database
from cluster.tables import accounts
from domain.errors import Forbidden, NotFound
from domain.ids import AccountId

_caches: WeakKeyDictionary[Database, AuthCache] = WeakKeyDictionary()


def use_cache(db: Database, cache: AuthCache) -> None:
    """Serve owners of ``db``'s accounts from ``cache`` in this process."""
    _caches[db] = cache


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def owner_of(db: Database, account_id: str) -> str | None:
    parsed = _uuid(account_id)
    if parsed is None:
        return None
    key, cache, epoch = str(parsed), _caches.get(db), 0
    if cache is not None:
        hit = cache.account(key)
        if hit is not None:
            return hit.owner_user_id
        epoch = cache.epoch  # before the read: an invalidation meanwhile voids the fill
    with db.session() as s:
        row = s.execute(
            select(accounts.c.owner_user_id, accounts.c.status).where(accounts.c.id == parsed)
        ).first()
    if row is None:
        return None  # not cached: an id nobody owns yet costs a read, never a stale "no"
    owner = str(row.owner_user_id)
    if cache is not None:
        cache.put_account(key, AccountState(owner_user_id=owner, status=row.status), epoch)
    return owner


def owns_account(db: Database, user_id: str, account_id: str) -> bool:
    return owner_of(db, account_id) == str(user_id)


def account_for(
    db: Database, user_id: str, role: str, account_id: str, *, write: bool = False
) -> AccountId:
    """The account id if the user may act on it (at most one query, none on a cache hit):
    another user's account is ``NotFound``; an admin may read any account but writes only
    to their own (``Forbidden``)."""
    owner = owner_of(db, account_id)
    if owner is None or (owner != str(user_id) and role != "admin"):
        raise NotFound(f"account {account_id} not found")
    if write and owner != str(user_id):
        raise Forbidden("admins may not trade on another user's account")
    return AccountId(str(uuid.UUID(str(account_id))))
