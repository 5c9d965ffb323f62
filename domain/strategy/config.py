"""An instance's settings: what it trades, its guardrails and its drift rule.

Parsed from the API's (or the CLI's) plain dicts once, failing fast with the field named,
and stored as JSONB in the same plain form (``to_wire``), so a restart reads back exactly
what was checked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Self

from domain.errors import ValidationFailed

INTERVALS = ("1m", "5m", "15m", "1h", "1d")


class InstanceStatus(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"
    #: live results fell short of the out-of-sample expectation; still trading (a flag
    #: for people and for re-optimization, not a stop)
    FLAGGED = "flagged"

    @property
    def trading(self) -> bool:
        return self is not InstanceStatus.STOPPED


def _number(name: str, raw: object, *, low: float = 0.0) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValidationFailed(name, "not-a-number")
    v = float(raw)
    if not math.isfinite(v) or v < low:
        raise ValidationFailed(name, f"at-least-{low:g}")
    return v


def _known(name: str, raw: Mapping[str, Any], cls: type) -> None:
    allowed = {f.name for f in fields(cls)}
    for key in raw:
        if key not in allowed:
            raise ValidationFailed(f"{name}.{key}", "unknown")


@dataclass(frozen=True)
class GuardrailConfig:
    #: the out-of-sample score must beat the current version's by at least this much
    margin: float = 0.0
    min_trades: int = 1
    #: largest relative change of any one parameter in one promotion (0.5: +-50%)
    max_step: float = 0.5
    cooldown_s: float = 0.0

    @classmethod
    def from_wire(cls, raw: Mapping[str, Any] | None) -> Self:
        raw = raw or {}
        _known("guardrails", raw, cls)
        d = cls()
        min_trades = raw.get("min_trades", d.min_trades)
        if isinstance(min_trades, bool) or not isinstance(min_trades, int) or min_trades < 0:
            raise ValidationFailed("guardrails.min_trades", "non-negative-integer")
        return cls(
            margin=_number("guardrails.margin", raw.get("margin", d.margin), low=-math.inf),
            min_trades=min_trades,
            max_step=_number("guardrails.max_step", raw.get("max_step", d.max_step)),
            cooldown_s=_number("guardrails.cooldown_s", raw.get("cooldown_s", d.cooldown_s)),
        )

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DriftConfig:
    #: flagged when the live mean score is below the expectation by more than this
    threshold: float = 0.5
    #: over this many latest live samples of the current version (none flagged before)
    window: int = 5

    @classmethod
    def from_wire(cls, raw: Mapping[str, Any] | None) -> Self:
        raw = raw or {}
        _known("drift", raw, cls)
        d = cls()
        window = raw.get("window", d.window)
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ValidationFailed("drift.window", "positive-integer")
        return cls(_number("drift.threshold", raw.get("threshold", d.threshold)), window)

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Sizing:
    """How much the runner trades: a fixed quantity, or a fraction of the account's equity."""

    mode: str = "fixed"
    quantity: Decimal = Decimal("1")
    fraction: Decimal = Decimal("0")

    @classmethod
    def from_wire(cls, raw: Mapping[str, Any] | None) -> Self:
        raw = raw or {}
        _known("sizing", raw, cls)
        mode = str(raw.get("mode", "fixed"))
        if mode not in ("fixed", "equity_fraction"):
            raise ValidationFailed("sizing.mode", "unknown")
        try:
            quantity = Decimal(str(raw.get("quantity", "1")))
            fraction = Decimal(str(raw.get("fraction", "0")))
        except InvalidOperation as exc:
            raise ValidationFailed("sizing", "decimal") from exc
        if mode == "fixed" and not (quantity.is_finite() and quantity > 0):
            raise ValidationFailed("sizing.quantity", "positive")
        if mode == "equity_fraction" and not (fraction.is_finite() and 0 < fraction <= 1):
            raise ValidationFailed("sizing.fraction", "in-(0,1]")
        return cls(mode, quantity, fraction)

    def to_wire(self) -> dict[str, Any]:
        return {"mode": self.mode, "quantity": str(self.quantity), "fraction": str(self.fraction)}


def check_symbols(raw: object) -> tuple[str, ...]:
    if not isinstance(raw, list | tuple) or not raw:
        raise ValidationFailed("symbols", "non-empty-list")
    out = []
    for s in raw:
        if not isinstance(s, str) or not s.strip() or len(s) > 16:
            raise ValidationFailed("symbols", "symbol")
        out.append(s.strip().upper())
    return tuple(dict.fromkeys(out))


def check_interval(raw: object) -> str:
    if raw not in INTERVALS:
        raise ValidationFailed(
            "bar_interval", "unknown", f"bar_interval must be one of {INTERVALS}"
        )
    return str(raw)
