"""``PUT /v1/risk/protections`` on the in-process API (no Ray: the app hosts the engine
through ``RiskAdmin``): an admin sets them, audited; anyone else is refused."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import delete

from cluster.db import Database
from cluster.risk.tables import risk_protections
from serve.services import Services
from tests.kit.users import assert_problem, signed_in

BODY = {
    "daily_loss": "500.00",
    "max_drawdown_pct": "10",
    "on_breach": "halted",
    "stop_loss_guard": {"trades": 3, "lookback_s": 3600, "lock_for_s": 1800},
    "cooldown_s": 600,
}


@pytest.fixture
def scope(protections_db: Database) -> Iterator[str]:
    """An account scope of this test's own; its settings go with the test."""
    made = f"account:{uuid.uuid4()}"
    yield made
    with protections_db.session() as s:
        s.execute(delete(risk_protections).where(risk_protections.c.scope == made))


def test_put_protections_when_admin_then_stored_audited_and_answered(
    client: httpx.Client, api_services: Services, scope: str
) -> None:
    admin = signed_in(client, role="admin", services=api_services)
    r = client.put("/v1/risk/protections", json={"scope": scope, **BODY}, headers=admin.headers)

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["scope"] == scope
    assert body["protections"]["on_breach"] == "halted"
    assert body["protections"]["daily_loss"] == "500"
    assert body["protections"]["stop_loss_guard"] == {
        "trades": 3,
        "lookback_s": 3600.0,
        "lock_for_s": 1800.0,
    }
    audit = client.get("/v1/risk/audit", params={"subject": scope}, headers=admin.headers)
    [entry] = audit.json()
    assert (entry["kind"], entry["to_state"], entry["id"]) == (
        "limits",
        "protections",
        body["version"],
    )

    for bad in ({"scope": "symbol:AAPL"}, {"scope": scope, "on_breach": "active"}):
        r = client.put("/v1/risk/protections", json={**BODY, **bad}, headers=admin.headers)
        assert_problem(r, 422, "validation")


def test_put_protections_when_not_admin_then_forbidden(client: httpx.Client, scope: str) -> None:
    user = signed_in(client)
    r = client.put("/v1/risk/protections", json={"scope": scope, **BODY}, headers=user.headers)
    assert_problem(r, 403, "forbidden")
