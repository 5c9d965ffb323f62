"""Issue 12 acceptance 2: promotion through the guardrails, with their audit records.

A set better in sample but worse out of sample is refused naming ``out_of_sample``; a
change beyond the step limit is refused naming ``step_limit``; rollback restores the
previous version; every case leaves its audit row and its event on the owner's ``jobs``
stream, written with the change.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from cluster.db import Database
from cluster.optimization.service import OptimizationService
from cluster.strategies.engine import StrategyBook
from domain.clock import FakeClock
from domain.errors import Conflict
from tests.integration.strategies.conftest import (
    audit_actions,
    events_of,
    finished_job,
    new_instance,
)


def _baseline(book: StrategyBook, svc: OptimizationService, db: Database) -> tuple[str, str]:
    """An instance whose version 2 came from a job: out of sample 0.8 on 12 trades."""
    inst = new_instance(book, db)
    job = finished_job(
        svc, inst.owner_user_id, {"n1": 12, "n2": 30}, oos=0.8, in_sample=1.0, trades=12
    )
    decision = book.promote(inst.id, by="quant", job_id=job)
    assert decision["outcome"] == "promoted", decision
    assert book.current(inst.id).version == 2
    return inst.id, inst.owner_user_id


def test_better_in_sample_worse_out_of_sample_is_refused_naming_out_of_sample(
    book: StrategyBook, opt_service: OptimizationService, strategies_db: Database
) -> None:
    iid, owner = _baseline(book, opt_service, strategies_db)
    job = finished_job(opt_service, owner, {"n1": 14, "n2": 32}, oos=0.5, in_sample=2.5, trades=20)
    decision = book.promote(iid, by="quant", job_id=job)
    assert decision["outcome"] == "refused"
    assert decision["failed"] == ["out_of_sample"]
    assert book.current(iid).version == 2  # nothing changed
    verdicts = {v["guardrail"]: v["passed"] for v in decision["verdicts"]}
    assert verdicts == {
        "within_space": True,
        "out_of_sample": False,
        "min_trades": True,
        "step_limit": True,
        "cooldown": True,
    }
    with strategies_db.session() as s:
        stored = s.execute(
            text(
                "SELECT outcome, verdicts, in_sample_score, oos_score "
                "FROM strategy_proposals WHERE id = :p"
            ),
            {"p": decision["proposal_id"]},
        ).one()
    assert stored[0] == "refused" and stored[2:] == (2.5, 0.5)
    assert [v["guardrail"] for v in stored[1] if not v["passed"]] == ["out_of_sample"]
    actions = audit_actions(strategies_db, iid)
    assert [a for a, _ in actions] == ["created", "promoted", "refused"]
    assert actions[-1][1]["failed"] == ["out_of_sample"]
    kinds = [k for k, _ in events_of(strategies_db, owner)]
    assert kinds == ["strategy_created", "strategy_promoted", "strategy_refused"]


def test_change_beyond_step_limit_is_refused_naming_step_limit(
    book: StrategyBook, opt_service: OptimizationService, strategies_db: Database
) -> None:
    iid, owner = _baseline(book, opt_service, strategies_db)
    # n1 12 -> 40 is +233%, beyond the 50% limit, though better out of sample
    job = finished_job(opt_service, owner, {"n1": 40, "n2": 45}, oos=1.5, in_sample=1.6, trades=20)
    decision = book.promote(iid, by="quant", job_id=job)
    assert (decision["outcome"], decision["failed"]) == ("refused", ["step_limit"])
    assert book.current(iid).params == {"n1": 12, "n2": 30}
    assert audit_actions(strategies_db, iid)[-1][0] == "refused"


def test_rollback_restores_the_previous_version(
    book: StrategyBook, opt_service: OptimizationService, strategies_db: Database
) -> None:
    iid, owner = _baseline(book, opt_service, strategies_db)
    v = book.rollback(iid, by="quant", reason="live results poor")
    assert (v.version, v.source, v.restores) == (3, "rollback:2", 1)
    assert book.current(iid).params == {"n1": 10, "n2": 30}
    with pytest.raises(Conflict):
        book.rollback(iid, by="quant")  # version 1 has nothing before it
    action, detail = audit_actions(strategies_db, iid)[-1]
    assert action == "rolled_back" and detail["restores"] == 1
    assert events_of(strategies_db, owner)[-1][0] == "strategy_rolled_back"
    # after a restart the engine reads the same history back
    again = StrategyBook(strategies_db, book.clock, jobs=book.jobs)
    assert [x.version for x in again.history(iid)] == [1, 2, 3]
    assert again.current(iid).params == {"n1": 10, "n2": 30}


def test_other_guardrails_name_themselves(
    book: StrategyBook,
    opt_service: OptimizationService,
    strategies_db: Database,
    clock: FakeClock,
) -> None:
    inst = new_instance(
        book, strategies_db, guardrails={"min_trades": 10, "cooldown_s": 3600, "max_step": 1.0}
    )
    owner = inst.owner_user_id
    few = finished_job(opt_service, owner, {"n1": 12, "n2": 30}, oos=1.0, in_sample=1.0, trades=4)
    assert book.promote(inst.id, by="q", job_id=few)["failed"] == ["min_trades"]
    ok = finished_job(opt_service, owner, {"n1": 12, "n2": 30}, oos=1.0, in_sample=1.0, trades=40)
    assert book.promote(inst.id, by="q", job_id=ok)["outcome"] == "promoted"
    clock.advance(timedelta(minutes=10))
    soon = finished_job(opt_service, owner, {"n1": 13, "n2": 30}, oos=2.0, in_sample=2.0, trades=40)
    assert book.promote(inst.id, by="q", job_id=soon)["failed"] == ["cooldown"]
    # typed by hand: no out-of-sample evidence against a scored version; outside the space
    assert book.promote(inst.id, by="q", params={"n1": 12, "n2": 31})["failed"] == [
        "out_of_sample",
        "min_trades",
        "cooldown",
    ]
    clock.advance(timedelta(hours=1))
    bad = book.promote(inst.id, by="q", params={"n1": 40, "n2": 20})
    assert "within_space" in bad["failed"]


def test_waiting_proposal_is_promoted_later_with_the_same_checks(
    book: StrategyBook, opt_service: OptimizationService, strategies_db: Database
) -> None:
    inst = new_instance(book, strategies_db)  # auto_promote off: a job's result waits
    job = finished_job(
        opt_service, inst.owner_user_id, {"n1": 12, "n2": 30}, oos=1.0, in_sample=1.0, trades=9
    )
    waiting = book.propose_job(inst.id, job, by="optimizer")
    assert waiting["outcome"] is None and book.current(inst.id).version == 1
    done = book.promote(inst.id, by="quant", proposal_id=waiting["proposal_id"])
    assert (done["outcome"], done["version"]) == ("promoted", 2)
    with pytest.raises(Conflict):
        book.promote(inst.id, by="quant", proposal_id=waiting["proposal_id"])


def test_versions_and_audit_cannot_be_rewritten(
    book: StrategyBook, strategies_db: Database
) -> None:
    inst = new_instance(book, strategies_db)
    for sql in (
        "UPDATE strategy_param_versions SET params = '{}' WHERE instance_id = :i",
        "DELETE FROM strategy_audit WHERE instance_id = :i",
        # a version that is not the previous + 1
        "INSERT INTO strategy_param_versions (instance_id, version, params, source, by) "
        "VALUES (:i, 3, '{}', 'manual', 'x')",
    ):
        with pytest.raises(DBAPIError), strategies_db.session() as s:
            s.execute(text(sql), {"i": inst.id})
