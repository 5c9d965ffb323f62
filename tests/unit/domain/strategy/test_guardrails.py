"""Each guardrail alone: its verdict names it, passes and fails at its boundary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.backtest import get_strategy
from domain.strategy.config import GuardrailConfig
from domain.strategy.guardrails import (
    Baseline,
    Candidate,
    Guardrail,
    GuardrailRefused,
    cooldown,
    evaluate,
    failed,
    min_trades,
    out_of_sample,
    step_limit,
    within_space,
)

T = datetime(2026, 12, 7, tzinfo=UTC)
SMA = get_strategy("sma_cross")
BASE = Baseline({"n1": 10, "n2": 30}, 1.0, None)


def test_within_space_names_the_parameter_and_rule() -> None:
    assert within_space(SMA, {"n1": 10, "n2": 30}).passed
    v = within_space(SMA, {"n1": 40, "n2": 30})
    assert (v.guardrail, v.passed, v.detail) == (
        Guardrail.WITHIN_SPACE,
        False,
        "params.n1: constraint",
    )


@pytest.mark.parametrize(
    ("oos", "margin", "passed"),
    [(1.2, 0.2, True), (1.19, 0.2, False), (0.5, 0.0, False), (None, 0.0, False)],
)
def test_out_of_sample_needs_the_margin_over_the_current(
    oos: float | None, margin: float, passed: bool
) -> None:
    assert out_of_sample(Candidate({}, oos, in_sample_score=9.0), BASE, margin).passed is passed


def test_out_of_sample_minimizing_objective_needs_lower() -> None:
    assert out_of_sample(Candidate({}, 0.7), BASE, 0.2, maximize=False).passed
    assert not out_of_sample(Candidate({}, 0.9), BASE, 0.2, maximize=False).passed


def test_nothing_to_beat_passes_without_evidence() -> None:
    unscored = Baseline({"n1": 10, "n2": 30}, None, None)
    assert out_of_sample(Candidate({}, None), unscored, 5.0).passed
    assert min_trades(Candidate({}, None), 10, unscored).passed
    assert not min_trades(Candidate({}, None), 10, BASE).passed


def test_min_trades_boundary() -> None:
    assert min_trades(Candidate({}, 1.0, trades=5), 5).passed
    assert not min_trades(Candidate({}, 1.0, trades=4), 5).passed


def test_step_limit_is_relative_per_parameter_and_names_the_worst() -> None:
    assert step_limit(SMA, {"n1": 10, "n2": 30}, {"n1": 15, "n2": 45}, 0.5).passed
    v = step_limit(SMA, {"n1": 10, "n2": 30}, {"n1": 16, "n2": 30}, 0.5)
    assert not v.passed and "(n1)" in v.detail
    mom = get_strategy("momentum")  # a current value of 0 is measured against the range
    assert step_limit(mom, {"n": 10, "threshold": 0.0}, {"n": 10, "threshold": 0.1}, 0.5).passed
    assert not step_limit(
        mom, {"n": 10, "threshold": 0.0}, {"n": 10, "threshold": 0.15}, 0.5
    ).passed


def test_cooldown_boundary() -> None:
    assert cooldown(None, T, 3600).passed
    assert cooldown(T, T + timedelta(hours=1), 3600).passed
    assert not cooldown(T, T + timedelta(minutes=59), 3600).passed


def test_evaluate_runs_every_guardrail_in_order_and_refusal_names_them() -> None:
    cand = Candidate({"n1": 20, "n2": 30}, 0.5, 3.0, trades=1)
    verdicts = evaluate(SMA, cand, BASE, GuardrailConfig(min_trades=2, max_step=0.5), T)
    assert [v.guardrail for v in verdicts] == list(Guardrail)
    bad = failed(verdicts)
    assert [v.guardrail.value for v in bad] == ["out_of_sample", "min_trades", "step_limit"]
    err = GuardrailRefused(bad, 7)
    assert (err.code, err.reason_code, err.guardrails[-1], err.proposal_id) == (
        "guardrail-refused",
        "out_of_sample",
        "step_limit",
        7,
    )


def test_junk_parameters_are_refused_by_the_space_not_an_exception() -> None:
    cand = Candidate({"n1": "ten", "n2": None}, None)
    verdicts = evaluate(SMA, cand, Baseline({"n1": 10, "n2": 30}, None, None), GuardrailConfig(), T)
    assert [v.guardrail.value for v in failed(verdicts)] == ["within_space"]
