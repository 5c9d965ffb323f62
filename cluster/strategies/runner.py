"""One strategy instance trading live: bars in, the kernel's decision, orders out.

``StrategyRunner`` is the runner without Ray (the actor ``actors.strategy_runner`` hosts
one; tests drive it in-process too). For every closed bar of one of its symbols it

1. appends the bar to the symbol's history (a bar at or before the last one is a replay
   and is ignored);
2. asks the ``VersionSource`` for the version in force *now*, so a promotion takes effect
   at the next bar without a restart;
3. takes the decision with ``domain.strategy.signals.decide`` (the backtest kernel's rule)
   given the sign of the intended position (ledger position plus open orders);
4. places at most one order through ``OrderService.submit`` (risk gate, ledger, outbox,
   events: the same path as the API) with a client order id derived from (instance,
   version, symbol, bar start) and ``strategy_id`` set.

Restart safety: ``restore`` reads, per symbol, the latest bar the instance placed an order
for (from its stored orders); bars up to it rebuild the indicators but are not traded. A
bar handled again under the same version asks for the same client order id, and the order
path answers with the stored order (``created=False``), so no bar produces two orders.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from cluster.orders.service import OrderService
from cluster.strategies import runner_store
from domain.errors import ValidationFailed
from domain.ids import AccountId
from domain.marketdata import Bar
from domain.order_request import OrderRequest
from domain.strategy.runner_core import (
    BarRow,
    History,
    client_order_id,
    leg_for,
    target_qty,
)
from domain.strategy.runner_ports import VersionSource
from domain.strategy.signals import Decision, decide

__all__ = ["RunnerConfig", "Step", "StrategyRunner", "bar_row"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunnerConfig:
    instance_id: str
    strategy: str
    symbols: tuple[str, ...]
    account_id: str
    unit_qty: Decimal = Decimal(1)
    #: paper trading has no shorting: a short signal then only closes a long
    allow_short: bool = False
    max_history: int = 5000

    @classmethod
    def from_wire(cls, raw: Mapping[str, Any]) -> RunnerConfig:
        return cls(
            instance_id=str(raw["instance_id"]),
            strategy=str(raw["strategy"]),
            symbols=tuple(str(s).upper() for s in raw["symbols"]),
            account_id=str(raw["account_id"]),
            unit_qty=Decimal(str(raw.get("unit_qty", "1"))),
            allow_short=bool(raw.get("allow_short", False)),
            max_history=int(raw.get("max_history", 5000)),
        )

    @classmethod
    def from_instance(cls, wire: Mapping[str, Any], **extra: Any) -> RunnerConfig:
        """From the adaptive actor's ``Instance.config_wire`` (fixed sizing only)."""
        sizing = wire.get("sizing") or {}
        if sizing.get("mode", "fixed") != "fixed":
            raise ValidationFailed(
                "sizing.mode", "unsupported", "the runner trades a fixed quantity only"
            )
        return cls(
            instance_id=str(wire["id"]),
            strategy=str(wire["strategy"]),
            symbols=tuple(str(s).upper() for s in wire["symbols"]),
            account_id=str(wire["account_id"]),
            unit_qty=Decimal(str(sizing.get("quantity", "1"))),
            **extra,
        )

    def to_wire(self) -> dict[str, Any]:
        return {
            "instance_id": self.instance_id,
            "strategy": self.strategy,
            "symbols": list(self.symbols),
            "account_id": self.account_id,
            "unit_qty": str(self.unit_qty),
            "allow_short": self.allow_short,
            "max_history": self.max_history,
        }


@dataclass(frozen=True)
class Step:
    """What the runner did on one bar (kept in memory for status and tests)."""

    symbol: str
    bar_start: datetime
    version: int
    decision: Decision
    order_id: str | None = None
    client_order_id: str | None = None
    created: bool = False
    status: str | None = None


def bar_row(bar: Bar | Mapping[str, Any]) -> tuple[str, BarRow]:
    """(symbol, row) of a ``Bar`` or its wire dict (``Bar.to_wire``, the feed's shape)."""
    if isinstance(bar, Bar):
        return bar.symbol, BarRow(
            bar.start, float(bar.open), float(bar.high), float(bar.low), float(bar.close),
            float(bar.volume),
        )  # fmt: skip
    start = datetime.fromisoformat(str(bar["start"]).replace("Z", "+00:00")).astimezone(UTC)
    return str(bar["symbol"]).upper(), BarRow(
        start, float(bar["open"]), float(bar["high"]), float(bar["low"]), float(bar["close"]),
        float(bar.get("volume") or 0),
    )  # fmt: skip


@dataclass
class StrategyRunner:
    config: RunnerConfig
    versions: VersionSource
    orders: OrderService
    histories: dict[str, History] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        for symbol in self.config.symbols:
            self.histories.setdefault(symbol, History(self.config.max_history))

    async def restore(self) -> None:
        """The last traded bar of every symbol, from the stored orders."""
        for symbol, history in self.histories.items():
            history.done = await asyncio.to_thread(
                runner_store.last_traded_bar, self.orders.db, self.config.instance_id, symbol
            )

    def preload(self, bars: Iterable[Bar | Mapping[str, Any]]) -> None:
        """History only (the feed's recent bars after a restart): nothing is traded."""
        for bar in bars:
            symbol, row = bar_row(bar)
            if symbol in self.histories:
                self.histories[symbol].add(row)

    async def on_bar(self, bar: Bar | Mapping[str, Any]) -> Step | None:
        """Handle one closed bar; None when it is not ours, a replay, or already traded."""
        symbol, row = bar_row(bar)
        history = self.histories.get(symbol)
        if history is None:
            return None
        async with self._lock:  # bars are handled one at a time, in order
            if not history.add(row) or not history.tradable(row.start):
                return None
            step = await self._decide_and_place(symbol, history, row)
            self.steps.append(step)
            return step

    async def _decide_and_place(self, symbol: str, history: History, row: BarRow) -> Step:
        cfg = self.config
        version, params = await self.versions.current(cfg.instance_id)
        position = await asyncio.to_thread(
            runner_store.intended_position, self.orders.db, cfg.account_id, symbol
        )
        sign = 1 if position > 0 else (-1 if position < 0 else 0)
        decision = decide(history.bars(), cfg.strategy, params, sign)
        target = target_qty(decision, position, cfg.unit_qty, allow_short=cfg.allow_short)
        leg = leg_for(target, position)
        if leg is None:
            return Step(symbol, row.start, version, decision)
        coid = client_order_id(cfg.instance_id, version, symbol, row.start)
        request = OrderRequest.parse(
            symbol=symbol, side=leg.side, type="market", time_in_force="day",
            qty=str(leg.qty), client_order_id=coid,
        )  # fmt: skip
        result = await asyncio.to_thread(
            self.orders.submit, AccountId(cfg.account_id), request, strategy_id=cfg.instance_id
        )
        history.done = row.start
        order = result.order
        if order.reject_reason:
            log.warning("runner %s: %s refused: %s", cfg.instance_id, coid, order.reject_reason)
        return Step(
            symbol, row.start, version, decision, str(order.id), coid, result.created,
            order.status.value,
        )  # fmt: skip
