"""Guardrails of promotion: pure checks, each returning a named verdict.

A proposal is promoted only if every verdict passes, and every verdict is stored with the
proposal whatever the outcome, so a refusal says which rule refused and why. Automatic
and manual promotions call the same ``evaluate``; only rollbacks skip it (they restore a
set that already ran).

- ``within_space``: the registry's declared space (bounds, steps, constraints).
- ``out_of_sample``: the out-of-sample score beats the current version's by the margin (in
  the objective's direction). A current version without one (a manual set) has nothing to
  beat; once it has one, a proposal without one (in-sample evidence only, or parameters
  typed by hand) is refused.
- ``min_trades``: enough trades behind the out-of-sample score (a set without evidence,
  typed by hand, passes only while the current version has no score either).
- ``step_limit``: no parameter moves by more than ``max_step`` relative to its current
  value (a current value of 0 is measured against the parameter's declared range).
- ``cooldown``: not within ``cooldown_s`` of the last promotion.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from domain.backtest.params import StrategySpec
from domain.errors import DomainError, ValidationFailed
from domain.strategy.config import GuardrailConfig


class Guardrail(StrEnum):
    WITHIN_SPACE = "within_space"
    OUT_OF_SAMPLE = "out_of_sample"
    MIN_TRADES = "min_trades"
    STEP_LIMIT = "step_limit"
    COOLDOWN = "cooldown"


@dataclass(frozen=True)
class Verdict:
    guardrail: Guardrail
    passed: bool
    detail: str

    def to_wire(self) -> dict[str, Any]:
        return {"guardrail": self.guardrail.value, "passed": self.passed, "detail": self.detail}

    @classmethod
    def from_wire(cls, raw: Mapping[str, Any]) -> Verdict:
        return cls(Guardrail(raw["guardrail"]), bool(raw["passed"]), str(raw["detail"]))


@dataclass(frozen=True)
class Candidate:
    """What a proposal brings: its parameters and the evidence behind them."""

    params: Mapping[str, Any]
    oos_score: float | None
    in_sample_score: float | None = None
    trades: int | None = None


@dataclass(frozen=True)
class Baseline:
    """The current version as the guardrails see it."""

    params: Mapping[str, Any]
    oos_score: float | None
    last_promoted_at: datetime | None


class GuardrailRefused(DomainError):
    """A promotion that one or more guardrails refused (the proposal is stored, refused)."""

    code = "guardrail-refused"

    def __init__(self, failed: Sequence[Verdict], proposal_id: int | None = None) -> None:
        names = [v.guardrail.value for v in failed]
        super().__init__(
            "refused by " + ", ".join(f"{v.guardrail.value} ({v.detail})" for v in failed)
        )
        self.guardrails = names
        self.reason_code = names[0] if names else None
        self.proposal_id = proposal_id


def within_space(spec: StrategySpec, params: Mapping[str, Any]) -> Verdict:
    try:
        spec.validate(params)
    except ValidationFailed as exc:
        return Verdict(Guardrail.WITHIN_SPACE, False, f"{exc.field}: {exc.rule}")
    return Verdict(Guardrail.WITHIN_SPACE, True, f"inside the {spec.name} space")


def out_of_sample(
    cand: Candidate, base: Baseline, margin: float, *, maximize: bool = True
) -> Verdict:
    g = Guardrail.OUT_OF_SAMPLE
    if base.oos_score is None:
        return Verdict(g, True, "the current version has no out-of-sample score to beat")
    if cand.oos_score is None:
        return Verdict(g, False, "no out-of-sample score")
    need = base.oos_score + margin if maximize else base.oos_score - margin
    ok = cand.oos_score >= need if maximize else cand.oos_score <= need
    word = ">=" if maximize else "<="
    return Verdict(g, ok, f"{cand.oos_score:g} {word if ok else 'not ' + word} {need:g}")


def min_trades(cand: Candidate, needed: int, base: Baseline | None = None) -> Verdict:
    if cand.trades is None and base is not None and base.oos_score is None:
        return Verdict(Guardrail.MIN_TRADES, True, "no evidence needed: nothing scored to beat")
    got = cand.trades or 0
    return Verdict(Guardrail.MIN_TRADES, got >= needed, f"{got} trades, {needed} needed")


def step_limit(
    spec: StrategySpec, current: Mapping[str, Any], proposed: Mapping[str, Any], max_step: float
) -> Verdict:
    worst, worst_name = 0.0, ""
    for p in spec.params:
        if p.name not in current or p.name not in proposed:
            continue
        try:
            old, new = float(current[p.name]), float(proposed[p.name])
        except (TypeError, ValueError):
            continue  # not a number: ``within_space`` refuses it
        scale = abs(old) if old != 0 else (p.high - p.low) or 1.0
        step = abs(new - old) / scale
        if step > worst:
            worst, worst_name = step, p.name
    ok = worst <= max_step + 1e-12
    detail = f"largest change {worst:.3g} ({worst_name or 'none'}), limit {max_step:g}"
    return Verdict(Guardrail.STEP_LIMIT, ok, detail)


def cooldown(last: datetime | None, now: datetime, cooldown_s: float) -> Verdict:
    if last is None:
        return Verdict(Guardrail.COOLDOWN, True, "never promoted")
    waited = (now - last).total_seconds()
    ok = waited >= cooldown_s
    return Verdict(Guardrail.COOLDOWN, ok, f"{waited:.0f}s since last promotion, {cooldown_s:g}s")


def evaluate(
    spec: StrategySpec,
    cand: Candidate,
    base: Baseline,
    config: GuardrailConfig,
    now: datetime,
    *,
    maximize: bool = True,
) -> list[Verdict]:
    """Every guardrail's verdict, in a fixed order (all are always evaluated)."""
    return [
        within_space(spec, cand.params),
        out_of_sample(cand, base, config.margin, maximize=maximize),
        min_trades(cand, config.min_trades, base),
        step_limit(spec, base.params, cand.params, config.max_step),
        cooldown(base.last_promoted_at, now, config.cooldown_s),
    ]


def failed(verdicts: Sequence[Verdict]) -> list[Verdict]:
    return [v for v in verdicts if not v.passed]
