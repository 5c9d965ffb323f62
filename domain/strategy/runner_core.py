"""The runner's rules, pure: bar history, client order ids, target positions, order legs.

A live runner and a backtest must agree on *decisions* (``signals.decide``); turning a
decision into an order is the runner's own rule, kept here so it is tested without I/O:

- sizing is a fixed number of units per instance (``unit_qty``); ``GO_LONG`` targets
  ``+unit_qty``, ``GO_SHORT`` ``-unit_qty`` (or flat where shorting is not allowed, as in
  paper trading), ``CLOSE`` flat, ``HOLD`` leaves the position alone;
- one bar gives at most ONE order: the difference between the target and the position
  (held plus what open orders will still move), a single buy or sell;
- its client order id is derived from (instance, version, symbol, bar start), so a bar
  handled twice (a restart, a replayed bar) asks the order path for the same order, which
  answers with the one it stored; a bar already acted on under any version is skipped
  (``History.done``), so a promotion between a crash and the restart cannot re-trade it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np

from domain.backtest.bars import Bars
from domain.errors import ValidationFailed
from domain.strategy.signals import Decision

__all__ = [
    "BarRow",
    "History",
    "OrderLeg",
    "client_order_id",
    "leg_for",
    "parse_client_order_id",
    "target_qty",
]

_PREFIX = "strat"
_STAMP = "%Y%m%dT%H%M%SZ"


def client_order_id(instance_id: str, version: int, symbol: str, bar_start: datetime) -> str:
    """``strat:<instance>:v<version>:<symbol>:<bar start UTC>`` (at most 128 characters)."""
    if ":" in instance_id or ":" in symbol:
        raise ValidationFailed("instance_id", "colon", "ids may not contain ':'")
    stamp = bar_start.astimezone(UTC).strftime(_STAMP)
    coid = f"{_PREFIX}:{instance_id}:v{version}:{symbol}:{stamp}"
    if len(coid) > 128:
        raise ValidationFailed("client_order_id", "too-long")
    return coid


def parse_client_order_id(coid: str) -> tuple[str, int, str, datetime] | None:
    """(instance, version, symbol, bar start) of a runner's id; None for any other id."""
    parts = coid.split(":")
    if len(parts) != 5 or parts[0] != _PREFIX or not parts[2].startswith("v"):
        return None
    try:
        version = int(parts[2][1:])
        start = datetime.strptime(parts[4], _STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None
    return parts[1], version, parts[3], start


def target_qty(
    decision: Decision, current: Decimal, unit_qty: Decimal, *, allow_short: bool
) -> Decimal:
    """The position the decision asks for (``current`` when it asks for nothing)."""
    if decision is Decision.GO_LONG:
        return unit_qty
    if decision is Decision.GO_SHORT:
        return -unit_qty if allow_short else Decimal(0)
    if decision is Decision.CLOSE:
        return Decimal(0)
    return current


@dataclass(frozen=True)
class OrderLeg:
    side: str  # "buy" | "sell"
    qty: Decimal


def leg_for(target: Decimal, current: Decimal) -> OrderLeg | None:
    """The single order that moves ``current`` to ``target``, or None."""
    diff = target - current
    if diff == 0:
        return None
    return OrderLeg("buy" if diff > 0 else "sell", abs(diff))


@dataclass(frozen=True)
class BarRow:
    """One closed bar as the runner keeps it (floats: the kernel's arithmetic)."""

    start: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float


class History:
    """One symbol's closed bars since the runner started, in strictly increasing order.

    ``done`` is the start of the last bar acted on (restored from the runner's latest
    stored order after a restart): such bars are kept for the indicators but not traded.
    """

    def __init__(self, max_bars: int = 5000) -> None:
        self.max_bars = max_bars
        self.rows: list[BarRow] = []
        self.done: datetime | None = None

    @property
    def last_start(self) -> datetime | None:
        return self.rows[-1].start if self.rows else None

    def add(self, row: BarRow) -> bool:
        """Append a newer bar; False for a bar at or before the last one (a replay)."""
        last = self.last_start
        if last is not None and row.start <= last:
            return False
        self.rows.append(row)
        if len(self.rows) > self.max_bars:
            del self.rows[: len(self.rows) - self.max_bars]
        return True

    def tradable(self, start: datetime) -> bool:
        return self.done is None or start > self.done

    def bars(self) -> Bars:
        rows = self.rows
        stamps = [np.datetime64(r.start.astimezone(UTC).replace(tzinfo=None), "ns") for r in rows]
        return Bars(
            index=np.array(stamps, dtype="datetime64[ns]"),
            open=np.array([r.open for r in rows]),
            high=np.array([r.high for r in rows]),
            low=np.array([r.low for r in rows]),
            close=np.array([r.close for r in rows]),
            volume=np.array([r.volume for r in rows]),
        )
