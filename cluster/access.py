"""Object-level access: may this user touch this account?

One check for every route and the gateway. Another user's account answers ``NotFound``
(not ``Forbidden``) so ids cannot be probed; admins may read any account.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from cluster.db import Database
from cluster.tables import accounts
from domain.errors import Forbidden, NotFound
from domain.ids import AccountId


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def owner_of(db: Database, account_id: str) -> str | None:
    parsed = _uuid(account_id)
    if parsed is None:
        return None
    with db.session() as s:
        owner = s.execute(select(accounts.c.owner_user_id).where(accounts.c.id == parsed)).scalar()
    return None if owner is None else str(owner)


def owns_account(db: Database, user_id: str, account_id: str) -> bool:
    return owner_of(db, account_id) == str(user_id)


def account_for(
    db: Database, user_id: str, role: str, account_id: str, *, write: bool = False
) -> AccountId:
    """The account id if the user may act on it, in one query: another user's account is
    ``NotFound``; an admin may read any account but writes only to their own (``Forbidden``)."""
    owner = owner_of(db, account_id)
    if owner is None or (owner != str(user_id) and role != "admin"):
        raise NotFound(f"account {account_id} not found")
    if write and owner != str(user_id):
        raise Forbidden("admins may not trade on another user's account")
    return AccountId(str(uuid.UUID(str(account_id))))
