"""Issue 12: a strategy instance's promotions, refusals and rollbacks reach its owner over
the gateway. The quant's WebSocket, subscribed to the ``jobs`` channel, receives each
change made through ``/v1/strategies`` as an ``event.strategies`` message (the audit row's
event, carried by the real relay from PostgreSQL to Redis to the gateway), in order, with
the version numbers, and each message matches the published schema."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cluster.optimization.service import OptimizationService
from cluster.settings import Settings
from serve.gateway_schemas import SERVER_MODELS
from tests.conftest import own_database
from tests.integration.strategies.conftest import finished_job
from tests.kit.event_stack import EventStack, event_stack
from tests.kit.users import ApiUser, assert_problem, signed_in
from tests.kit.ws import authenticate, connect, recv_until, send


@pytest.fixture(scope="module")
def stack(settings: Settings) -> Iterator[EventStack]:
    with own_database("strategiesws") as url:
        s = settings.with_overrides(database_url=url, api_replicas=1, job_workers=0)
        with event_stack(s, dispatch=False) as running:
            yield running


def _post(http: httpx.Client, user: ApiUser, path: str, body: Any = None) -> httpx.Response:
    return http.post(path, json=body, headers=user.headers)


async def _strategy_event(ws: Any, iid: str) -> dict[str, Any]:
    msg, _ = await recv_until(
        ws, lambda m: m.get("type") == "event" and m["data"].get("instance_id") == iid
    )
    SERVER_MODELS["event.strategies"].model_validate(msg)  # the published contract
    return msg


async def test_jobs_subscriber_when_promoted_refused_and_rolled_back_then_events_in_order(
    stack: EventStack,
) -> None:
    with httpx.Client(base_url=stack.api_url, timeout=30) as http:
        quant = signed_in(http, role="quant", services=stack.services)
        ws = await connect(stack.ws_url)
        await authenticate(ws, quant.access)
        await send(ws, {"type": "subscribe", "channels": [{"channel": "jobs"}]})
        subscribed, _ = await recv_until(ws, lambda m: m["type"] == "subscribed")
        assert [c["stream"] for c in subscribed["channels"]] == [f"jobs:{quant.id}"]

        body = {
            "strategy": "sma_cross",
            "symbols": ["AAPL"],
            "bar_interval": "1d",
            "account_id": quant.account_id,
            "params": {"n1": 10, "n2": 30},
            "guardrails": {"margin": 0.1, "min_trades": 3, "max_step": 0.5},
        }
        r = await asyncio.to_thread(_post, http, quant, "/v1/strategies", body)
        assert r.status_code == 201, r.text
        iid = r.json()["id"]
        job = await asyncio.to_thread(
            finished_job,
            OptimizationService(stack.services.db, max_grid=5000),
            quant.id,
            {"n1": 12, "n2": 30},
            oos=0.8,
            in_sample=1.0,
            trades=12,
        )
        base = f"/v1/strategies/{iid}"
        r = await asyncio.to_thread(_post, http, quant, f"{base}/promote", {"job_id": job})
        assert r.status_code == 200, r.text
        assert (r.json()["outcome"], r.json()["version"]) == ("promoted", 2), r.text
        r = await asyncio.to_thread(
            _post, http, quant, f"{base}/promote", {"params": {"n1": 13, "n2": 30}}
        )
        assert_problem(r, 422, "guardrail-refused")
        r = await asyncio.to_thread(_post, http, quant, f"{base}/rollback", {"reason": "poor"})
        assert (r.json()["version"], r.json()["restores"]) == (3, 1), r.text

        got = [await _strategy_event(ws, iid) for _ in range(4)]
        await ws.close()

    assert [m["event"] for m in got] == [
        "strategy_created",
        "strategy_promoted",
        "strategy_refused",
        "strategy_rolled_back",
    ]
    assert {m["stream"] for m in got} == {f"jobs:{quant.id}"}
    seqs = [m["seq"] for m in got]
    assert seqs == list(range(seqs[0], seqs[0] + 4))  # nothing between, nothing twice
    versions = [(m["data"]["from_version"], m["data"]["to_version"]) for m in got]
    assert versions == [(None, 1), (1, 2), (2, None), (2, 3)]
    promoted, refused, rolled = got[1]["data"], got[2]["data"], got[3]["data"]
    assert promoted["outcome"] == "promoted" and promoted["by"] == quant.id
    assert (promoted["job_id"], refused["job_id"]) == (str(job), None)  # the job it came from
    assert (refused["outcome"], refused["failed"]) == ("refused", ["out_of_sample", "min_trades"])
    assert rolled["reason"] == "poor"
    assert len({m["data"]["audit_id"] for m in got}) == 4
