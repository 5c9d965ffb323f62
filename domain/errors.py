"""Errors grouped by what the system does with them.

- ``DomainError`` subclasses are *rejections*: the caller asked for something the rules
  forbid. The API turns them into 4xx problems; they are never retried.
- ``TransientError`` means "try again later" (a broker timeout, a provider hiccup, a
  pool exhausted). Callers may retry with backoff; the API answers 503.
- ``OperatorError`` means "stop and page someone": bad credentials, a misconfiguration.

Vendor and driver exceptions are translated into these where they enter the system
(``raise DomainError(...) from exc``), so code above the edge never sees a driver type.
"""

from __future__ import annotations


class ElsonError(Exception):
    """Root of every error the platform raises on purpose."""

    #: A stable, URL-safe slug; the API publishes it as ``/problems/<code>``.
    code: str = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DomainError(ElsonError):
    """A request the rules refuse. Never retried."""

    code = "domain-error"


class ValidationFailed(DomainError):
    """An input broke a rule. ``field`` names the input, ``rule`` names the rule."""

    code = "validation"

    def __init__(self, field: str, rule: str, message: str | None = None) -> None:
        super().__init__(message or f"{field}: {rule}")
        self.field = field
        self.rule = rule


class IllegalTransition(DomainError):
    """An event that the order state machine does not allow in the current status."""

    code = "illegal-transition"

    def __init__(self, status: str, event: str) -> None:
        super().__init__(f"illegal order transition: {status} -> {event}")
        self.status = status
        self.event = event


class NotFound(DomainError):
    code = "not-found"


class Conflict(DomainError):
    code = "conflict"


class Forbidden(DomainError):
    code = "forbidden"


class MarketClosed(DomainError):
    code = "market-closed"


class OutOfCalendarRange(DomainError):
    """An instant the exchange calendar does not cover. We fail closed."""

    code = "calendar-out-of-range"


class TransientError(ElsonError):
    """Try again later; safe to retry with backoff."""

    code = "dependency-unavailable"


class OperatorError(ElsonError):
    """Needs a human: credentials, configuration. Stop routing and alert."""

    code = "operator-error"


class Unauthenticated(DomainError):
    """Missing, invalid, expired or revoked credentials (HTTP 401, WebSocket 4401)."""

    code = "unauthenticated"


class RateLimited(DomainError):
    code = "rate-limited"

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RiskDenied(DomainError):
    """A risk rule refused an order; ``reason_code`` is a stable slug such as
    ``insufficient-buying-power``. Services store a ``rejected`` order instead of raising
    where the order already exists; this error is for pre-trade refusals."""

    code = "risk-denied"

    def __init__(self, reason_code: str, message: str) -> None:
        super().__init__(message)
        self.reason_code = reason_code


class IdempotencyMismatch(DomainError):
    """The same idempotency key arrived with a different request body."""

    code = "idempotency-mismatch"
