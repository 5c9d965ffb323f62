"""Bayesian search with Optuna, resumable from our own trials table.

Why not Optuna's RDBStorage: the trials table already holds every result a study needs,
written in the same transaction as its chunk marker. A resumed driver builds a fresh
in-memory study and replays the persisted trials into it (``study.add_trial``), so the
sampler continues from everything that finished and nothing is stored twice.

Parallelism: the driver asks a batch (one chunk) of trials at a time and keeps several
batches in flight; TPE treats the running ones as pending. Points that break the
strategy's constraints (``fast < slow``) are told as failed and asked again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from domain.errors import ValidationFailed

log = logging.getLogger(__name__)
MAX_REASKS = 200


def _distributions(spec: Any) -> dict[str, Any]:
    from optuna.distributions import FloatDistribution, IntDistribution

    out: dict[str, Any] = {}
    for p in spec.params:
        if p.integer:
            out[p.name] = IntDistribution(int(p.low), int(p.high), step=int(p.step or 1))
        else:
            out[p.name] = FloatDistribution(float(p.low), float(p.high), step=p.step or None)
    return out


class BayesSearch:
    def __init__(self, spec: Any, objective_direction: str, seed: int) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.spec = spec
        self.dists = _distributions(spec)
        self.study = optuna.create_study(
            direction=objective_direction,  # type: ignore[arg-type]
            sampler=optuna.samplers.TPESampler(seed=seed, constant_liar=True),
        )
        self._pending: dict[int, list[Any]] = {}

    def replay(self, trials: Iterable[tuple[Mapping[str, Any], float | None]]) -> int:
        """Add persisted (params, score) pairs to the study; returns how many."""
        from optuna.trial import TrialState, create_trial

        n = 0
        for params, value in trials:
            fixed = {k: params[k] for k in self.dists}
            if value is None:
                t = create_trial(params=fixed, distributions=self.dists, state=TrialState.FAIL)
            else:
                t = create_trial(params=fixed, distributions=self.dists, value=float(value))
            self.study.add_trial(t)
            n += 1
        return n

    def ask_batch(self, chunk_index: int, size: int) -> list[dict[str, float]]:
        """``size`` valid points for chunk ``chunk_index`` (kept pending until told)."""
        from optuna.trial import TrialState

        trials: list[Any] = []
        points: list[dict[str, float]] = []
        reasks = 0
        while len(points) < size:
            trial = self.study.ask(self.dists)
            params = dict(trial.params)
            try:
                self.spec.validate(params)
            except ValidationFailed:
                self.study.tell(trial, state=TrialState.FAIL)
                reasks += 1
                if reasks > MAX_REASKS:
                    raise
                continue
            trials.append(trial)
            points.append(params)
        self._pending[chunk_index] = trials
        return points

    def tell_batch(self, chunk_index: int, scores: Iterable[float | None]) -> None:
        from optuna.trial import TrialState

        for trial, value in zip(self._pending.pop(chunk_index, []), scores, strict=False):
            if value is None:
                self.study.tell(trial, state=TrialState.FAIL)
            else:
                self.study.tell(trial, float(value))

    def forget(self, chunk_index: int) -> None:
        """A batch that will not be told (cancelled): fail its trials."""
        self.tell_batch(chunk_index, [None] * len(self._pending.get(chunk_index, [])))
