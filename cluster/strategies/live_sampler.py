"""The live sampler: an instance's paper results, read from PostgreSQL, as a live sample.

Its fills are the ``fills`` of orders carrying its ``strategy_id`` (what its runner
placed), in booking order. A symbol is marked at the mid of its latest quote in the feed
cache (any age: the last known price is the best mark outside market hours) and, without
one, at its last fill price. The curve the score is computed on starts where the current
version took effect: at the last live sample taken before then, or (no such sample) at the
P&L of the fills until then marked at their own last prices. The arithmetic and its
choices are ``domain.strategy.live``.

``sample_all`` runs on the adaptive-parameter actor's loop every ``strategy_sample_s``:
each trading instance gets a ``record_sample(kind="live")``, which also runs the drift
check. One instance failing is logged and does not stop the others.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Collection
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cluster.db import Database
from cluster.orders.tables import fills, orders
from cluster.orders.types import QuoteLookup
from cluster.settings import Settings
from cluster.strategies.host import StrategyHost
from cluster.strategies.tables import strategy_performance
from domain.portfolio import mark_price
from domain.strategy.instance import Instance
from domain.strategy.live import EquityPoint, LiveFill, LiveSample, live_sample, pnl

log = logging.getLogger(__name__)

F = strategy_performance.c
#: a quote of any age marks a position (the feed cache keeps the last one it saw)
ANY_AGE_S = 366 * 24 * 3600.0
#: the cash a re-optimization backtests with when ``reoptimize.cash`` is not set
DEFAULT_CAPITAL = Decimal("10000")


def load_fills(s: Session, instance_id: str) -> list[LiveFill]:
    rows = s.execute(
        select(fills.c.symbol, fills.c.side, fills.c.qty, fills.c.price, fills.c.fee, fills.c.at)
        .join(orders, orders.c.id == fills.c.order_id)
        .where(orders.c.strategy_id == str(instance_id))
        .order_by(fills.c.at, fills.c.recorded_at, fills.c.execution_id)
    ).all()
    return [LiveFill(r.symbol, r.side, r.qty, r.price, r.fee, r.at) for r in rows]


def _points(rows: Any) -> list[EquityPoint]:
    return [
        EquityPoint(r.at, (r.realized_pnl or Decimal(0)) + (r.unrealized_pnl or Decimal(0)))
        for r in rows
    ]


def version_samples(s: Session, instance_id: str, version: int) -> list[EquityPoint]:
    """The P&L of the version's earlier live samples, oldest first."""
    rows = s.execute(
        select(F.at, F.realized_pnl, F.unrealized_pnl)
        .where(F.instance_id == uuid.UUID(instance_id), F.version == version, F.kind == "live")
        .order_by(F.id)
    ).all()
    return _points(rows)


def sample_before(s: Session, instance_id: str, version: int) -> EquityPoint | None:
    """The last live sample of an earlier version (the P&L when this one took effect)."""
    rows = s.execute(
        select(F.at, F.realized_pnl, F.unrealized_pnl)
        .where(F.instance_id == uuid.UUID(instance_id), F.version < version, F.kind == "live")
        .order_by(F.id.desc())
        .limit(1)
    ).all()
    return next(iter(_points(rows)), None)


def capital_of(inst: Instance) -> Decimal:
    raw = (inst.reoptimize or {}).get("cash")
    return DEFAULT_CAPITAL if raw is None else Decimal(str(raw))


class LiveSampler:
    def __init__(
        self, db: Database, quotes: QuoteLookup | None, now: Callable[[], datetime]
    ) -> None:
        self.db, self.quotes, self.now = db, quotes, now

    def marks(self, symbols: set[str], last: dict[str, Decimal]) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for symbol in symbols:
            quote = None
            if self.quotes is not None:
                try:
                    quote = self.quotes.latest_quote(symbol)
                except Exception:  # a failing lookup reads as none: the last fill price
                    log.warning("no quote for %s", symbol, exc_info=True)
            bid = None if quote is None else quote.bid_price
            ask = None if quote is None else quote.ask_price
            out[symbol] = mark_price(bid, ask, last[symbol])
        return out

    def sample(self, inst: Instance, version: int, since: datetime) -> LiveSample:
        """``since``: when ``version`` took effect."""
        with self.db.session() as s:
            got = load_fills(s, inst.id)
            earlier = version_samples(s, inst.id, version)
            start = sample_before(s, inst.id, version)
        if start is None:
            start = EquityPoint(since, pnl([f for f in got if f.at < since], {}).total)
        last = {f.symbol: f.price for f in got}
        return live_sample(
            got,
            self.marks(set(last), last),
            now=self.now(),
            objective=inst.objective,
            capital=capital_of(inst),
            version_start=start,
            earlier=earlier,
        )


async def sample_all(
    host: StrategyHost, sampler: LiveSampler, *, only: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """A live sample for every trading instance (of ``only``, when given); returns what
    ``record_sample`` answered, with the instance id."""
    out = []
    for inst in list(host.book.instances.values()):
        if not inst.status.trading or (only is not None and inst.id not in only):
            continue
        try:
            current = host.book.current(inst.id)
            got = await asyncio.to_thread(sampler.sample, inst, current.version, current.created_at)
            recorded = await host.record_sample(
                inst.id,
                "live",
                score=got.score,
                realized_pnl=str(got.realized_pnl),
                unrealized_pnl=str(got.unrealized_pnl),
                trades=got.trades,
                drawdown_pct=got.drawdown_pct,
            )
            out.append({"instance_id": inst.id, **recorded})
        except Exception:
            log.exception("live sample of strategy instance %s failed", inst.id)
    return out


def quotes_for(settings: Settings, now: Callable[[], datetime]) -> QuoteLookup | None:
    """The feed cache (last known quotes), or None without Redis (marks at fill prices)."""
    if settings.redis_url is None:
        return None
    from cluster.marketdata.latest import CachedQuoteLookup
    from cluster.redis_client import ResilientRedis

    return CachedQuoteLookup(ResilientRedis.from_settings(settings), now, max_age_s=ANY_AGE_S)
