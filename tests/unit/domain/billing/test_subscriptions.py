"""The subscription state machine: every status x event pair, checked against an
independent statement of the rules; ordering by ``create_time``; plans by status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.billing.subscriptions import (
    SubEvent,
    SubStatus,
    allowed,
    apply,
    from_paypal_status,
    plan_of,
    supersedes,
)
from domain.errors import IllegalTransition

S, E = SubStatus, SubEvent


def expected(status: SubStatus, event: SubEvent) -> SubStatus | None:
    """The rules in words: payments never move the status; an ended subscription only
    hears its own end again (and late sales/failures); a pending one cannot be
    suspended; CREATED only while pending."""
    if event in (E.SALE_COMPLETED, E.PAYMENT_FAILED):
        return None if status is S.EXPIRED and event is E.PAYMENT_FAILED else status
    if status.is_terminal:
        return status if event.value.endswith(status.name) else None
    if event is E.CREATED:
        return S.PENDING if status is S.PENDING else None
    if event is E.SUSPENDED and status is S.PENDING:
        return None
    return {
        E.ACTIVATED: S.ACTIVE,
        E.SUSPENDED: S.SUSPENDED,
        E.CANCELLED: S.CANCELLED,
        E.EXPIRED: S.EXPIRED,
    }[event]


@pytest.mark.parametrize("status", list(SubStatus))
@pytest.mark.parametrize("event", list(SubEvent))
def test_every_status_event_pair(status: SubStatus, event: SubEvent) -> None:
    want = expected(status, event)
    assert allowed(status, event) is (want is not None)
    if want is None:
        with pytest.raises(IllegalTransition, match=f"{status.value} -> {event.value}"):
            apply(status, event)
    else:
        assert apply(status, event) is want


def test_only_an_active_subscription_grants_its_plan() -> None:
    assert plan_of(S.ACTIVE, "premium") == "premium"
    for status in set(SubStatus) - {S.ACTIVE}:
        assert plan_of(status, "premium") == "free"


def test_older_or_equal_events_never_supersede() -> None:
    t = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
    assert supersedes(t, None)
    assert supersedes(t + timedelta(seconds=1), t)
    assert not supersedes(t, t)
    assert not supersedes(t - timedelta(seconds=1), t)
    with pytest.raises(ValueError):
        supersedes(datetime(2026, 12, 7), t)


def test_paypal_statuses_map_to_ours() -> None:
    assert from_paypal_status("APPROVAL_PENDING") is S.PENDING
    assert from_paypal_status("ACTIVE") is S.ACTIVE
    assert from_paypal_status("cancelled") is S.CANCELLED
    assert from_paypal_status("SOMETHING_NEW") is None


def test_only_billing_subscription_events_re_read_paypal() -> None:
    assert all(e.is_subscription_event for e in SubEvent if e is not E.SALE_COMPLETED)
    assert not E.SALE_COMPLETED.is_subscription_event
