"""The drift rule: live mean against the out-of-sample expectation over a window."""

from __future__ import annotations

import pytest

from domain.errors import ValidationFailed
from domain.strategy.config import DriftConfig, GuardrailConfig, Sizing, check_symbols
from domain.strategy.drift import check_drift

CFG = DriftConfig(threshold=0.5, window=3)


def test_fewer_samples_than_the_window_say_nothing() -> None:
    r = check_drift(2.0, [-5.0, -5.0], CFG)
    assert not r.flagged and r.live_mean is None and r.samples == 2


def test_flagged_only_beyond_the_threshold_over_the_latest_window() -> None:
    assert not check_drift(2.0, [1.5, 1.5, 1.5], CFG).flagged  # exactly the threshold
    assert check_drift(2.0, [1.4, 1.5, 1.5], CFG).flagged
    assert not check_drift(2.0, [-9.0, 2.0, 2.0, 2.0], CFG).flagged  # old sample left the window
    assert not check_drift(2.0, [None, 2.0, None, 2.0, 2.0], CFG).flagged


def test_minimizing_objective_and_no_expectation() -> None:
    assert check_drift(1.0, [1.6, 1.6, 1.6], CFG, maximize=False).flagged
    assert not check_drift(None, [-9.0, -9.0, -9.0], CFG).flagged


def test_settings_fail_fast_naming_the_field() -> None:
    with pytest.raises(ValidationFailed) as e:
        DriftConfig.from_wire({"window": 0})
    assert e.value.field == "drift.window"
    with pytest.raises(ValidationFailed) as e:
        GuardrailConfig.from_wire({"max_step": -1})
    assert e.value.field == "guardrails.max_step"
    with pytest.raises(ValidationFailed) as e:
        GuardrailConfig.from_wire({"nope": 1})
    assert e.value.field == "guardrails.nope"
    with pytest.raises(ValidationFailed):
        Sizing.from_wire({"mode": "equity_fraction", "fraction": "1.5"})
    assert check_symbols(["aapl", "AAPL ", "msft"]) == ("AAPL", "MSFT")
    assert GuardrailConfig.from_wire(GuardrailConfig().to_wire()) == GuardrailConfig()
