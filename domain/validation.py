"""Pure format validators for personal data and contact details.

Each returns the canonical form or raises ``ValidationFailed(field, rule)`` so the API can
answer 422 naming both. ``today`` is passed in: the domain never reads the clock.

Tax ids follow the SSA/IRS published structure (``AAA-GG-SSSS``):

- SSN: area 000, 666 and 900-999 were never issued; group 00 and serial 0000 neither.
- ITIN: area 9xx with group 50-65, 70-88, 90-92 or 94-99; serial 0000 is refused.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Final

from domain.errors import ValidationFailed

__all__ = [
    "ADULT_AGE",
    "US_REGIONS",
    "age_on",
    "mask_tax_id",
    "normalize_email",
    "validate_date_of_birth",
    "validate_phone",
    "validate_region",
    "validate_tax_id",
    "validate_zip",
]

ADULT_AGE: Final = 18
ADULT_ACCOUNT_TYPES: Final = frozenset({"individual", "joint", "ira"})
MINOR_ACCOUNT_TYPES: Final = frozenset({"custodial"})
_EMAIL: Final = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~.-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,63}")
_E164: Final = re.compile(r"\+[1-9][0-9]{7,14}")
_TAX_ID: Final = re.compile(r"([0-9]{3})-?([0-9]{2})-?([0-9]{4})")
_ZIP: Final = re.compile(r"[0-9]{5}(-[0-9]{4})?")
_ITIN_GROUPS: Final = (range(50, 66), range(70, 89), range(90, 93), range(94, 100))
US_REGIONS: Final = frozenset(
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH "
    "NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC PR GU VI AS MP".split()
)


def normalize_email(value: str, field: str = "email") -> str:
    """Lower-case, trimmed address of a plausible shape (deliverability is not checked)."""
    text = value.strip().lower()
    if not 3 <= len(text) <= 254 or _EMAIL.fullmatch(text) is None:
        raise ValidationFailed(field, "email-format", f"{field} is not a valid email address")
    local = text.split("@", 1)[0]
    if len(local) > 64 or local.startswith(".") or local.endswith(".") or ".." in local:
        raise ValidationFailed(field, "email-format", f"{field} is not a valid email address")
    return text


def validate_phone(value: str, field: str = "phone") -> str:
    """E.164: ``+`` then 8 to 15 digits, no leading zero country code."""
    text = value.strip()
    if _E164.fullmatch(text) is None:
        raise ValidationFailed(field, "e164-format", f"{field} must be E.164, e.g. +12125550100")
    return text


def validate_tax_id(value: str, field: str = "tax_id") -> str:
    """A US SSN or ITIN in canonical ``AAA-GG-SSSS`` form; impossible ranges refused."""
    match = _TAX_ID.fullmatch(value.strip())
    if match is None:
        raise ValidationFailed(field, "tax-id-format", f"{field} must be 9 digits (AAA-GG-SSSS)")
    area_s, group_s, serial_s = match.groups()
    area, group = int(area_s), int(group_s)
    if area >= 900:
        if not any(group in r for r in _ITIN_GROUPS):
            raise ValidationFailed(field, "itin-group", f"{field} has an invalid ITIN group")
    else:
        if area == 0 or area == 666:
            raise ValidationFailed(field, "ssn-area", f"{field} has an invalid SSN area")
        if group == 0:
            raise ValidationFailed(field, "ssn-group", f"{field} has an invalid SSN group")
    if serial_s == "0000":
        raise ValidationFailed(field, "tax-id-serial", f"{field} has an invalid serial number")
    return f"{area_s}-{group_s}-{serial_s}"


def mask_tax_id(value: str) -> str:
    """``***-**-1234``: the last four digits only, for public responses."""
    digits = [c for c in value if c.isdigit()]
    return "***-**-" + "".join(digits[-4:]) if len(digits) >= 4 else "***-**-****"


def validate_zip(value: str, field: str = "postal_code") -> str:
    text = value.strip()
    if _ZIP.fullmatch(text) is None or text.startswith("00000"):
        raise ValidationFailed(field, "zip-format", f"{field} must be a ZIP or ZIP+4")
    return text


def validate_region(value: str, field: str = "region") -> str:
    text = value.strip().upper()
    if text not in US_REGIONS:
        raise ValidationFailed(field, "us-state", f"{field} must be a US state code")
    return text


def age_on(born: date, today: date) -> int:
    """Completed years (a 29 February birthday comes of age on 1 March in common years)."""
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def validate_date_of_birth(
    born: date, account_type: str, today: date, field: str = "date_of_birth"
) -> date:
    """Adult (>= 18) for individual/joint/ira owners; a minor for a custodial account."""
    if born > today:
        raise ValidationFailed(field, "not-in-future", f"{field} is in the future")
    if born.year < 1900:
        raise ValidationFailed(field, "dob-range", f"{field} is before 1900")
    age = age_on(born, today)
    if account_type in ADULT_ACCOUNT_TYPES and age < ADULT_AGE:
        raise ValidationFailed(field, "adult-required", f"{field}: the owner must be 18 or older")
    if account_type in MINOR_ACCOUNT_TYPES and age >= ADULT_AGE:
        raise ValidationFailed(
            field, "minor-required", f"{field}: a custodial account is for a minor"
        )
    if account_type not in ADULT_ACCOUNT_TYPES | MINOR_ACCOUNT_TYPES:
        raise ValidationFailed("account_type", "account-type", "unknown account type")
    return born
