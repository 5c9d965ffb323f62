from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from domain.orders import OrderStatus
from domain.ports import BrokerOrderState

AT = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def state(qty: str, avg: str) -> BrokerOrderState:
    return BrokerOrderState(
        "b-1", "c-1", OrderStatus.PARTIALLY_FILLED, Decimal(qty), Decimal(avg), updated_at=AT
    )


def test_fill_since_execution_id_is_plain_decimal_text() -> None:
    fill = state("10", "100.00").fill_since(None)
    assert fill is not None
    assert fill.execution_id == "b-1:10"  # never "1E+1": ids of stored fills must not change


def test_fill_since_gives_the_increment_at_its_own_price() -> None:
    fill = state("30", "101.00").fill_since(state("10", "100.00"))
    assert fill is not None
    assert (fill.qty, fill.price, fill.execution_id) == (Decimal(20), Decimal("101.5"), "b-1:30")
