"""``/v1/strategies`` on uvicorn (real DB and Redis, the engine hosted in-process): create,
list, read with versions/proposals/performance, promote (a refusal is a 422
``guardrail-refused`` problem naming the guardrails), rollback, start/stop; quant and admin
only, owner-only; every 2xx body checked against the OpenAPI."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from cluster.optimization.service import OptimizationService
from cluster.settings import Settings
from serve.api import create_api
from serve.services import Services, build_services
from tests.integration.strategies.conftest import finished_job
from tests.kit.api import serve_in_thread
from tests.kit.openapi_check import ResponseChecker
from tests.kit.users import ApiUser, assert_problem, signed_in


@pytest.fixture(scope="module")
def services(settings: Settings, strategies_db_url: str) -> Iterator[Services]:
    s = settings.with_overrides(
        database_url=strategies_db_url, login_max_failures=10_000, api_replicas=1, job_workers=0
    )
    built = build_services(s, in_ray=False, process_label="strategies-api-tests")
    yield built
    built.close()


@pytest.fixture(scope="module")
def api(services: Services) -> Iterator[httpx.Client]:
    with serve_in_thread(create_api(services)) as url:
        checker = ResponseChecker.fetch(url)
        hooks = {"response": [checker.hook]}
        with httpx.Client(base_url=url, timeout=20, event_hooks=hooks) as c:
            yield c


@pytest.fixture(scope="module")
def quant(api: httpx.Client, services: Services) -> ApiUser:
    return signed_in(api, role="quant", services=services)


def _create(api: httpx.Client, user: ApiUser, **changes: object) -> dict[str, object]:
    body = {
        "strategy": "sma_cross",
        "symbols": ["aapl"],
        "bar_interval": "1d",
        "account_id": user.account_id,
        "params": {"n1": 10, "n2": 30},
        "guardrails": {"margin": 0.1, "min_trades": 3, "max_step": 0.5},
        **changes,
    }
    r = api.post("/v1/strategies", json=body, headers=user.headers)
    assert r.status_code == 201, r.text
    created: dict[str, object] = r.json()
    return created


def test_quant_creates_promotes_is_refused_and_rolls_back(
    api: httpx.Client, quant: ApiUser, services: Services
) -> None:
    inst = _create(api, quant)
    assert (inst["status"], inst["current_version"], inst["symbols"]) == ("stopped", 1, ["AAPL"])
    iid = inst["id"]
    listed = api.get("/v1/strategies/instances", headers=quant.headers).json()["items"]
    assert iid in [i["id"] for i in listed]

    job = finished_job(
        OptimizationService(services.db, max_grid=5000),
        quant.id,
        {"n1": 12, "n2": 30},
        oos=0.8,
        in_sample=1.0,
        trades=12,
    )
    r = api.post(f"/v1/strategies/{iid}/promote", json={"job_id": job}, headers=quant.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["outcome"], r.json()["version"]) == ("promoted", 2)

    # better in sample is not enough: typed-in params carry no out-of-sample evidence
    r = api.post(
        f"/v1/strategies/{iid}/promote",
        json={"params": {"n1": 13, "n2": 30}},
        headers=quant.headers,
    )
    problem = assert_problem(r, 422, "guardrail-refused")
    assert problem["guardrails"] == ["out_of_sample", "min_trades"]
    assert problem["reason"] == "out_of_sample" and problem["proposal_id"] > 0

    r = api.post(f"/v1/strategies/{iid}/rollback", json={"reason": "x"}, headers=quant.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["restores"]) == (3, 1)
    assert_problem(
        api.post(f"/v1/strategies/{iid}/rollback", json={}, headers=quant.headers),
        409,
        "conflict",
    )
    assert api.post(f"/v1/strategies/{iid}/start", headers=quant.headers).json()["status"] == (
        "running"
    )
    detail = api.get(f"/v1/strategies/{iid}", headers=quant.headers).json()
    assert [v["version"] for v in detail["versions"]] == [1, 2, 3]
    assert detail["params"] == {"n1": 10, "n2": 30}
    assert [p["outcome"] for p in detail["proposals"]] == ["refused", "promoted"]
    assert {s["kind"] for s in detail["performance"]} == {"backtest", "walkforward_oos"}
    assert api.post(f"/v1/strategies/{iid}/stop", headers=quant.headers).json()["status"] == (
        "stopped"
    )


def test_other_users_and_bad_input_are_refused(
    api: httpx.Client, quant: ApiUser, services: Services
) -> None:
    inst = _create(api, quant)
    other = signed_in(api, role="quant", services=services)
    assert_problem(api.get(f"/v1/strategies/{inst['id']}", headers=other.headers), 404, "not-found")
    user = signed_in(api)
    assert_problem(api.get("/v1/strategies/instances", headers=user.headers), 403, "forbidden")
    # someone else's account, a parameter outside the space
    r = api.post(
        "/v1/strategies",
        json={
            "strategy": "sma_cross",
            "symbols": ["AAPL"],
            "bar_interval": "1d",
            "account_id": other.account_id,
            "params": {"n1": 10, "n2": 30},
        },
        headers=quant.headers,
    )
    assert_problem(r, 404, "not-found")
    r = api.post(
        "/v1/strategies",
        json={
            "strategy": "sma_cross",
            "symbols": ["AAPL"],
            "bar_interval": "1d",
            "account_id": quant.account_id,
            "params": {"n1": 500, "n2": 30},
        },
        headers=quant.headers,
    )
    assert assert_problem(r, 422, "validation")["errors"][0]["field"] == "params.n1"
    admin = signed_in(api, role="admin", services=services)
    assert api.get(f"/v1/strategies/{inst['id']}", headers=admin.headers).status_code == 200


def test_starting_beyond_the_plans_live_instances_is_a_plan_limit_problem(
    api: httpx.Client, services: Services
) -> None:
    """The free plan runs 2 live instances (``domain.billing.plans``): the third start is
    refused naming the limit and the plan that lifts it, and changes nothing; starting an
    instance that already runs is not counted twice; a stop frees a place."""
    owner = signed_in(api, role="quant", services=services)
    ids = [str(_create(api, owner)["id"]) for _ in range(3)]
    for iid in ids[:2]:
        r = api.post(f"/v1/strategies/{iid}/start", headers=owner.headers)
        assert r.json()["status"] == "running", r.text
    r = api.post(f"/v1/strategies/{ids[1]}/start", headers=owner.headers)
    assert r.json()["status"] == "running", r.text  # already live: not a new place
    problem = assert_problem(
        api.post(f"/v1/strategies/{ids[2]}/start", headers=owner.headers), 403, "plan-limit"
    )
    assert (problem["limit"], problem["plan"], problem["lifted_by"]) == (
        "max_strategies",
        "free",
        "premium",
    )
    assert api.get(f"/v1/strategies/{ids[2]}", headers=owner.headers).json()["status"] == (
        "stopped"
    )
    api.post(f"/v1/strategies/{ids[0]}/stop", headers=owner.headers)
    r = api.post(f"/v1/strategies/{ids[2]}/start", headers=owner.headers)
    assert r.json()["status"] == "running", r.text
