"""Small builders shared by the order tests."""

from __future__ import annotations

from typing import Any

from domain.order_request import OrderRequest


def limit_buy(qty: str = "1", price: str = "100.00", **kw: Any) -> OrderRequest:
    return OrderRequest.parse(
        symbol=kw.pop("symbol", "AAPL"),
        side="buy",
        type="limit",
        time_in_force=kw.pop("time_in_force", "day"),
        qty=qty,
        limit_price=price,
        **kw,
    )


def market(side: str, qty: str = "1", **kw: Any) -> OrderRequest:
    return OrderRequest.parse(
        symbol=kw.pop("symbol", "AAPL"),
        side=side,
        type="market",
        time_in_force=kw.pop("time_in_force", "day"),
        qty=qty,
        **kw,
    )


def limit_sell(qty: str = "1", price: str = "100.00", **kw: Any) -> OrderRequest:
    return OrderRequest.parse(
        symbol=kw.pop("symbol", "AAPL"),
        side="sell",
        type="limit",
        time_in_force=kw.pop("time_in_force", "day"),
        qty=qty,
        limit_price=price,
        **kw,
    )
