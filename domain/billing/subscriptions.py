"""The subscription state machine: statuses, PayPal events, one transition table.

``apply(status, event)`` is the only way a status changes; a pair missing from the table
raises ``IllegalTransition`` naming ``status -> event``. Events are applied in PayPal's
``create_time`` order: ``supersedes`` says whether an event is newer than the last one
applied, so an older event delivered late never overwrites a newer state.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from domain.billing.plans import FREE
from domain.errors import IllegalTransition


class SubStatus(StrEnum):
    PENDING = "pending"  # created at PayPal, waiting for the buyer's approval
    ACTIVE = "active"
    SUSPENDED = "suspended"  # payments failed past PayPal's threshold, or suspended by us
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        return self in (SubStatus.CANCELLED, SubStatus.EXPIRED)


class SubEvent(StrEnum):
    CREATED = "BILLING.SUBSCRIPTION.CREATED"
    ACTIVATED = "BILLING.SUBSCRIPTION.ACTIVATED"
    SUSPENDED = "BILLING.SUBSCRIPTION.SUSPENDED"
    CANCELLED = "BILLING.SUBSCRIPTION.CANCELLED"
    EXPIRED = "BILLING.SUBSCRIPTION.EXPIRED"
    PAYMENT_FAILED = "BILLING.SUBSCRIPTION.PAYMENT.FAILED"
    SALE_COMPLETED = "PAYMENT.SALE.COMPLETED"

    @property
    def is_subscription_event(self) -> bool:
        """``BILLING.SUBSCRIPTION.*``: re-read the subscription from PayPal first."""
        return self.value.startswith("BILLING.SUBSCRIPTION.")


S, E = SubStatus, SubEvent

_TABLE: dict[tuple[SubStatus, SubEvent], SubStatus] = {
    (S.PENDING, E.CREATED): S.PENDING,
    (S.PENDING, E.ACTIVATED): S.ACTIVE,
    (S.PENDING, E.CANCELLED): S.CANCELLED,  # the buyer never approved, or we cancelled
    (S.PENDING, E.EXPIRED): S.EXPIRED,
    # the first payment can fail or complete before ACTIVATED is delivered: real, and
    # only a subscription event moves the status
    (S.PENDING, E.PAYMENT_FAILED): S.PENDING,
    (S.PENDING, E.SALE_COMPLETED): S.PENDING,
    (S.ACTIVE, E.ACTIVATED): S.ACTIVE,  # reactivation notice with another event id
    (S.ACTIVE, E.SUSPENDED): S.SUSPENDED,
    (S.ACTIVE, E.CANCELLED): S.CANCELLED,
    (S.ACTIVE, E.EXPIRED): S.EXPIRED,
    (S.ACTIVE, E.PAYMENT_FAILED): S.ACTIVE,  # PayPal retries; it suspends past its limit
    (S.ACTIVE, E.SALE_COMPLETED): S.ACTIVE,
    (S.SUSPENDED, E.ACTIVATED): S.ACTIVE,  # reactivated after the balance was paid
    (S.SUSPENDED, E.SUSPENDED): S.SUSPENDED,
    (S.SUSPENDED, E.CANCELLED): S.CANCELLED,
    (S.SUSPENDED, E.EXPIRED): S.EXPIRED,
    (S.SUSPENDED, E.PAYMENT_FAILED): S.SUSPENDED,
    (S.SUSPENDED, E.SALE_COMPLETED): S.SUSPENDED,
    (S.CANCELLED, E.CANCELLED): S.CANCELLED,  # our own cancel, then PayPal's notice
    (S.CANCELLED, E.SALE_COMPLETED): S.CANCELLED,  # a last sale reported late
    (S.CANCELLED, E.PAYMENT_FAILED): S.CANCELLED,
    (S.EXPIRED, E.EXPIRED): S.EXPIRED,
    (S.EXPIRED, E.SALE_COMPLETED): S.EXPIRED,
}


def apply(status: SubStatus, event: SubEvent) -> SubStatus:
    try:
        return _TABLE[(status, event)]
    except KeyError:
        raise IllegalTransition(status.value, event.value) from None


def allowed(status: SubStatus, event: SubEvent) -> bool:
    return (status, event) in _TABLE


#: PayPal's subscription ``status`` values (Subscriptions API v1) as ours
_PAYPAL_STATUS = {
    "APPROVAL_PENDING": S.PENDING,
    "APPROVED": S.PENDING,
    "ACTIVE": S.ACTIVE,
    "SUSPENDED": S.SUSPENDED,
    "CANCELLED": S.CANCELLED,
    "EXPIRED": S.EXPIRED,
}


def from_paypal_status(value: str) -> SubStatus | None:
    return _PAYPAL_STATUS.get(value.upper())


def plan_of(status: SubStatus, plan: str) -> str:
    """Only an active subscription grants its plan; everything else is ``free``."""
    return plan if status is S.ACTIVE else FREE


def supersedes(event_time: datetime, last_applied: datetime | None) -> bool:
    """Whether an event created at ``event_time`` is newer than the last one applied (an
    event with the same instant is not: it cannot be ordered, so it does not overwrite)."""
    if event_time.tzinfo is None:
        raise ValueError("event times must be aware")
    return last_applied is None or event_time > last_applied
