"""The conventions every response schema follows, in one place.

A web console generates its TypeScript types from our OpenAPI, so a response model must
say exactly what goes on the wire:

- it subclasses :class:`PublicModel` (closed: ``additionalProperties: false``), and the
  route returns the model itself (``Model.of(domain_object)``), never a dict with more keys;
- status, type and side fields are ``Literal``s or domain ``Enum``s, so the schema lists
  their values;
- every decimal on the wire uses one of the annotated types below, never a bare
  ``Decimal`` or ``str``: :data:`MoneyStr` (an amount: fixed point with the currency's
  places, ``"0.00"``), :data:`PriceStr` and :data:`QuantityStr` (their own places, at most
  9, trailing zeros dropped), :data:`DecimalStr` (any other ratio or mixed amount). All
  serialize as plain decimal strings, never exponent notation (``0E-16`` is ``"0.00"``);
  the text rules live in ``domain.money``;
- times are :data:`Timestamp` (RFC 3339 UTC strings) or aware ``datetime``s.

``tests/unit/serve/test_schema_money.py`` walks every response model and fails on a bare
decimal; ``tests/integration/api/test_openapi.py`` checks the OpenAPI document.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainSerializer, WithJsonSchema

from domain.money import decimal_text, money_text

MONEY_PATTERN = r"^-?\d+\.\d{2}$"
DECIMAL_PATTERN = r"^-?\d+(\.\d{1,9})?$"


def _schema(pattern: str, description: str, example: str) -> WithJsonSchema:
    out: dict[str, Any] = {
        "type": "string",
        "pattern": pattern,
        "description": description,
        "examples": [example],
    }
    return WithJsonSchema(out)


class WireDecimal:
    """Marker carried by every wire-decimal type: its kind and the places it prints."""

    def __init__(self, kind: str, places: int | None) -> None:
        self.kind = kind
        self.places = places  # exactly this many decimals, or None: at most 9


_MONEY = WireDecimal("money", 2)
_PRICE = WireDecimal("price", None)
_QUANTITY = WireDecimal("quantity", None)
_DECIMAL = WireDecimal("decimal", None)

#: An amount of USD (the platform's currency): ``"1234.50"``, ``"0.00"``, ``"-3.10"``.
MoneyStr = Annotated[
    Decimal,
    _MONEY,
    PlainSerializer(money_text, return_type=str, when_used="json"),
    _schema(MONEY_PATTERN, "USD amount, fixed point with 2 decimals", "1234.50"),
]
#: A price per share: ``"187.25"``, ``"0.0012"``, ``"100"``.
PriceStr = Annotated[
    Decimal,
    _PRICE,
    PlainSerializer(decimal_text, return_type=str, when_used="json"),
    _schema(DECIMAL_PATTERN, "price, fixed point, at most 9 decimals", "187.25"),
]
#: A share count (negative for a short position): ``"10"``, ``"0.5"``, ``"-3"``.
QuantityStr = Annotated[
    Decimal,
    _QUANTITY,
    PlainSerializer(decimal_text, return_type=str, when_used="json"),
    _schema(DECIMAL_PATTERN, "quantity, fixed point, at most 9 decimals", "10"),
]
#: Any other decimal (a percentage, a posting that may be cash or shares).
DecimalStr = Annotated[
    Decimal,
    _DECIMAL,
    PlainSerializer(decimal_text, return_type=str, when_used="json"),
    _schema(DECIMAL_PATTERN, "decimal, fixed point, at most 9 decimals", "2.5"),
]
#: An RFC 3339 instant in UTC, as the wire shows it (``"2026-12-07T14:30:00Z"``).
Timestamp = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]


class PublicModel(BaseModel):
    """Base of every response model: closed, so the schema is the whole truth."""

    # closed; and every field is in every answer, so the response schema requires them all
    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)
