"""Plan limits where they bite: a free user's optimization job over the trial limit, or a
second concurrent job, is a 403 ``plan-limit`` problem naming the limit and the plan that
lifts it, and no job is stored; after PayPal activates premium the same request is a 202
with the job stored ``queued``.

These tests run the real API without Ray. The route's own launcher answers 503 in such a
process (after the plan check, failing the stored job), so ``client`` here serves the same
app with the one part a process without Ray cannot have left out: the optimization
service stores the job ``queued`` and starts no driver.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from cluster.optimization.service import OptimizationService
from domain.billing.plans import PlanLimit
from domain.optimization import OptimizationRequest
from serve.api import create_api
from serve.routes import optimization as optimization_routes
from serve.services import Services
from tests.integration.billing.conftest import FREE_LIMITS, Deliverer, start_subscription
from tests.kit.api import serve_in_thread
from tests.kit.paypal_api import FakePayPal
from tests.kit.users import ApiUser, assert_problem

#: 5 x 6 = 30 trials: over the free limit of 20 (FREE_LIMITS), far under premium's
BIG = {"n1": [5, 10, 15, 20, 25], "n2": [30, 40, 50, 60, 80, 100]}
SMALL = {"n1": [5, 10], "n2": [30, 50]}


def _body(params: dict[str, list[int]]) -> dict[str, Any]:
    return {
        "strategy": "sma_cross",
        "data": {"kind": "simulated", "symbol": "SPY", "bars": 300, "seed": 3},
        "params": params,
        "chunk_size": 4,
    }


def _without_driver(services: Services) -> OptimizationService:
    """``serve.routes.optimization.build_service`` minus the Ray launcher."""
    return OptimizationService(
        services.db,
        max_grid=services.settings.optimize_max_grid,
        entitlements=services.entitlements,
    )


@pytest.fixture(scope="module")
def no_ray_url(billing_services: Services) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(optimization_routes, "build_service", _without_driver)
        app = create_api(billing_services)
    with serve_in_thread(app) as url:
        yield url


@pytest.fixture
def client(no_ray_url: str) -> Iterator[httpx.Client]:
    """Overrides the conftest's: every request of this module goes to the app above."""
    with httpx.Client(base_url=no_ray_url, timeout=20) as c:
        yield c


def _activate(client: httpx.Client, user: ApiUser, deliver: Deliverer, fake: FakePayPal) -> None:
    sid = start_subscription(client, user)
    fake.set_status(sid, "ACTIVE")
    r = deliver.deliver("BILLING.SUBSCRIPTION.ACTIVATED", sid, datetime.now(UTC))
    assert r.json() == {"outcome": "applied"}, r.text


def _jobs_of(services: Services, owner: str) -> list[tuple[str, str, int]]:
    """(id, status, total_trials) of every stored job of ``owner``."""
    with services.db.session() as s:
        rows = s.execute(
            text(
                "SELECT id, status, total_trials FROM optimization_jobs"
                " WHERE owner_user_id = :o ORDER BY created_at"
            ),
            {"o": owner},
        ).all()
    return [(str(r[0]), r[1], int(r[2])) for r in rows]


def _accepted(r: httpx.Response, services: Services, owner: str) -> dict[str, Any]:
    """202, and the job the answer names is stored ``queued`` for ``owner``."""
    assert r.status_code == 202, r.text
    job: dict[str, Any] = r.json()
    assert job["status"] == "queued"
    assert (job["id"], "queued", job["total_trials"]) in _jobs_of(services, owner)
    return job


def _plan_limit(r: httpx.Response, limit: str, allowed: int, requested: int) -> None:
    problem = assert_problem(r, 403, "plan-limit")  # application/problem+json
    assert (problem["limit"], problem["allowed"], problem["requested"]) == (
        limit,
        allowed,
        requested,
    )
    assert (problem["plan"], problem["lifted_by"]) == ("free", "premium")
    assert limit in problem["detail"] and "premium" in problem["detail"]


def test_job_over_the_free_trial_limit_is_a_plan_limit_problem_then_accepted(
    client: httpx.Client,
    quant: ApiUser,
    deliver: Deliverer,
    paypal: tuple[FakePayPal, str],
    billing_services: Services,
) -> None:
    r = client.post("/v1/optimizations", json=_body(BIG), headers=quant.headers)
    _plan_limit(r, "max_trials_per_job", FREE_LIMITS["max_trials_per_job"], 30)
    assert _jobs_of(billing_services, quant.id) == []

    _activate(client, quant, deliver, paypal[0])
    r = client.post("/v1/optimizations", json=_body(BIG), headers=quant.headers)
    assert _accepted(r, billing_services, quant.id)["total_trials"] == 30


def test_second_concurrent_job_is_a_plan_limit_problem_then_accepted_after_activation(
    client: httpx.Client,
    quant: ApiUser,
    deliver: Deliverer,
    paypal: tuple[FakePayPal, str],
    billing_services: Services,
) -> None:
    first = client.post("/v1/optimizations", json=_body(SMALL), headers=quant.headers)
    first_job = _accepted(first, billing_services, quant.id)  # queued: it counts as running
    stored = _jobs_of(billing_services, quant.id)

    second = client.post("/v1/optimizations", json=_body(SMALL), headers=quant.headers)
    _plan_limit(second, "max_concurrent_jobs", FREE_LIMITS["max_concurrent_jobs"], 2)
    assert _jobs_of(billing_services, quant.id) == stored  # nothing stored

    _activate(client, quant, deliver, paypal[0])
    again = client.post("/v1/optimizations", json=_body(SMALL), headers=quant.headers)
    job = _accepted(again, billing_services, quant.id)
    assert job["id"] != first_job["id"]
    assert [status for _, status, _ in _jobs_of(billing_services, quant.id)] == [
        "queued",
        "queued",
    ]


@pytest.fixture
def jobs(billing_services: Services) -> OptimizationService:
    """The service as the route builds it, with a driver launcher that starts nothing."""
    return OptimizationService(
        billing_services.db,
        max_grid=5000,
        launch=lambda job_id, attempt: None,
        entitlements=billing_services.entitlements,
    )


def test_over_limit_and_second_concurrent_job_refused_then_accepted_after_activation(
    client: httpx.Client,
    quant: ApiUser,
    deliver: Deliverer,
    paypal: tuple[FakePayPal, str],
    jobs: OptimizationService,
) -> None:
    big = OptimizationRequest.from_dict(_body(BIG))
    small = OptimizationRequest.from_dict(_body(SMALL))
    with pytest.raises(PlanLimit) as over:
        jobs.submit(big, owner_user_id=quant.id, via="api")
    assert over.value.limit == "max_trials_per_job"
    first = jobs.submit(small, owner_user_id=quant.id, via="api")  # queued: it counts
    with pytest.raises(PlanLimit) as second:
        jobs.submit(small, owner_user_id=quant.id, via="api")
    assert (second.value.limit, second.value.lifted_by) == ("max_concurrent_jobs", "premium")

    _activate(client, quant, deliver, paypal[0])
    assert jobs.submit(small, owner_user_id=quant.id, via="api").status.value == "queued"
    assert jobs.submit(big, owner_user_id=quant.id, via="api").total_trials == 30
    assert first.owner_user_id is not None


def test_cli_and_batch_jobs_have_no_plan(jobs: OptimizationService) -> None:
    big = OptimizationRequest.from_dict(_body(BIG))
    assert jobs.submit(big, owner_user_id=None, via="cli").total_trials == 30
