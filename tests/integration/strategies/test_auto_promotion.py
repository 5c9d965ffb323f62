"""Issue 12: automatic promotion. With ``auto_promote`` on, a finished re-optimization
job's result goes through the guardrails with no manual call: promoted when every one
passes (a new version whose source is the job, its audit record and event), refused
naming the guardrail when one fails. With it off the same result only waits.

The loop is driven as the ``AdaptiveParams`` actor drives it, without Ray: live samples
below the expectation flag the instance and submit a real walk-forward job; the test
finishes that job as its driver would; ``collect_jobs`` (what the actor's poll loop calls
every ``poll_s``) turns it into a decision.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text

from cluster.db import Database
from cluster.optimization.service import OptimizationService
from cluster.strategies.engine import StrategyBook
from domain.optimization import JobStatus
from domain.strategy.config import InstanceStatus
from tests.integration.strategies.conftest import (
    audit_actions,
    complete_job,
    events_of,
    finished_job,
    new_instance,
)

REOPTIMIZE = {
    "data": {"kind": "simulated", "symbol": "AAPL", "bars": 120, "seed": 1},
    "params": {"n1": [10, 12], "n2": [30]},
    "walk_forward": {"train": 60, "test": 60},
}


def _flagged_with_job(
    book: StrategyBook, svc: OptimizationService, db: Database, *, auto_promote: bool
) -> tuple[str, str, str]:
    """A running instance on version 2 (out of sample 0.8, from a job) whose live results
    fell below that: flagged, with its re-optimization job submitted and still queued."""
    inst = new_instance(
        book,
        db,
        auto_promote=auto_promote,
        auto_reoptimize=True,
        drift={"threshold": 0.5, "window": 2},
        reoptimize=REOPTIMIZE,
    )
    iid, owner = inst.id, inst.owner_user_id
    book.set_status(iid, InstanceStatus.RUNNING, by=owner)
    base = finished_job(svc, owner, {"n1": 12, "n2": 30}, oos=0.8, in_sample=1.0, trades=12)
    assert book.promote(iid, by=owner, job_id=base)["version"] == 2
    for _ in range(2):
        book.record_sample(iid, "live", score=0.0)
    flagged = book.get(iid)
    assert flagged.status is InstanceStatus.FLAGGED
    job_id = flagged.reoptimize_job_id
    assert job_id is not None and svc.repo.status(job_id) is JobStatus.QUEUED
    assert [d for d in book.collect_jobs() if d["instance_id"] == iid] == []  # not done yet
    return iid, owner, job_id


def _last_audit_id(db: Database, iid: str) -> int:
    with db.session() as s:
        return int(
            s.execute(
                text("SELECT max(id) FROM strategy_audit WHERE instance_id = :i"),
                {"i": uuid.UUID(iid)},
            ).scalar_one()
        )


def _collected(book: StrategyBook, iid: str) -> dict[str, Any]:
    [decision] = [d for d in book.collect_jobs() if d["instance_id"] == iid]
    assert book.get(iid).reoptimize_job_id is None  # the job is consumed once
    assert [d for d in book.collect_jobs() if d["instance_id"] == iid] == []
    return decision


def test_auto_promote_when_job_result_passes_every_guardrail_then_promoted_without_a_call(
    book: StrategyBook, opt_service: OptimizationService, strategies_db: Database
) -> None:
    iid, owner, job_id = _flagged_with_job(book, opt_service, strategies_db, auto_promote=True)
    complete_job(opt_service, job_id, {"n1": 14, "n2": 32}, oos=1.2, in_sample=1.3, trades=15)

    decision = _collected(book, iid)
    assert (decision["outcome"], decision["version"], decision["failed"]) == ("promoted", 3, [])
    assert all(v["passed"] for v in decision["verdicts"]) and len(decision["verdicts"]) == 5
    current = book.current(iid)
    assert (current.version, current.source, current.by) == (
        3,
        f"optimization:{job_id}",
        "reoptimize",
    )
    assert current.params == {"n1": 14, "n2": 32} and current.oos_score == 1.2
    assert book.get(iid).status is InstanceStatus.RUNNING  # a promotion clears the flag

    action, detail = audit_actions(strategies_db, iid)[-1]
    assert action == "promoted"
    assert (detail["source"], detail["version"]) == (f"optimization:{job_id}", 3)
    kind, data = events_of(strategies_db, owner)[-1]
    assert kind == "strategy_promoted"
    assert (data["from_version"], data["to_version"]) == (2, 3)
    assert (data["by"], data["outcome"]) == ("reoptimize", "promoted")
    assert data["audit_id"] == _last_audit_id(strategies_db, iid)  # whose source is the job
    # committed: a restarted engine reads the same history
    again = StrategyBook(strategies_db, book.clock, jobs=book.jobs)
    assert [(v.version, v.source) for v in again.history(iid)][-1] == (3, current.source)


def test_auto_promote_when_job_result_fails_a_guardrail_then_refused_naming_it(
    book: StrategyBook, opt_service: OptimizationService, strategies_db: Database
) -> None:
    iid, owner, job_id = _flagged_with_job(book, opt_service, strategies_db, auto_promote=True)
    # better in sample, worse out of sample than version 2's 0.8
    complete_job(opt_service, job_id, {"n1": 14, "n2": 32}, oos=0.5, in_sample=2.5, trades=15)

    decision = _collected(book, iid)
    assert (decision["outcome"], decision["version"]) == ("refused", None)
    assert decision["failed"] == ["out_of_sample"]
    assert book.current(iid).version == 2 and book.current(iid).params == {"n1": 12, "n2": 30}
    assert book.get(iid).status is InstanceStatus.FLAGGED  # still below expectation

    action, detail = audit_actions(strategies_db, iid)[-1]
    assert (action, detail["failed"], detail["source"]) == (
        "refused",
        ["out_of_sample"],
        f"optimization:{job_id}",
    )
    kind, data = events_of(strategies_db, owner)[-1]
    assert kind == "strategy_refused"
    assert (data["failed"], data["outcome"], data["to_version"]) == (
        ["out_of_sample"],
        "refused",
        None,
    )
    assert data["audit_id"] == _last_audit_id(strategies_db, iid)


def test_auto_promote_off_when_job_result_passes_then_it_waits_as_a_proposal(
    book: StrategyBook, opt_service: OptimizationService, strategies_db: Database
) -> None:
    iid, owner, job_id = _flagged_with_job(book, opt_service, strategies_db, auto_promote=False)
    complete_job(opt_service, job_id, {"n1": 14, "n2": 32}, oos=1.2, in_sample=1.3, trades=15)

    decision = _collected(book, iid)
    assert (decision["outcome"], decision["version"], decision["failed"]) == (None, None, [])
    assert book.current(iid).version == 2
    assert audit_actions(strategies_db, iid)[-1][0] == "proposed"
    assert events_of(strategies_db, owner)[-1][0] == "strategy_proposed"
    # an operator may still promote the waiting proposal, through the same checks
    done = book.promote(iid, by=owner, proposal_id=decision["proposal_id"])
    assert (done["outcome"], done["version"]) == ("promoted", 3)


def test_propose_job_when_auto_promote_on_then_promoted_at_once(
    book: StrategyBook, opt_service: OptimizationService, strategies_db: Database
) -> None:
    """The host's ``propose_job`` (a job's result handed in) follows the same flag."""
    inst = new_instance(book, strategies_db, auto_promote=True)
    job = finished_job(
        opt_service, inst.owner_user_id, {"n1": 12, "n2": 30}, oos=1.0, in_sample=1.0, trades=9
    )
    decision = book.propose_job(inst.id, job, by="optimizer")
    assert (decision["outcome"], decision["version"]) == ("promoted", 2)
    assert book.current(inst.id).source == f"optimization:{job}"
    assert audit_actions(strategies_db, inst.id)[-1][0] == "promoted"
