"""Accounts, profiles and account configuration with object-level access checks.

Every read and write goes through ``_owned``: a caller who is not the owner (and, for
reads, not an admin) gets ``NotFound``, the same answer as for an id that does not
exist, so ids of other users' objects cannot be probed.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from cluster.accounts import repository as repo
from cluster.accounts.cipher import FieldCipher, IdentityCipher
from cluster.accounts.types import (
    NOTIONAL_LIMIT,
    Account,
    AccountConfig,
    ConfigPatch,
    LimitsPatch,
    Profile,
    ProfileInput,
)
from cluster.db import Database
from domain.clock import Clock
from domain.errors import NotFound, ValidationFailed
from domain.ids import parse_account_id, parse_user_id

log = logging.getLogger(__name__)
ACCOUNT_TYPES = ("individual", "joint", "ira", "custodial")


def check_notional(value: Decimal, field: str) -> Decimal:
    if not value.is_finite() or value <= 0:
        raise ValidationFailed(field, "positive", f"{field} must be greater than 0")
    if value > NOTIONAL_LIMIT:
        raise ValidationFailed(field, "max", f"{field} must be at most {NOTIONAL_LIMIT}")
    if value != value.quantize(Decimal("0.01")):
        raise ValidationFailed(field, "scale", f"{field} has more than 2 decimal places")
    return value


class AccountsService:
    def __init__(self, db: Database, clock: Clock, cipher: FieldCipher | None = None) -> None:
        self.db = db
        self.clock = clock
        self.cipher: FieldCipher = cipher or IdentityCipher()

    # --- accounts ---
    def create_account(
        self, user_id: str, account_type: str, minor: ProfileInput | None = None
    ) -> Account:
        with self.db.session() as s:
            return self.create_account_in(s, user_id, account_type, minor)

    def create_account_in(
        self, s: Session, user_id: str, account_type: str, minor: ProfileInput | None
    ) -> Account:
        """Create inside the caller's transaction (registration uses this)."""
        if account_type not in ACCOUNT_TYPES:
            raise ValidationFailed("account_type", "account-type", "unknown account type")
        today = self.clock.now().date()
        if account_type == "custodial":
            if minor is None:
                raise ValidationFailed("minor", "required-for-custodial", "minor is required")
            minor = minor.validated("custodial", today, prefix="minor.")
        elif minor is not None:
            raise ValidationFailed("minor", "custodial-only", "minor is for custodial accounts")
        account = repo.insert_account(s, user_id, account_type)
        if minor is not None:
            profile = repo.upsert_profile(s, self.cipher, user_id, account.id, minor, self._now())
            account = replace(account, minor=profile)
        repo.audit(
            s, f"user:{user_id}", "account.create", f"account:{account.id}", type=account_type
        )
        return account

    def list_accounts(self, user_id: str) -> list[Account]:
        with self.db.session() as s:
            return repo.list_accounts(s, parse_user_id(user_id))

    def get_account(self, user_id: str, account_id: str, *, admin: bool = False) -> Account:
        with self.db.session() as s:
            account = self._owned(s, user_id, account_id, admin=admin)
            if account.type == "custodial":
                minor = repo.get_profile(s, self.cipher, account.owner_user_id, account.id)
                account = replace(account, minor=minor)
            return account

    def require_owner(self, user_id: str, account_id: str) -> Account:
        """The account if ``user_id`` owns it (writes: admins are not owners)."""
        with self.db.session() as s:
            return self._owned(s, user_id, account_id, admin=False)

    def _owned(self, s: Session, user_id: str, account_id: str, *, admin: bool) -> Account:
        try:
            aid = parse_account_id(account_id)
        except ValidationFailed as exc:
            raise NotFound("account not found") from exc
        account = repo.get_account(s, aid)
        if account is None or (account.owner_user_id != user_id and not admin):
            raise NotFound("account not found")
        return account

    # --- profiles ---
    def get_profile(self, user_id: str, *, reader_id: str | None = None) -> Profile:
        """The user's own profile; a read by someone else (an admin) leaves an audit row."""
        uid = parse_user_id(user_id)
        with self.db.session() as s:
            profile = repo.get_profile(s, self.cipher, uid, None)
            if profile is not None and reader_id is not None and reader_id != uid:
                repo.audit(s, f"user:{reader_id}", "profile.read", f"user:{uid}")
        if profile is None:
            raise NotFound("profile not found")
        return profile

    def put_profile(self, user_id: str, data: ProfileInput, *, actor: str | None = None) -> Profile:
        """Create or replace the user's own profile; the owner must be an adult."""
        clean = data.validated("individual", self.clock.now().date())
        with self.db.session() as s:
            profile = repo.upsert_profile(s, self.cipher, user_id, None, clean, self._now())
            repo.audit(s, actor or f"user:{user_id}", "profile.put", f"user:{user_id}")
            return profile

    # --- configuration ---
    def get_config(self, user_id: str, account_id: str, *, admin: bool = False) -> AccountConfig:
        with self.db.session() as s:
            self._owned(s, user_id, account_id, admin=admin)
            return repo.get_config(s, account_id)

    def update_config(self, user_id: str, account_id: str, patch: ConfigPatch) -> AccountConfig:
        with self.db.session() as s:
            self._owned(s, user_id, account_id, admin=False)
            current = repo.get_config(s, account_id, for_update=True)
            values: dict[str, Any] = {name: None for name in patch.clear}
            for name, ceiling in (
                ("max_order_notional", current.ceiling_max_order_notional),
                ("max_position_notional", current.ceiling_max_position_notional),
            ):
                value = getattr(patch, name)
                if value is None:
                    continue
                check_notional(value, name)
                if value > ceiling:
                    raise ValidationFailed(
                        name, "above-ceiling", f"{name} exceeds the account's ceiling {ceiling}"
                    )
                values[name] = value
            if patch.allow_extended_hours is not None:
                if patch.allow_extended_hours and not current.extended_hours_permitted:
                    raise ValidationFailed(
                        "allow_extended_hours",
                        "not-permitted",
                        "extended hours are not permitted on this account",
                    )
                values["allow_extended_hours"] = patch.allow_extended_hours
            repo.write_config(s, account_id, self._now(), **values)
            repo.audit(
                s,
                f"user:{user_id}",
                "account.config",
                f"account:{account_id}",
                fields=sorted(values),
            )
            return repo.get_config(s, account_id)

    def set_limits(self, admin_id: str, account_id: str, patch: LimitsPatch) -> AccountConfig:
        """Admin ceilings; a user value above a lowered ceiling is clamped to it."""
        with self.db.session() as s:
            self._owned(s, admin_id, account_id, admin=True)
            current = repo.get_config(s, account_id, for_update=True)
            values: dict[str, Any] = {}
            for name in ("max_order_notional", "max_position_notional"):
                ceiling = getattr(patch, f"ceiling_{name}")
                if ceiling is None:
                    continue
                values[f"ceiling_{name}"] = check_notional(ceiling, f"ceiling_{name}")
                user_value = getattr(current, f"user_{name}")
                if user_value is not None and user_value > ceiling:
                    values[name] = ceiling
            if patch.extended_hours_permitted is not None:
                values["extended_hours_permitted"] = patch.extended_hours_permitted
                if not patch.extended_hours_permitted:
                    values["allow_extended_hours"] = False
            repo.write_config(s, account_id, self._now(), **values)
            repo.audit(
                s,
                f"user:{admin_id}",
                "account.limits",
                f"account:{account_id}",
                fields=sorted(values),
            )
            return repo.get_config(s, account_id)

    def effective_limits(self, account_id: str) -> AccountConfig:
        """For the order service's risk checks (no ownership check: internal caller)."""
        with self.db.session() as s:
            return repo.get_config(s, parse_account_id(account_id))

    def _now(self) -> Any:
        return self.clock.now()
