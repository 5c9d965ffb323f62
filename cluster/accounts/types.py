"""Value types of accounts and profiles (no SQL), shared by the service and the REST layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from domain.errors import ValidationFailed
from domain.validation import (
    validate_date_of_birth,
    validate_phone,
    validate_region,
    validate_tax_id,
    validate_zip,
)

DEFAULT_MAX_ORDER_NOTIONAL = Decimal("100000.00")
DEFAULT_MAX_POSITION_NOTIONAL = Decimal("1000000.00")
NOTIONAL_LIMIT = Decimal("1000000000.00")


def _printable(value: str, field: str) -> None:
    """No control characters (PostgreSQL refuses NUL; the rest has no place in a name)."""
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValidationFailed(field, "printable", f"{field} contains control characters")


@dataclass(frozen=True, slots=True)
class Address:
    line1: str
    city: str
    region: str
    postal_code: str
    line2: str | None = None
    country: str = "US"


@dataclass(frozen=True, slots=True)
class ProfileInput:
    legal_name: str
    date_of_birth: date
    tax_id: str | None = None
    phone: str | None = None
    address: Address | None = None

    def validated(self, account_type: str, today: date, prefix: str = "") -> ProfileInput:
        """Canonical copy, or ``ValidationFailed`` naming ``<prefix>field`` and the rule."""
        _printable(self.legal_name, f"{prefix}legal_name")
        if self.address is not None:
            for part in ("line1", "line2", "city"):
                _printable(getattr(self.address, part) or "", f"{prefix}address.{part}")
        name = " ".join(self.legal_name.split())
        if not 1 <= len(name) <= 200:
            raise ValidationFailed(f"{prefix}legal_name", "length", "legal_name: 1-200 characters")
        validate_date_of_birth(self.date_of_birth, account_type, today, f"{prefix}date_of_birth")
        tax_id = validate_tax_id(self.tax_id, f"{prefix}tax_id") if self.tax_id else None
        phone = validate_phone(self.phone, f"{prefix}phone") if self.phone else None
        address = None
        if self.address is not None:
            a = self.address
            if a.country != "US":
                raise ValidationFailed(f"{prefix}address.country", "us-only", "US addresses only")
            address = Address(
                line1=a.line1.strip(),
                line2=(a.line2 or "").strip() or None,
                city=a.city.strip(),
                region=validate_region(a.region, f"{prefix}address.region"),
                postal_code=validate_zip(a.postal_code, f"{prefix}address.postal_code"),
            )
        return ProfileInput(name, self.date_of_birth, tax_id, phone, address)


@dataclass(frozen=True, slots=True)
class Profile:
    id: str
    user_id: str
    account_id: str | None
    legal_name: str
    date_of_birth: date
    tax_id: str | None
    phone: str | None
    address: Address | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    owner_user_id: str
    type: str
    status: str
    currency: str
    created_at: datetime
    minor: Profile | None = None


@dataclass(frozen=True, slots=True)
class AccountConfig:
    account_id: str
    max_order_notional: Decimal
    max_position_notional: Decimal
    allow_extended_hours: bool
    ceiling_max_order_notional: Decimal
    ceiling_max_position_notional: Decimal
    extended_hours_permitted: bool
    user_max_order_notional: Decimal | None = None
    user_max_position_notional: Decimal | None = None


@dataclass(frozen=True, slots=True)
class ConfigPatch:
    """User's changes; ``clear`` names limits to reset to the ceiling."""

    max_order_notional: Decimal | None = None
    max_position_notional: Decimal | None = None
    allow_extended_hours: bool | None = None
    clear: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class LimitsPatch:
    ceiling_max_order_notional: Decimal | None = None
    ceiling_max_position_notional: Decimal | None = None
    extended_hours_permitted: bool | None = None
