"""The risk routes on the in-process API (no Ray: the app hosts the engine itself through
``RiskAdmin``). Only account scopes of this module's own users change, so the session
database other API tests use sees nothing of them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

import httpx
import pytest

from serve.services import Services
from tests.integration.api.test_trading_routes import fill, fund, limit_buy, place
from tests.kit.users import ApiUser, assert_problem, signed_in


@dataclass
class Users:
    """Signed up once for the module (a sign-up hashes a password: the slow part). One
    owner holds three accounts, one per test that halts its account."""

    admin: ApiUser
    other: ApiUser
    halted: ApiUser
    killer: ApiUser
    flattener: ApiUser


def _second_account(c: httpx.Client, user: ApiUser) -> ApiUser:
    r = c.post("/v1/accounts", json={"type": "individual"}, headers=user.headers)
    assert r.status_code == 201, r.text
    return replace(user, account_id=r.json()["id"])


@pytest.fixture(scope="module")
def users(api_url: str, api_services: Services) -> Users:
    with httpx.Client(base_url=api_url, timeout=10) as c:
        owner = signed_in(c)
        accounts = [owner, _second_account(c, owner), _second_account(c, owner)]
        for user in accounts:
            fund(c, user)
        admin = signed_in(c, role="admin", services=api_services)
        return Users(admin, signed_in(c), *accounts)


def _order(client: httpx.Client, user: ApiUser, **changes: str) -> httpx.Response:
    return client.post(
        f"/v1/accounts/{user.account_id}/orders", json=limit_buy(**changes), headers=user.headers
    )


def test_halt_when_admin_halts_an_account_then_its_next_order_is_a_trading_halted_problem(
    client: httpx.Client, users: Users
) -> None:
    admin, trader = users.admin, users.halted
    scope = f"account:{trader.account_id}"
    r = client.post(
        "/v1/risk/halt", json={"scope": scope, "reason": "compliance"}, headers=admin.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["changed"] is True and r.json()["state"] == "halted"
    body = assert_problem(_order(client, trader), 422, "trading-halted")
    order_id = body["order_id"]
    stored = client.get(
        f"/v1/accounts/{trader.account_id}/orders/{order_id}", headers=trader.headers
    )
    assert stored.status_code == 200 and stored.json()["status"] == "rejected"

    mine = client.get(f"/v1/accounts/{trader.account_id}/risk", headers=trader.headers)
    assert mine.status_code == 200, mine.text
    assert [(s["scope"], s["state"]) for s in mine.json()["states"]] == [(scope, "halted")]

    audit = client.get("/v1/risk/audit", params={"subject": scope}, headers=admin.headers)
    assert audit.status_code == 200, audit.text
    assert [(a["from_state"], a["to_state"], a["reason"]) for a in audit.json()] == [
        ("active", "halted", "compliance")
    ]
    assert audit.json()[0]["by"] == f"user:{admin.id}"

    r = client.post(  # the target state is the route's, whatever the query says
        "/v1/risk/resume",
        params={"state": "halted"},
        json={"scope": scope, "reason": "cleared"},
        headers=admin.headers,
    )
    assert r.status_code == 200 and r.json()["state"] == "active"
    assert _order(client, trader).status_code == 201


def test_risk_routes_when_not_admin_then_forbidden_and_other_accounts_hidden(
    client: httpx.Client, users: Users
) -> None:
    alice, bob = users.other, users.halted
    halt = {"scope": f"account:{alice.account_id}", "reason": "mine"}
    assert_problem(client.post("/v1/risk/halt", json=halt, headers=alice.headers), 403, "forbidden")
    assert_problem(client.get("/v1/risk/audit", headers=alice.headers), 403, "forbidden")
    r = client.get(f"/v1/accounts/{bob.account_id}/risk", headers=alice.headers)
    assert_problem(r, 404, "not-found")
    r = client.post(
        f"/v1/accounts/{bob.account_id}/kill-switch", json={"reason": "x"}, headers=alice.headers
    )
    assert_problem(r, 404, "not-found")


def test_kill_switch_when_the_owner_pulls_it_then_halted_and_open_orders_canceled(
    client: httpx.Client, users: Users
) -> None:
    trader = users.killer
    placed = place(client, trader)
    r = client.post(
        f"/v1/accounts/{trader.account_id}/kill-switch",
        json={"reason": "panic"},
        headers=trader.headers,
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["scope"] == f"account:{trader.account_id}"
    assert report["halt"]["state"] == "halted" and report["canceled"] == [placed["id"]]
    order = client.get(
        f"/v1/accounts/{trader.account_id}/orders/{placed['id']}", headers=trader.headers
    )
    assert order.json()["status"] == "pending_cancel"
    assert_problem(_order(client, trader), 422, "trading-halted")


def test_kill_switch_when_flatten_then_the_long_position_gets_a_sell_through_the_halt(
    client: httpx.Client, users: Users, api_services: Services
) -> None:
    trader = users.flattener
    bought = place(client, trader, qty="3", limit_price="50.00")
    fill(api_services, bought["id"], "3", "50.00")
    r = client.post(
        f"/v1/accounts/{trader.account_id}/kill-switch",
        json={"reason": "flatten all", "flatten": True},
        headers=trader.headers,
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["refused"] == [] and len(report["flatten_orders"]) == 1
    sell = client.get(
        f"/v1/accounts/{trader.account_id}/orders/{report['flatten_orders'][0]}",
        headers=trader.headers,
    ).json()
    assert (sell["side"], sell["qty"], sell["status"]) == ("sell", "3", "pending_new")


def test_risk_routes_when_the_scope_is_malformed_then_validation_problem(
    client: httpx.Client, users: Users
) -> None:
    admin = users.admin
    for scope in ("planet:mars", "global:x", "account:", "symbol:not a ticker"):
        r = client.post(
            "/v1/risk/halt", json={"scope": scope, "reason": "x"}, headers=admin.headers
        )
        assert_problem(r, 422, "validation")
    r = client.post(
        "/v1/risk/kill-switch",
        json={"scope": f"account:{uuid.uuid4().hex}-x", "reason": "x"},
        headers=admin.headers,
    )
    assert_problem(r, 422, "validation")
