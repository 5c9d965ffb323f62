"""Drift: live results against the out-of-sample expectation the version was promoted on.

Over the ``window`` latest live samples of the current version, the mean live score must
stay within ``threshold`` of the expectation (in the objective's direction). Fewer samples
than the window say nothing yet; a version without an expectation (a manual set that no
walk-forward scored) cannot drift.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from domain.strategy.config import DriftConfig


@dataclass(frozen=True)
class DriftCheck:
    flagged: bool
    expectation: float | None
    live_mean: float | None
    samples: int
    reason: str

    def to_wire(self) -> dict[str, Any]:
        return {
            "flagged": self.flagged,
            "expectation": self.expectation,
            "live_mean": self.live_mean,
            "samples": self.samples,
            "reason": self.reason,
        }


def check_drift(
    expectation: float | None,
    live_scores: Sequence[float | None],
    config: DriftConfig,
    *,
    maximize: bool = True,
) -> DriftCheck:
    """``live_scores``: the current version's live sample scores, oldest first."""
    scores = [s for s in live_scores if s is not None][-config.window :]
    if expectation is None:
        return DriftCheck(False, None, None, len(scores), "no out-of-sample expectation")
    if len(scores) < config.window:
        return DriftCheck(
            False, expectation, None, len(scores), f"{len(scores)}/{config.window} samples"
        )
    mean = sum(scores) / len(scores)
    shortfall = expectation - mean if maximize else mean - expectation
    flagged = shortfall > config.threshold
    reason = f"live mean {mean:g} vs expected {expectation:g} (threshold {config.threshold:g})"
    return DriftCheck(flagged, expectation, mean, len(scores), reason)
