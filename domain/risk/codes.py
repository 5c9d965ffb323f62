"""Why an order was refused, as one stable code plus a human message.

Callers used to split ``"slug: text"`` strings; a ``Denial`` carries the code in its own
field so the order row stores it in its own column and the API answers a problem whose
type is ``/problems/<slug>``. The enum values are the stored codes (snake case); the
slug is the URL form of the same name.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class ReasonCode(StrEnum):
    TRADING_HALTED = "trading_halted"
    REDUCE_ONLY = "reduce_only"
    TRADING_LOCKED = "trading_locked"
    NOTIONAL_EXCEEDS_MAX = "notional_exceeds_max"
    POSITION_EXCEEDS_MAX = "position_exceeds_max"
    RATE_LIMITED = "rate_limited"
    INSUFFICIENT_BUYING_POWER = "insufficient_buying_power"
    INSUFFICIENT_POSITION = "insufficient_position"
    SYMBOL_HALTED = "symbol_halted"
    MARKET_CLOSED = "market_closed"
    ORDER_WINDOW_CLOSED = "order_window_closed"  # opg/cls auction order windows
    PRICE_UNAVAILABLE = "price_unavailable"  # no quote to price the order: fail closed
    ACCOUNT_INACTIVE = "account_inactive"
    BROKER_UNAVAILABLE = "broker_unavailable"  # the broker's breaker refuses orders

    @property
    def slug(self) -> str:
        """The URL form: the API publishes the problem type ``/problems/<slug>``."""
        return self.value.replace("_", "-")

    @property
    def http_status(self) -> int:
        """Retryable refusals get their own status so clients can back off; the rest are
        rule refusals (422)."""
        return _HTTP_STATUS.get(self, 422)


_HTTP_STATUS: Final[dict[ReasonCode, int]] = {
    ReasonCode.BROKER_UNAVAILABLE: 503,
    ReasonCode.RATE_LIMITED: 429,
}


@dataclass(frozen=True, slots=True)
class Denial:
    """A refused order: ``code`` for machines, ``message`` for people."""

    code: ReasonCode
    message: str

    def __str__(self) -> str:
        return self.message
