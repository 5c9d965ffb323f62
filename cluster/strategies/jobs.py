"""Optimization jobs as the adaptive-parameter engine sees them: submit a walk-forward
re-optimization, poll its status, and read its result as a guardrail candidate.

The result of a walk-forward job is the set its latest window chose, with that window's
out-of-sample score and trades: the latest window is the set a re-optimized strategy
would run next, and its out-of-sample score is the only honest evidence for that exact
set (other windows chose other sets). A plain (grid, random, Bayesian) job gives its best
set with in-sample evidence only, which the ``out_of_sample`` guardrail refuses.

"Latest data": the job reads the instance's data source when it runs (a file or replay
path is re-read then), so each re-optimization sees the bars as they are at that time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from cluster.optimization.repository import JobRecord
from cluster.optimization.service import OptimizationService
from domain.errors import Conflict, ValidationFailed
from domain.optimization import JobStatus, OptimizationRequest
from domain.optimization_plan import best_first
from domain.strategy.guardrails import Candidate
from domain.strategy.instance import Instance


class JobPort(Protocol):
    def submit(self, inst: Instance) -> str: ...

    def status(self, job_id: str) -> JobStatus: ...

    def candidate(self, inst: Instance, job_id: str) -> Candidate: ...


REOPTIMIZE_KEYS = ("data", "walk_forward", "params", "cash", "commission", "min_trades")


def reoptimize_request(inst: Instance) -> OptimizationRequest:
    """The walk-forward request (a grid search) of an instance's re-optimization settings;
    a bad setting is refused naming ``reoptimize.<field>`` when the instance is created."""
    raw: dict[str, Any] = dict(inst.reoptimize or {})
    for key in raw:
        if key not in REOPTIMIZE_KEYS:
            raise ValidationFailed(f"reoptimize.{key}", "unknown")
    if not raw.get("walk_forward"):
        raise ValidationFailed("reoptimize.walk_forward", "required")
    raw.update(
        strategy=inst.strategy,
        objective=inst.objective,
        min_trades=raw.get("min_trades", inst.guardrails.min_trades),
    )
    try:
        return OptimizationRequest.from_dict(raw)
    except ValidationFailed as exc:
        raise ValidationFailed(f"reoptimize.{exc.field}", exc.rule, exc.message) from exc
    except (TypeError, ValueError) as exc:
        raise ValidationFailed("reoptimize", "invalid", f"reoptimize: {exc}") from exc


class OptimizationJobs:
    """``JobPort`` over the optimization service (its ``launch`` starts the driver)."""

    def __init__(
        self, service: OptimizationService, *, on_submit: Callable[[str], None] | None = None
    ) -> None:
        self.service = service
        self.on_submit = on_submit

    def submit(self, inst: Instance) -> str:
        job = self.service.submit(
            reoptimize_request(inst), owner_user_id=inst.owner_user_id, via="job"
        )
        if self.on_submit is not None:
            self.on_submit(job.id)
        return job.id

    def status(self, job_id: str) -> JobStatus:
        return self.service.repo.status(job_id)

    def candidate(self, inst: Instance, job_id: str) -> Candidate:
        job = self.service.repo.get(job_id, owner_user_id=inst.owner_user_id)
        return job_candidate(self.service, inst, job)


def job_candidate(service: OptimizationService, inst: Instance, job: JobRecord) -> Candidate:
    if job.request.strategy != inst.strategy:
        raise ValidationFailed(
            "job_id", "other-strategy", f"job {job.id} optimized another strategy"
        )
    if job.status is not JobStatus.SUCCEEDED:
        raise Conflict(f"optimization {job.id} is {job.status.value}, not succeeded")
    if job.request.walk_forward is not None:
        windows = service.repo.trials(job.id, sort="id", limit=None)
        chosen = [t for t in windows if t.params and t.window_index is not None]
        if not chosen:
            raise Conflict(f"optimization {job.id} chose no parameters in any window")
        last = max(chosen, key=lambda t: t.window_index or 0)
        trades = last.stats.get("trades")
        return Candidate(
            dict(last.params),
            last.score,
            last.in_sample_score,
            None if trades is None else int(trades),
        )
    best = service.repo.trials(job.id, sort=best_first(job.request.objective), limit=1)
    if not best:
        raise Conflict(f"optimization {job.id} has no trials")
    t = best[0]
    trades = t.stats.get("trades")
    return Candidate(dict(t.params), None, t.score, None if trades is None else int(trades))
