"""cluster.orders.activity_feed's pure parts: Alpaca's activity ids and types."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from cluster.orders.activity_feed import activity_id, cash_type


def test_activity_id_when_any_offset_then_utc_stamp_with_millis_and_entry_id() -> None:
    at = datetime(2026, 11, 24, 10, 0, 1, 234567, tzinfo=timezone(timedelta(hours=-5)))
    assert activity_id(at, "fill:x1") == "20261124150001234::fill:x1"


@pytest.mark.parametrize(
    ("kind", "cash", "expected"),
    [
        ("funding", Decimal("10.00"), "CSD"),
        ("funding", Decimal("-10.00"), "CSW"),
        ("fee", Decimal("-0.01"), "FEE"),
        ("reset", Decimal("5.00"), "JNLC"),
    ],
)
def test_cash_type_maps_ledger_kinds_to_alpaca_types(
    kind: str, cash: Decimal, expected: str
) -> None:
    assert cash_type(kind, cash) == expected
