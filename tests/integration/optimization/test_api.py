"""The optimization API on uvicorn (real DB, Redis and the session Ray): a quant submits,
the detached driver runs the job, results read back; a user gets 403; bad input is a 422
problem naming the field, with no job stored and no driver started."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cluster.eventlog.store import read_after
from cluster.settings import Settings
from serve.api import create_api
from serve.gateway_protocol import event_text
from serve.gateway_schemas import SERVER_MESSAGES, JobEventMessage
from serve.services import Services, build_services
from tests.integration.optimization.conftest import write_bars_csv
from tests.kit.api import serve_in_thread
from tests.kit.users import ApiUser, assert_problem, signed_in

pytestmark = [pytest.mark.ray]

GRID = {"n1": [5, 10, 15, 20], "n2": [30, 50, 80]}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bars")


@pytest.fixture(scope="module")
def opt_services(ray_cluster: None, opt_settings: Settings, data_dir: Path) -> Iterator[Services]:
    s = opt_settings.with_overrides(
        login_max_failures=10_000, api_replicas=1, job_workers=0, optimize_data_dirs=str(data_dir)
    )
    services = build_services(s, in_ray=False, process_label="optimization-api-tests")
    yield services
    services.close()


@pytest.fixture(scope="module")
def api(opt_services: Services) -> Iterator[httpx.Client]:
    with (
        serve_in_thread(create_api(opt_services)) as url,
        httpx.Client(base_url=url, timeout=20) as c,
    ):
        yield c


@pytest.fixture(scope="module")
def quant(api: httpx.Client, opt_services: Services) -> ApiUser:
    return signed_in(api, role="quant", services=opt_services)


def _body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "strategy": "sma_cross",
        "data": {"kind": "simulated", "symbol": "SPY", "bars": 300, "seed": 3},
        "params": GRID,
        "chunk_size": 3,
    }
    body.update(changes)
    return body


def _wait_done(
    api: httpx.Client, user: ApiUser, job_id: str, timeout_s: float = 90
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        r = api.get(f"/v1/optimizations/{job_id}", headers=user.headers)
        assert r.status_code == 200, r.text
        if r.json()["status"] in ("succeeded", "failed", "cancelled"):
            return dict(r.json())
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish: {r.json()}")


def test_quant_submits_and_reads_results_back(
    api: httpx.Client, quant: ApiUser, opt_services: Services
) -> None:
    r = api.post("/v1/optimizations", json=_body(), headers=quant.headers)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] in ("queued", "running") and job["total_trials"] == 12
    done = _wait_done(api, quant, job["id"])
    assert done["status"] == "succeeded", done
    assert done["progress"]["done"] == done["progress"]["total"] == 12
    assert done["via"] == "api" and done["cash"] == "10000.00"

    page = api.get(f"/v1/optimizations/{job['id']}/trials?limit=5", headers=quant.headers).json()
    assert page["sort"] == "-score" and page["total"] == 12 and len(page["items"]) == 5
    scores = [t["score"] for t in page["items"] if t["score"] is not None]
    assert scores == sorted(scores, reverse=True)
    rest = api.get(
        f"/v1/optimizations/{job['id']}/trials?limit=100&offset=5&sort=id", headers=quant.headers
    ).json()
    assert len(rest["items"]) == 7

    png = api.get(f"/v1/optimizations/{job['id']}/heatmap.png?x=n1&y=n2", headers=quant.headers)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    bad_axis = api.get(f"/v1/optimizations/{job['id']}/heatmap.png?x=n1&y=k", headers=quant.headers)
    assert assert_problem(bad_axis, 422, "validation")["errors"][0]["field"] == "y"

    csv_text = api.get(f"/v1/optimizations/{job['id']}/export.csv", headers=quant.headers).text
    assert csv_text.splitlines()[0].startswith("n1,n2,score,") and len(csv_text.splitlines()) == 13
    doc = api.get(f"/v1/optimizations/{job['id']}/export.json", headers=quant.headers).json()
    assert len(doc["trials"]) == 12 and doc["request"]["strategy"] == "sma_cross"

    listed = api.get("/v1/optimizations", headers=quant.headers).json()["items"]
    assert job["id"] in [j["id"] for j in listed]
    # progress reached the owner's jobs stream in the record (the relay carries it to the
    # Redis stream the gateway's `jobs` channel reads)
    with opt_services.db.session() as s:
        events = read_after(s, f"jobs:{quant.id}", 0)
    assert isinstance(events, list)
    mine = [e for e in events if e.data.get("job_id") == job["id"]]
    assert mine and mine[-1].data["status"] == "succeeded"
    for ev in mine:  # each, as the gateway sends it, is the published JobEventMessage
        message = SERVER_MESSAGES.validate_json(event_text(ev))
        assert isinstance(message, JobEventMessage) and message.data.job_id == job["id"]
    again = api.post(f"/v1/optimizations/{job['id']}/cancel", headers=quant.headers)
    assert_problem(again, 409, "conflict")
    done_already = api.post(f"/v1/optimizations/{job['id']}/resume", headers=quant.headers)
    assert_problem(done_already, 409, "conflict")


def test_cancelled_job_resumes_through_the_api(
    api: httpx.Client, quant: ApiUser, opt_services: Services
) -> None:
    from domain.optimization import JobEvent

    r = api.post("/v1/optimizations", json=_body(chunk_size=1), headers=quant.headers)
    job_id = r.json()["id"]
    cancel = api.post(f"/v1/optimizations/{job_id}/cancel", headers=quant.headers)
    assert cancel.status_code == 202 and cancel.json()["status"] in ("cancelling", "cancelled")
    stopped = _wait_done(api, quant, job_id)
    if stopped["status"] == "succeeded":  # the driver finished before it saw the request
        pytest.skip("the job finished before the cancel request was seen")
    assert stopped["status"] == "cancelled"
    resumed = api.post(f"/v1/optimizations/{job_id}/resume", headers=quant.headers)
    assert resumed.status_code == 202, resumed.text
    deadline = time.monotonic() + 60
    while api.get(f"/v1/optimizations/{job_id}", headers=quant.headers).json()["restarts"] < 1:
        assert time.monotonic() < deadline, "the resumed driver never started"
        time.sleep(0.2)
    done = _wait_done(api, quant, job_id)
    assert done["status"] == "succeeded" and done["progress"]["done"] == 12
    assert done["restarts"] >= 1 and JobEvent.RESTART.value == "restart"


def test_uploaded_csv_is_a_data_source(api: httpx.Client, quant: ApiUser, data_dir: Path) -> None:
    content = write_bars_csv(data_dir / "up.csv", 250).read_bytes()
    r = api.post(
        "/v1/optimizations/uploads?filename=up.csv", content=content, headers=quant.headers
    )
    assert r.status_code == 201, r.text
    assert r.json()["n_bars"] == 250
    body = _body(data={"kind": "upload", "upload_id": r.json()["upload_id"]})
    job = api.post("/v1/optimizations", json=body, headers=quant.headers).json()
    assert _wait_done(api, quant, job["id"])["status"] == "succeeded"


def test_user_role_gets_403(api: httpx.Client) -> None:
    user = signed_in(api)
    assert_problem(
        api.post("/v1/optimizations", json=_body(), headers=user.headers), 403, "forbidden"
    )
    assert_problem(api.get("/v1/optimizations", headers=user.headers), 403, "forbidden")
    assert api.get("/v1/strategies", headers=user.headers).status_code == 200


def test_strategies_are_data(api: httpx.Client, quant: ApiUser) -> None:
    doc = api.get("/v1/strategies", headers=quant.headers).json()
    names = {s["name"] for s in doc["items"]}
    assert {"sma_cross", "rsi_reversion", "bollinger_breakout", "momentum"} <= names
    sma = next(s for s in doc["items"] if s["name"] == "sma_cross")
    assert sma["constraints"] == ["n1 < n2"] and doc["objectives"]["sharpe_ratio"] == "maximize"


def _bad_files(data_dir: Path) -> dict[str, Path]:
    nan = data_dir / "nan.csv"
    nan.write_text("Date,Open,High,Low,Close\n2024-01-02,1,1,1,\n2024-01-03,1,1,1,1\n")
    unsorted = data_dir / "unsorted.csv"
    unsorted.write_text("Date,Open,High,Low,Close\n2024-01-03,1,1,1,1\n2024-01-02,1,1,1,1\n")
    empty = data_dir / "empty.csv"
    empty.write_text("Date,Open,High,Low,Close\n")
    return {"nan": nan, "unsorted": unsorted, "empty": empty}


@pytest.mark.parametrize(
    ("case", "field"),
    [
        ("unknown-strategy", "strategy"),
        ("outside-space", "params.n1"),
        ("grid-too-large", "params"),
        ("nan", "data.close"),
        ("unsorted", "data.timestamp"),
        ("empty", "data"),
        ("outside-data-dirs", "data.path"),
        ("schema", "search"),
    ],
)
def test_bad_input_is_refused_before_any_task(
    api: httpx.Client, opt_services: Services, data_dir: Path, case: str, field: str
) -> None:
    import ray

    user = signed_in(api, role="quant", services=opt_services)
    files = _bad_files(data_dir)
    body = {
        "unknown-strategy": _body(strategy="moon_phase"),
        "outside-space": _body(params={"n1": [1, 5], "n2": [30]}),
        "grid-too-large": _body(params={}),
        "nan": _body(data={"kind": "file", "path": str(files["nan"])}),
        "unsorted": _body(data={"kind": "file", "path": str(files["unsorted"])}),
        "empty": _body(data={"kind": "file", "path": str(files["empty"])}),
        "outside-data-dirs": _body(data={"kind": "file", "path": "/etc/hostname"}),
        "schema": _body(search="annealing"),
    }[case]
    drivers_before = _drivers(ray)
    r = api.post("/v1/optimizations", json=body, headers=user.headers)
    problem = assert_problem(r, 422, "validation")
    assert problem["errors"][0]["field"] == field, problem
    assert api.get("/v1/optimizations", headers=user.headers).json()["items"] == []
    assert _drivers(ray) == drivers_before


def _drivers(ray: Any) -> set[str]:
    from ray.util import list_named_actors

    return {
        a["name"]
        for a in list_named_actors(all_namespaces=True)
        if a["name"].startswith("optimization-")
    }
