"""The paper fee model: commissions, SEC fee and FINRA TAF, rounding, and the buy reserve."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from domain.errors import ValidationFailed
from domain.fees import TAF_MAX, TAF_PER_SHARE, FeeModel
from domain.ids import AccountId, OrderId
from domain.ledger import reservation
from domain.order_request import OrderRequest
from domain.orders import Order, Side

D = Decimal
T = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


def order(side: str = "buy", **fields: str) -> Order:
    spec: dict[str, Any] = {"symbol": "AAPL", "side": side, "type": "limit"}
    spec |= {"time_in_force": "day", **fields}
    if spec["type"] == "limit":
        spec.setdefault("limit_price", "10")
    if "notional" not in spec:
        spec.setdefault("qty", "100")
    return OrderRequest.parse(**spec).to_order(OrderId("o1"), AccountId("a"), T)


def test_default_model_is_commission_free_with_published_regulatory_fees() -> None:
    model = FeeModel()
    assert (model.per_share, model.per_order, model.rate) == (0, 0, 0)
    assert (model.taf_per_share, model.taf_max) == (D("0.000166"), D("8.30"))
    assert model.fill_fee(Side.BUY, D(1000), D(50), first_fill=True) == 0


def test_sell_pays_sec_fee_and_taf_each_rounded_up_to_the_cent() -> None:
    model = FeeModel(sec_rate=D("0.0000278"))
    # value 5000: SEC 0.139 -> 0.14; TAF 100 x 0.000166 = 0.0166 -> 0.02
    assert model.fill_fee(Side.SELL, D(100), D(50), first_fill=False) == D("0.16")
    # one share at 1.00: SEC 0.0000278 -> 0.01; TAF 0.000166 -> 0.01
    assert model.fill_fee(Side.SELL, D(1), D(1), first_fill=False) == D("0.02")


def test_taf_is_capped_per_trade() -> None:
    model = FeeModel()
    assert model.fill_fee(Side.SELL, D(1_000_000), D(1), first_fill=False) == TAF_MAX
    assert D(1_000_000) * TAF_PER_SHARE > TAF_MAX


def test_commissions_round_down_per_fill_and_per_order_on_the_first_fill_only() -> None:
    model = FeeModel(
        per_share=D("0.005"), per_order=D("1.00"), rate=D("0.0001"), taf_per_share=D(0)
    )
    # 3 x 0.005 + 0.0001 x 3 x 33.333 = 0.015 + 0.0099999 -> 0.02 (down) + 1.00
    assert model.fill_fee(Side.BUY, D(3), D("33.333"), first_fill=True) == D("1.02")
    assert model.fill_fee(Side.BUY, D(3), D("33.333"), first_fill=False) == D("0.02")
    assert model.fill_fee(Side.BUY, D(1), D("1"), first_fill=False) == 0  # 0.0051 -> 0


def test_fee_reserve_bounds_the_fees_of_any_split_of_a_buy() -> None:
    model = FeeModel(per_share=D("0.0049"), per_order=D("0.35"), rate=D("0.0002"))
    buy = order(qty="7", limit_price="10.01")
    reserve = model.fee_reserve(buy, D("10.01"))
    # 7 x 0.0049 + 0.0002 x 70.07 = 0.0343 + 0.014014 = 0.048314 -> 0.05 (up) + 0.35
    assert reserve == D("0.40")
    for split in ([D(7)], [D(1)] * 7, [D("0.5")] * 14, [D(3), D("3.999999999"), D("1e-9")]):
        fees = [
            model.fill_fee(Side.BUY, q, D("10.01"), first_fill=i == 0) for i, q in enumerate(split)
        ]
        assert sum(fees, D(0)) <= reserve


def test_fee_reserve_of_a_notional_buy_and_of_a_sell() -> None:
    model = FeeModel(per_share=D("0.01"), rate=D("0.001"))
    notional = order(type="market", notional="100")
    assert model.fee_reserve(notional, D(20)) == D("0.15")  # 5 shares x 0.01 + 0.10
    assert model.fee_reserve(order("sell"), D(10)) == 0
    with pytest.raises(ValidationFailed):
        model.fee_reserve(order(), D(0))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"per_share": D("-0.01")},
        {"per_order": D("0.001")},
        {"rate": D(1)},
        {"sec_rate": D("1.5")},
        {"taf_max": D(-1)},
        {"per_share": 0.01},
    ],
)
def test_fee_model_refuses_bad_settings(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailed):
        FeeModel(**kwargs)


def test_reservation_holds_the_fee_reserve_on_top_of_the_cash_for_buys_only() -> None:
    buy = order(qty="3", limit_price="10.01")
    assert reservation(buy).amount == D("30.03")
    buy.fee_reserve = FeeModel(per_order=D("1.00")).fee_reserve(buy, D("10.01"))
    held = reservation(buy)
    assert held.amount == D("31.03") and held.basis.endswith("+ fees 1.00")
    sell = order("sell")
    sell.fee_reserve = D("5.00")  # never set for sells; ignored if it were
    assert reservation(sell).amount == 0
