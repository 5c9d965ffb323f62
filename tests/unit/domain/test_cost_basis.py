"""Average cost: a sell keeps the average entry price; a flat position starts afresh."""

from __future__ import annotations

from decimal import Decimal

from domain.cost_basis import FillLine, average_entry_price, cost_bases


def D(x: str) -> Decimal:
    return Decimal(x)


def test_cost_bases_when_buys_then_cost_is_sum_of_values_in_cents() -> None:
    costs = cost_bases(
        [FillLine("AAPL", "buy", D("2"), D("10.005")), FillLine("AAPL", "buy", D("1"), D("13"))]
    )
    # 2 x 10.005 = 20.01 (to cents), + 13.00
    assert costs == {"AAPL": D("33.01")}


def test_cost_bases_when_partial_sell_then_average_entry_price_unchanged() -> None:
    fills = [FillLine("MSFT", "buy", D("4"), D("10")), FillLine("MSFT", "buy", D("4"), D("20"))]
    before = average_entry_price(cost_bases(fills)["MSFT"], D("8"))
    after_sell = cost_bases([*fills, FillLine("MSFT", "sell", D("3"), D("99"))])["MSFT"]
    assert before == D("15")
    assert average_entry_price(after_sell, D("5")) == before


def test_cost_bases_when_flat_then_next_buy_starts_from_zero() -> None:
    fills = [
        FillLine("SPY", "buy", D("1"), D("100")),
        FillLine("SPY", "sell", D("1"), D("120")),
        FillLine("SPY", "buy", D("2"), D("50")),
    ]
    assert cost_bases(fills) == {"SPY": D("100.00")}


def test_average_entry_price_when_nothing_held_then_zero() -> None:
    assert average_entry_price(D("0"), D("0")) == 0
