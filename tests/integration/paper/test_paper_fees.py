"""The paper broker charges its configured fees on each fill and books them on ``fees``."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from cluster.orders import tables
from tests.integration.paper.conftest import WEDNESDAY, Desk
from tests.kit.quotes import call

D = Decimal
S = timedelta(seconds=1)


def fees_of(desk: Desk, order_id: str) -> list[Decimal]:
    f = tables.fills.c
    with desk.service.db.session() as s:
        rows = s.execute(
            select(f.fee).where(f.order_id == uuid.UUID(order_id)).order_by(f.execution_id)
        ).scalars()
        return list(rows)


async def test_fills_carry_commissions_and_sell_fees_to_the_ledger(make_desk: Any) -> None:
    desk: Desk = await make_desk(
        paper_fee_per_share=D("0.01"),
        paper_fee_per_order=D("1.00"),
        paper_fee_sec_rate=D("0.0000278"),
    )
    model = await call(desk.actor.fill_model.remote())
    assert model["fees"]["per_order"] == "1.00" and model["fees"]["taf_max"] == "8.30"
    desk.driver.book("AAPL", "99.90", "100.00")
    buy = await desk.place(symbol="AAPL", type="market", qty="10")
    await desk.driver.step(WEDNESDAY + S, ("AAPL", "99.90", "100.00", 100, 4))
    await desk.driver.step(WEDNESDAY + 2 * S, ("AAPL", "99.90", "100.00", 100, 100))
    assert fees_of(desk, buy.id) == [D("1.04"), D("0.06")]  # per order once, 0.01 a share
    assert desk.cash() == D("100000") - D("1000.00") - D("1.10")

    sell = await desk.place(symbol="AAPL", side="sell", type="market", qty="10")
    await desk.driver.step(WEDNESDAY + 3 * S, ("AAPL", "101.00", "101.10"))
    # 0.10 + 1.00 + SEC 1010 x 0.0000278 = 0.028 -> 0.03 + TAF 10 x 0.000166 -> 0.01
    assert fees_of(desk, sell.id) == [D("1.14")]
    assert desk.cash() == D("98998.90") + D("1010.00") - D("1.14")
    assert desk.service.check_invariants(desk.account) == []
