"""Prices, quantities and money as ``Decimal`` value objects that refuse bad input when built.

Why: a float that slips into an order (``0.1 + 0.2``), a NaN quantity, or a price at a tick
the exchange will not accept corrupts the ledger quietly and surfaces days later as a broker
reject or a reconciliation break. So every value is checked once, where it enters, and every
``parse`` names the input field so the API can point the client at it.

Input rules shared by all three ``parse`` functions (see :func:`to_decimal`):

- accepted: ``str`` (e.g. ``"101.25"``), ``int``, ``Decimal``;
- refused: ``float`` (rule ``float-not-allowed``: it has already lost precision), ``bool``
  (``bool-not-allowed``: ``True`` is an ``int`` in Python, never a price), NaN
  (``not-a-number``), infinities (``not-finite``), magnitudes of 1e15 or more
  (``out-of-range``), unparsable text (``decimal-format``).

Arithmetic that must be exact (fill notionals, averages) uses :data:`EXACT`, a context wide
enough that sums and products of in-range values never round.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from typing import Final

from domain.errors import ValidationFailed

#: Wide enough that products and sums of in-range prices and quantities are exact.
EXACT: Final = Context(prec=60)
#: Quantities carry at most this many decimals (fractional shares, crypto lots).
MAX_DECIMALS: Final = 9
CENT: Final = Decimal("0.01")
_MAX_MAGNITUDE: Final = Decimal("1e15")
_MAX_TEXT: Final = 64


def to_decimal(value: object, field: str) -> Decimal:
    """Convert a primitive input to a finite ``Decimal`` or raise ``ValidationFailed``."""
    if isinstance(value, bool):
        raise ValidationFailed(field, "bool-not-allowed", f"{field} must be a number, not a bool")
    if isinstance(value, float):
        raise ValidationFailed(
            field, "float-not-allowed", f"{field} must be a decimal string, not a float"
        )
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text or len(text) > _MAX_TEXT:
            raise ValidationFailed(field, "decimal-format", f"{field} is not a decimal number")
        try:
            number = Decimal(text)
        except InvalidOperation as exc:
            raise ValidationFailed(
                field, "decimal-format", f"{field} is not a decimal number"
            ) from exc
    else:
        raise ValidationFailed(
            field, "decimal-type", f"{field} must be a decimal string or an integer"
        )
    return _check_finite(number, field)


def _check_finite(number: Decimal, field: str) -> Decimal:
    if number.is_nan():
        raise ValidationFailed(field, "not-a-number", f"{field} is NaN")
    if number.is_infinite():
        raise ValidationFailed(field, "not-finite", f"{field} is infinite")
    if abs(number) >= _MAX_MAGNITUDE:
        raise ValidationFailed(field, "out-of-range", f"{field} is too large")
    return number


def _require_decimal(value: object, field: str) -> Decimal:
    """Constructor guard: direct construction takes a ``Decimal`` only, never a float."""
    if not isinstance(value, Decimal):
        raise ValidationFailed(field, "decimal-type", f"{field} must be a Decimal")
    return _check_finite(value, field)


def decimals_of(number: Decimal) -> int:
    """Significant decimal places, exactly: ``1.50`` has 1, ``100`` has 0.

    Counted from the digit tuple rather than ``normalize()``, which rounds to the context
    precision and would hide a 40-digit fraction.
    """
    _, digits, exponent = number.as_tuple()
    if not isinstance(exponent, int) or exponent >= 0 or not any(digits):
        return 0
    places = -exponent
    for digit in reversed(digits):
        if digit != 0 or places == 0:
            break
        places -= 1
    return places


def _canonical(number: Decimal) -> Decimal:
    """Drop trailing zeros so equal values print alike (``1.50`` -> ``1.5``; ``-0`` -> ``0``)."""
    if number == 0:
        return Decimal(0)
    return number.quantize(Decimal(1).scaleb(-decimals_of(number)), context=EXACT)


def _plain(number: Decimal) -> str:
    """Fixed-point text, never scientific notation: the wire format brokers expect."""
    return format(number, "f")


#: Minor-unit places per ISO 4217 currency; anything not listed shows 2.
CURRENCY_PLACES: Final = {"USD": 2, "EUR": 2, "GBP": 2, "CHF": 2, "JPY": 0}


def currency_places(currency: str = "USD") -> int:
    return CURRENCY_PLACES.get(currency, 2)


def _quantize(number: Decimal, places: int) -> Decimal:
    """Round half-even to ``places`` with a context wide enough for any finite input."""
    precision = max(EXACT.prec, number.adjusted() + places + 2)
    return number.quantize(
        Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN, context=Context(prec=precision)
    )


def money_text(amount: Decimal, currency: str = "USD") -> str:
    """An amount as the wire shows money: fixed point with the currency's places.

    ``Decimal("0E-16")`` -> ``"0.00"``, ``Decimal("1E+3")`` -> ``"1000.00"``; negative zero
    prints as ``"0.00"``. Rounds half-even (the same rule as :meth:`Money.quantize_cents`).
    """
    value = _quantize(amount, currency_places(currency))
    if value == 0:
        value = abs(value)
    return format(value, "f")


def decimal_text(number: Decimal, max_places: int = MAX_DECIMALS) -> str:
    """A price or quantity as the wire shows it: fixed point, its own places, no exponent.

    Trailing zeros are dropped (``"187.50"`` -> ``"187.5"``, ``"1E+3"`` -> ``"1000"``) and
    anything beyond ``max_places`` decimals is rounded half-even; ``-0`` prints as ``"0"``.
    """
    if decimals_of(number) > max_places:
        number = _quantize(number, max_places)
    if number == 0:
        return "0"
    places = decimals_of(number)
    return format(_quantize(number, places), "f")


def tick_size(price: Decimal) -> Decimal:
    """Minimum order-entry increment (Reg NMS rule 612): $0.01 at or above $1, else $0.0001."""
    return CENT if price >= 1 else Decimal("0.0001")


@dataclass(frozen=True, order=True)
class Price:
    """A positive price per share.

    Direct construction checks what every price shares (Decimal, finite, positive, at most
    9 decimals) because executions may be sub-penny (midpoint fills). Inputs enter through
    :meth:`parse`, which also enforces the order-entry tick ladder (rule ``price-increment``).
    """

    value: Decimal

    def __post_init__(self) -> None:
        number = _require_decimal(self.value, "price")
        _check_price(number, "price", tick_rule=False)
        object.__setattr__(self, "value", _canonical(number))

    @classmethod
    def parse(cls, value: object, field: str = "price", *, tick_rule: bool = True) -> Price:
        """Build from input; ``tick_rule=False`` for execution prices reported by a broker."""
        number = to_decimal(value, field)
        _check_price(number, field, tick_rule=tick_rule)
        return cls(number)

    def to_wire(self) -> str:
        return _plain(self.value)

    def __str__(self) -> str:
        return self.to_wire()


def _check_price(number: Decimal, field: str, *, tick_rule: bool) -> None:
    if number <= 0:
        raise ValidationFailed(field, "positive", f"{field} must be greater than 0")
    places = decimals_of(number)
    if tick_rule:
        allowed = 2 if number >= 1 else 4
        if places > allowed:
            raise ValidationFailed(
                field,
                "price-increment",
                f"{field} allows at most {allowed} decimals at this price",
            )
    elif places > MAX_DECIMALS:
        raise ValidationFailed(field, "max-decimals", f"{field} has more than 9 decimals")


@dataclass(frozen=True, order=True)
class Quantity:
    """A share count: non-negative when built, positive when parsed from an order.

    Zero is a legal *state* (nothing filled yet) but never a legal *request*, hence
    :meth:`parse` (positive) versus :meth:`parse_non_negative` and :meth:`zero`.
    """

    value: Decimal

    def __post_init__(self) -> None:
        number = _require_decimal(self.value, "qty")
        _check_quantity(number, "qty", allow_zero=True)
        object.__setattr__(self, "value", _canonical(number))

    @classmethod
    def parse(cls, value: object, field: str = "qty") -> Quantity:
        number = to_decimal(value, field)
        _check_quantity(number, field, allow_zero=False)
        return cls(number)

    @classmethod
    def parse_non_negative(cls, value: object, field: str = "qty") -> Quantity:
        number = to_decimal(value, field)
        _check_quantity(number, field, allow_zero=True)
        return cls(number)

    @classmethod
    def zero(cls) -> Quantity:
        return cls(Decimal(0))

    @property
    def is_zero(self) -> bool:
        return self.value == 0

    def __add__(self, other: Quantity) -> Quantity:
        return Quantity(EXACT.add(self.value, other.value))

    def __sub__(self, other: Quantity) -> Quantity:
        return Quantity(EXACT.subtract(self.value, other.value))

    def to_wire(self) -> str:
        return _plain(self.value)

    def __str__(self) -> str:
        return self.to_wire()


def _check_quantity(number: Decimal, field: str, *, allow_zero: bool) -> None:
    if allow_zero and number < 0:
        raise ValidationFailed(field, "non-negative", f"{field} must not be negative")
    if not allow_zero and number <= 0:
        raise ValidationFailed(field, "positive", f"{field} must be greater than 0")
    if decimals_of(number) > MAX_DECIMALS:
        raise ValidationFailed(field, "max-decimals", f"{field} has more than 9 decimals")


def _check_currency(currency: object) -> str:
    if not (isinstance(currency, str) and len(currency) == 3 and currency.isascii()):
        raise ValidationFailed("currency", "currency-format", "currency must be ISO 4217")
    if not (currency.isalpha() and currency.isupper()):
        raise ValidationFailed("currency", "currency-format", "currency must be ISO 4217")
    return currency


@dataclass(frozen=True)
class Money:
    """An amount in one currency, any sign (cash can be negative: fees, margin, P&L).

    Amounts keep their full precision through arithmetic; round once, at the edge that
    books or shows them, with :meth:`quantize_cents` (banker's rounding, so a long run of
    half-cent values does not drift upward).
    """

    amount: Decimal
    currency: str = "USD"

    def __post_init__(self) -> None:
        _require_decimal(self.amount, "amount")
        _check_currency(self.currency)

    @classmethod
    def parse(
        cls,
        value: object,
        field: str = "amount",
        *,
        currency: str = "USD",
        places: int | None = None,
        positive: bool = False,
    ) -> Money:
        """Build from input; ``places`` caps the decimals (rule ``money-increment``)."""
        number = to_decimal(value, field)
        if positive and number <= 0:
            raise ValidationFailed(field, "positive", f"{field} must be greater than 0")
        if places is not None and decimals_of(number) > places:
            raise ValidationFailed(
                field, "money-increment", f"{field} allows at most {places} decimals"
            )
        return cls(number, _check_currency(currency))

    @classmethod
    def zero(cls, currency: str = "USD") -> Money:
        return cls(Decimal(0), currency)

    def quantize_cents(self) -> Money:
        return Money(
            self.amount.quantize(CENT, rounding=ROUND_HALF_EVEN, context=EXACT), self.currency
        )

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise ValidationFailed(
                "currency",
                "currency-mismatch",
                f"cannot combine {self.currency} with {other.currency}",
            )

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(EXACT.add(self.amount, other.amount), self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(EXACT.subtract(self.amount, other.amount), self.currency)

    def __neg__(self) -> Money:
        return Money(EXACT.minus(self.amount), self.currency)

    def __mul__(self, factor: Decimal | int) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, Decimal | int):
            raise ValidationFailed("factor", "decimal-type", "money multiplies by Decimal or int")
        return Money(EXACT.multiply(self.amount, Decimal(factor)), self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    def to_wire(self) -> str:
        return _plain(self.amount)

    def __str__(self) -> str:
        return f"{self.to_wire()} {self.currency}"
