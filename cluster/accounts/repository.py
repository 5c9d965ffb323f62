"""SQL for accounts, profiles and account config; every function runs in the caller's session.

Taking a ``Session`` (not a ``Database``) lets a registration create the user, the first
account, its config and the profiles in one transaction. Profiles pass through a
``FieldCipher`` here and nowhere else, so no other code sees stored PII.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from cluster.accounts.cipher import FieldCipher, seal_in
from cluster.accounts.types import (
    DEFAULT_MAX_ORDER_NOTIONAL,
    DEFAULT_MAX_POSITION_NOTIONAL,
    Account,
    AccountConfig,
    Address,
    Profile,
    ProfileInput,
)
from cluster.auth.tables import account_config, profiles
from cluster.tables import accounts, audit_log
from domain.pii import key_id_of

PII_COLUMNS = ("legal_name", "date_of_birth", "tax_id", "phone", "address")


def field_context(column: str, profile_id: object) -> str:
    """The associated data of a profile field (``domain.pii.FieldRef``)."""
    return f"profiles|{column}|{profile_id}"


def audit(s: Session, actor: str, action: str, subject: str, **detail: Any) -> None:
    """One append-only audit row (never PII: ids and action names only)."""
    s.execute(insert(audit_log).values(actor=actor, action=action, subject=subject, detail=detail))


def insert_account(s: Session, owner_user_id: str, account_type: str) -> Account:
    account_id = uuid.uuid4()
    row = s.execute(
        insert(accounts)
        .values(id=account_id, owner_user_id=uuid.UUID(owner_user_id), type=account_type)
        .returning(accounts)
    ).one()
    ensure_config(s, str(account_id))
    return _account(row._mapping)


def get_account(s: Session, account_id: str) -> Account | None:
    row = s.execute(select(accounts).where(accounts.c.id == uuid.UUID(account_id))).first()
    return _account(row._mapping) if row else None


def list_accounts(s: Session, owner_user_id: str) -> list[Account]:
    rows = s.execute(
        select(accounts)
        .where(accounts.c.owner_user_id == uuid.UUID(owner_user_id))
        .order_by(accounts.c.created_at, accounts.c.id)
    ).all()
    return [_account(r._mapping) for r in rows]


def _account(m: Any) -> Account:
    return Account(
        id=str(m["id"]),
        owner_user_id=str(m["owner_user_id"]),
        type=m["type"],
        status=m["status"],
        currency=m["currency"],
        created_at=m["created_at"],
    )


# --- profiles ---
@contextmanager
def _pii_statements() -> Iterator[None]:
    """A failing statement's message must not carry its (PII) parameters into a log."""
    try:
        yield
    except StatementError as exc:
        exc.hide_parameters = True
        raise


def upsert_profile(
    s: Session,
    cipher: FieldCipher,
    user_id: str,
    account_id: str | None,
    data: ProfileInput,
    now: datetime,
) -> Profile:
    existing = s.execute(
        select(profiles.c.id).where(_profile_key(user_id, account_id)).with_for_update()
    ).first()
    profile_id = existing.id if existing else uuid.uuid4()
    plain = {
        "legal_name": data.legal_name,
        "date_of_birth": data.date_of_birth.isoformat(),
        "tax_id": data.tax_id,
        "phone": data.phone,
        "address": json.dumps(_address_dict(data.address)) if data.address else None,
    }
    stored = {
        k: (seal_in(s, cipher, v, context=field_context(k, profile_id)) if v is not None else None)
        for k, v in plain.items()
    }
    written = key_id_of(stored["legal_name"] or "") or cipher.key_id
    values: dict[str, Any] = {**stored, "cipher": written, "updated_at": now}
    with _pii_statements():
        if existing:
            s.execute(update(profiles).where(profiles.c.id == profile_id).values(**values))
        else:
            s.execute(
                insert(profiles).values(
                    id=profile_id,
                    user_id=uuid.UUID(user_id),
                    account_id=uuid.UUID(account_id) if account_id else None,
                    created_at=now,
                    **values,
                )
            )
    found = get_profile(s, cipher, user_id, account_id)
    assert found is not None
    return found


def get_profile(
    s: Session, cipher: FieldCipher, user_id: str, account_id: str | None
) -> Profile | None:
    row = s.execute(select(profiles).where(_profile_key(user_id, account_id))).first()
    if row is None:
        return None
    m = row._mapping
    pid = str(m["id"])
    plain = {
        k: (cipher.decrypt(m[k], context=field_context(k, pid)) if m[k] is not None else None)
        for k in PII_COLUMNS
    }
    return Profile(
        id=pid,
        user_id=str(m["user_id"]),
        account_id=str(m["account_id"]) if m["account_id"] else None,
        legal_name=plain["legal_name"] or "",
        date_of_birth=date.fromisoformat(plain["date_of_birth"] or ""),
        tax_id=plain["tax_id"],
        phone=plain["phone"],
        address=Address(**json.loads(plain["address"])) if plain["address"] else None,
        updated_at=m["updated_at"],
    )


def _profile_key(user_id: str, account_id: str | None) -> Any:
    account_cond = (
        profiles.c.account_id.is_(None)
        if account_id is None
        else profiles.c.account_id == uuid.UUID(account_id)
    )
    return and_(profiles.c.user_id == uuid.UUID(user_id), account_cond)


def _address_dict(a: Address) -> dict[str, Any]:
    return {
        "line1": a.line1,
        "line2": a.line2,
        "city": a.city,
        "region": a.region,
        "postal_code": a.postal_code,
        "country": a.country,
    }


# --- account config ---
def ensure_config(s: Session, account_id: str) -> None:
    s.execute(
        pg_insert(account_config)
        .values(
            account_id=uuid.UUID(account_id),
            ceiling_max_order_notional=DEFAULT_MAX_ORDER_NOTIONAL,
            ceiling_max_position_notional=DEFAULT_MAX_POSITION_NOTIONAL,
        )
        .on_conflict_do_nothing(index_elements=["account_id"])
    )


def get_config(s: Session, account_id: str, *, for_update: bool = False) -> AccountConfig:
    ensure_config(s, account_id)
    query = select(account_config).where(account_config.c.account_id == uuid.UUID(account_id))
    if for_update:
        query = query.with_for_update()
    m = s.execute(query).one()._mapping
    return AccountConfig(
        account_id=account_id,
        max_order_notional=m["max_order_notional"] or m["ceiling_max_order_notional"],
        max_position_notional=m["max_position_notional"] or m["ceiling_max_position_notional"],
        allow_extended_hours=m["allow_extended_hours"],
        ceiling_max_order_notional=m["ceiling_max_order_notional"],
        ceiling_max_position_notional=m["ceiling_max_position_notional"],
        extended_hours_permitted=m["extended_hours_permitted"],
        user_max_order_notional=m["max_order_notional"],
        user_max_position_notional=m["max_position_notional"],
    )


def write_config(s: Session, account_id: str, now: datetime, **values: Any) -> None:
    s.execute(
        update(account_config)
        .where(account_config.c.account_id == uuid.UUID(account_id))
        .values(updated_at=now, **values)
    )
