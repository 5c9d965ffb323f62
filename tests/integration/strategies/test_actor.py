"""Issue 12 acceptance 3 (the adaptive actor's half), 5 and 6 on the session Ray: the
``AdaptiveParams`` actor keeps versions and history across a kill; a planted regime change
flags an instance and runs a walk-forward job whose proposal goes through the guardrails;
50 concurrent promotions and rollbacks leave a gap-free, strictly ordered history.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import ray
from sqlalchemy import text

from cluster.db import Database
from cluster.optimization.service import OptimizationService
from cluster.settings import Settings
from tests.integration.strategies.conftest import audit_actions, finished_job, owner_and_account
from tests.integration.strategies.regime import CHANGE_AT, window_scores, write_regime_csv

pytestmark = [pytest.mark.ray]


@pytest.fixture(scope="module")
def stack(
    ray_cluster: None,
    settings: Settings,
    strategies_db_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Any]]:
    from actors.adaptive_params import ensure

    data_dir = tmp_path_factory.mktemp("strategy-data")
    s = settings.with_overrides(
        database_url=strategies_db_url,
        ray_namespace=f"elson-strategies-{uuid.uuid4().hex[:8]}",
        optimize_data_dirs=str(data_dir),
    )
    [name] = ensure(s, poll_s=0.2)
    actor = ray.get_actor(name, namespace=s.ray_namespace)
    yield {"settings": s, "actor": actor, "data_dir": data_dir}
    ray.kill(actor, no_restart=True)


async def _until(probe: Callable[[], Awaitable[Any]], timeout_s: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            found = await probe()
        except ray.exceptions.RayActorError:
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.2)


def _spec(db: Database, **changes: Any) -> tuple[str, dict[str, Any]]:
    owner, account = owner_and_account(db)
    spec: dict[str, Any] = {
        "strategy": "sma_cross",
        "symbols": ["AAPL"],
        "bar_interval": "1d",
        "account_id": account,
        "params": {"n1": 10, "n2": 30},
        "guardrails": {"margin": 0.0, "min_trades": 0, "max_step": 10.0, "cooldown_s": 0},
    }
    spec.update(changes)
    return owner, spec


def _db_versions(
    db: Database, instance_id: str
) -> list[tuple[int, dict[str, Any], str, int | None]]:
    with db.session() as s:
        rows = s.execute(
            text(
                "SELECT version, params, source, restores FROM strategy_param_versions "
                "WHERE instance_id = :i ORDER BY created_at, version"
            ),
            {"i": uuid.UUID(instance_id)},
        ).all()
    return [(r[0], dict(r[1]), r[2], r[3]) for r in rows]


async def test_fifty_concurrent_promotions_and_rollbacks_leave_a_gap_free_history(
    stack: dict[str, Any], strategies_db: Database
) -> None:
    actor = stack["actor"]
    owner, spec = _spec(strategies_db)
    inst = await actor.create.remote(spec, owner, owner)
    iid = inst["id"]
    calls = [
        actor.rollback.remote(iid, owner, f"undo {i}")
        if i % 3 == 2
        else actor.promote.remote(iid, owner, params={"n1": 5 + i % 7, "n2": 40})
        for i in range(50)
    ]
    answers = await asyncio.gather(*calls, return_exceptions=True)
    promoted = [a for a in answers if isinstance(a, dict) and a.get("outcome") == "promoted"]
    rolled = [a for a in answers if isinstance(a, dict) and "restores" in a]
    refused = [a for a in answers if isinstance(a, BaseException)]
    assert len(promoted) == 34  # every promotion passed its guardrails
    assert len(promoted) + len(rolled) + len(refused) == 50
    assert all("nothing" in str(e) and "roll back" in str(e) for e in refused)

    history = _db_versions(strategies_db, iid)
    numbers = [v[0] for v in history]
    assert numbers == list(range(1, 2 + len(promoted) + len(rolled)))  # ordered, no gap or twin
    by_number = {v[0]: v for v in history}
    for number, params, source, restores in history:
        if source.startswith("rollback:"):
            assert source == f"rollback:{number - 1}"
            assert restores is not None and params == by_number[restores][1]
    version, params = await actor.current_version.remote(iid)
    assert (version, params) == (numbers[-1], history[-1][1])
    actions = [a for a, _ in audit_actions(strategies_db, iid)]
    assert actions.count("promoted") == len(promoted)
    assert actions.count("rolled_back") == len(rolled)


async def test_killed_actor_comes_back_with_versions_and_history_intact(
    stack: dict[str, Any], strategies_db: Database
) -> None:
    actor = stack["actor"]
    owner, spec = _spec(strategies_db)
    iid = (await actor.create.remote(spec, owner, owner))["id"]
    await actor.promote.remote(iid, owner, params={"n1": 12, "n2": 30})
    await actor.promote.remote(iid, owner, params={"n1": 14, "n2": 30})
    await actor.rollback.remote(iid, owner, "check restart")
    await actor.record_sample.remote(iid, "live", 0.5, "12.50", "-3.25", 4, -1.5)
    before = await actor.details.remote(iid)
    incarnation = (await actor.ping.remote())["incarnation"]

    ray.kill(actor, no_restart=False)

    async def reborn() -> bool:
        return (await actor.ping.remote())["incarnation"] != incarnation

    await _until(reborn)
    after = await actor.details.remote(iid)
    assert after["versions"] == before["versions"]
    assert [v["version"] for v in after["versions"]] == [1, 2, 3, 4]
    assert after["proposals"] == before["proposals"]
    assert after["performance"] == before["performance"]
    assert after["performance"][0]["realized_pnl"] == "12.50"
    assert await actor.current_version.remote(iid) == (4, {"n1": 12, "n2": 30})
    # and it goes on numbering where it was
    nxt = await actor.promote.remote(iid, owner, params={"n1": 13, "n2": 30})
    assert nxt["version"] == 5


async def test_planted_regime_change_flags_and_reoptimizes_through_the_guardrails(
    stack: dict[str, Any], strategies_db: Database
) -> None:
    actor = stack["actor"]
    csv = write_regime_csv(Path(stack["data_dir"]) / "regime.csv")
    params = {"n1": 10, "n2": 30}
    owner, spec = _spec(
        strategies_db,
        auto_reoptimize=True,
        drift={"threshold": 2.0, "window": 3},
        guardrails={"margin": 0.0, "min_trades": 0, "max_step": 10.0, "cooldown_s": 0},
        reoptimize={
            "data": {"kind": "file", "path": str(csv)},
            "params": {"n1": [5, 10, 15], "n2": [20, 30, 40]},
            "walk_forward": {"train": 200, "test": 100},
        },
    )
    iid = (await actor.create.remote(spec, owner, owner))["id"]
    await actor.set_status.remote(iid, "running", owner)
    # the current set's expectation: its out-of-sample score before the change
    expected = window_scores(params, range(0, CHANGE_AT - 100 + 1, 100))
    svc = OptimizationService(strategies_db, max_grid=5000)
    oos = sum(expected) / len(expected)
    job = finished_job(svc, owner, params, oos=oos, in_sample=oos, trades=5)
    assert (await actor.promote.remote(iid, owner, job_id=job))["outcome"] == "promoted"

    # live samples from a replay of the bars through the kernel: before the change, none
    # flags; after it, the window's mean falls far below the expectation
    before = window_scores(params, range(100, CHANGE_AT - 100 + 1, 100))
    for score in before:
        answer = await actor.record_sample.remote(iid, "live", score)
        assert answer["drift"]["flagged"] is False
    after = window_scores(params, range(CHANGE_AT, CHANGE_AT + 201, 50))
    flags = [(await actor.record_sample.remote(iid, "live", s))["drift"]["flagged"] for s in after]
    assert flags[-1] is True  # (the first sample after the change already drags the mean)
    assert (await actor.instance.remote(iid))["status"] == "flagged"

    # the walk-forward job runs on the latest data and its proposal meets the guardrails
    async def decided() -> dict[str, Any] | None:
        d = await actor.details.remote(iid)
        if d["reoptimize_job_id"] is not None:
            return None
        mine = [p for p in d["proposals"] if p["source"] != f"optimization:{job}"]
        return mine[0] if mine else None

    proposal = await _until(decided)
    actions = [a for a, _ in audit_actions(strategies_db, iid)]
    submitted = [d for a, d in audit_actions(strategies_db, iid) if a == "reoptimize_submitted"]
    assert len(submitted) == 1
    assert proposal["source"] == f"optimization:{submitted[0]['job_id']}"
    assert [v["guardrail"] for v in proposal["verdicts"]] == [
        "within_space",
        "out_of_sample",
        "min_trades",
        "step_limit",
        "cooldown",
    ]
    assert proposal["outcome"] in ("refused", None)  # auto_promote is off: never promoted
    assert actions[:4] == ["created", "status", "promoted", "flagged"]
    assert "reoptimize_submitted" in actions
    assert actions[-1] in ("refused", "proposed")
