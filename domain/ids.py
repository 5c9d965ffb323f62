"""Typed identifiers.

Two kinds, chosen by where the value comes from:

- ``OrderId``, ``AccountId``, ``UserId``, ``ExecutionId`` are ``NewType`` over ``str``.
  They are minted by us (UUIDs rendered as canonical lower-case text) or by a broker
  (Alpaca execution ids; the paper engine's ``"<order_id>-<n>"``), travel through JSON,
  Ray and SQL unchanged, and cost nothing at runtime. ``str`` rather than ``uuid.UUID``
  because execution ids are not UUIDs and because every edge would otherwise convert.
  :func:`parse_uuid` checks and canonicalises the UUID-shaped ones at the API boundary.
- ``ClientOrderId`` and ``Symbol`` arrive from clients, so they are ``str`` subclasses
  that validate in ``__new__``: they cannot exist unchecked, yet still compare, hash,
  pickle and serialise as plain strings.
"""

from __future__ import annotations

import re
import uuid
from typing import Final, NewType

from domain.errors import ValidationFailed

OrderId = NewType("OrderId", str)
AccountId = NewType("AccountId", str)
UserId = NewType("UserId", str)
ExecutionId = NewType("ExecutionId", str)

_SYMBOL: Final = re.compile(r"[A-Z][A-Z0-9.\-]{0,9}")
_CLIENT_ORDER_ID_MAX: Final = 128


def parse_uuid(value: object, field: str) -> str:
    """Canonical lower-case hyphenated UUID text, or ``ValidationFailed(field, 'uuid-format')``."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str) or len(value) > 64:
        raise ValidationFailed(field, "uuid-format", f"{field} must be a UUID")
    try:
        return str(uuid.UUID(value))
    except ValueError as exc:
        raise ValidationFailed(field, "uuid-format", f"{field} must be a UUID") from exc


def parse_order_id(value: object, field: str = "order_id") -> OrderId:
    return OrderId(parse_uuid(value, field))


def parse_account_id(value: object, field: str = "account_id") -> AccountId:
    return AccountId(parse_uuid(value, field))


def parse_user_id(value: object, field: str = "user_id") -> UserId:
    return UserId(parse_uuid(value, field))


def _printable_token(value: str) -> bool:
    """Printable ASCII without spaces (0x21-0x7E): safe in URLs, logs and broker fields."""
    return all("!" <= ch <= "~" for ch in value)


def parse_execution_id(value: object, field: str = "execution_id") -> ExecutionId:
    if not (isinstance(value, str) and 0 < len(value) <= 128 and _printable_token(value)):
        raise ValidationFailed(field, "execution-id-format", f"{field} is not a valid id")
    return ExecutionId(value)


class ClientOrderId(str):
    """The client's idempotency key for an order: 1..128 printable ASCII, no spaces.

    Alpaca caps ``client_order_id`` at 128 characters; spaces and control characters are
    refused because the id is echoed into URLs, logs and broker requests.
    """

    __slots__ = ()

    def __new__(cls, value: object, field: str = "client_order_id") -> ClientOrderId:
        if not isinstance(value, str) or not 0 < len(value) <= _CLIENT_ORDER_ID_MAX:
            raise ValidationFailed(
                field, "client-order-id-format", f"{field} must be 1 to 128 characters"
            )
        if not _printable_token(value):
            raise ValidationFailed(
                field,
                "client-order-id-format",
                f"{field} must be printable ASCII without spaces",
            )
        return super().__new__(cls, value)

    @classmethod
    def parse(cls, value: object, field: str = "client_order_id") -> ClientOrderId:
        return cls(value, field)


class Symbol(str):
    """A US equity ticker, normalised to upper case (``brk.b`` -> ``BRK.B``).

    1..10 characters: a letter first, then letters, digits, ``.`` or ``-`` (share classes
    such as ``BRK.B`` or ``BF-B``). Rule ``symbol-format``.
    """

    __slots__ = ()

    def __new__(cls, value: object, field: str = "symbol") -> Symbol:
        if not isinstance(value, str) or not value.isascii():
            raise ValidationFailed(field, "symbol-format", f"{field} must be a ticker symbol")
        text = value.upper()
        if _SYMBOL.fullmatch(text) is None:
            raise ValidationFailed(
                field,
                "symbol-format",
                f"{field} must be 1-10 of A-Z, 0-9, '.', '-' starting with a letter",
            )
        return super().__new__(cls, text)

    @classmethod
    def parse(cls, value: object, field: str = "symbol") -> Symbol:
        return cls(value, field)
