"""Trading routes: each endpoint for success, validation failure, unauthenticated, wrong
role (an admin may read any account but never trades on another user's), and another
user's object (404, whatever id is sent). No broker here: stored orders stay pending_new,
and fills are applied through the order service as a broker would."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from domain.ids import ExecutionId, OrderId
from domain.money import Price, Quantity
from domain.orders import OrderEvent, OrderEventKind
from serve.services import Services
from tests.kit.users import ApiUser, assert_problem


def fund(client: httpx.Client, user: ApiUser, amount: str = "100000") -> None:
    r = client.post(
        f"/v1/accounts/{user.account_id}/fund", json={"amount": amount}, headers=user.headers
    )
    assert r.status_code == 200, r.text


def limit_buy(**changes: Any) -> dict[str, Any]:
    body = {
        "symbol": "AAPL",
        "qty": "2",
        "side": "buy",
        "type": "limit",
        "time_in_force": "gtc",
        "limit_price": "100.00",
        "client_order_id": f"c-{uuid.uuid4().hex[:12]}",
    }
    body.update(changes)
    return body


def place(client: httpx.Client, user: ApiUser, **changes: Any) -> dict[str, Any]:
    r = client.post(
        f"/v1/accounts/{user.account_id}/orders", json=limit_buy(**changes), headers=user.headers
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def fill(services: Services, order_id: str, qty: str, price: str) -> None:
    services.orders.apply_events(
        OrderId(order_id),
        [
            OrderEvent(OrderEventKind.ACKNOWLEDGE, datetime.now(UTC)),
            OrderEvent(
                OrderEventKind.FILL,
                datetime.now(UTC),
                execution_id=ExecutionId(f"{order_id}-x1"),
                qty=Quantity.parse(qty),
                price=Price.parse(price),
            ),
        ],
    )


@pytest.fixture
def trader(client: httpx.Client, alice: ApiUser) -> ApiUser:
    fund(client, alice)
    return alice


@pytest.fixture
def holder(client: httpx.Client, trader: ApiUser, api_services: Services) -> ApiUser:
    order = place(client, trader, qty="4", limit_price="50.00")
    fill(api_services, order["id"], "4", "50.00")
    return trader


# (method, path template, body, query) for every trading endpoint; {a} account, {o} order
def endpoints(order_id: str, client_id: str) -> dict[str, tuple[str, str, Any, dict[str, str]]]:
    return {
        "submit": ("POST", "/v1/accounts/{a}/orders", limit_buy(), {}),
        "list": ("GET", "/v1/accounts/{a}/orders", None, {"status": "all"}),
        "get": ("GET", f"/v1/accounts/{{a}}/orders/{order_id}", None, {}),
        "get-by-client-id": (
            "GET",
            f"/v1/accounts/{{a}}/orders/by-client-id/{client_id}",
            None,
            {},
        ),
        "replace": ("PATCH", f"/v1/accounts/{{a}}/orders/{order_id}", {"limit_price": "99.00"}, {}),
        "cancel": ("DELETE", f"/v1/accounts/{{a}}/orders/{order_id}", None, {}),
        "cancel-all": ("DELETE", "/v1/accounts/{a}/orders", None, {}),
        "positions": ("GET", "/v1/accounts/{a}/positions", None, {}),
        "position": ("GET", "/v1/accounts/{a}/positions/AAPL", None, {}),
        "close-position": ("DELETE", "/v1/accounts/{a}/positions/AAPL", None, {"qty": "1"}),
        "close-all": ("DELETE", "/v1/accounts/{a}/positions", None, {}),
        "summary": ("GET", "/v1/accounts/{a}/summary", None, {}),
        "activities": ("GET", "/v1/accounts/{a}/activities", None, {}),
        "history": ("GET", "/v1/accounts/{a}/portfolio/history", None, {}),
    }


WRITES = {"submit", "replace", "cancel", "cancel-all", "close-position", "close-all"}
SUCCESS = {"submit": 201, "cancel-all": 207, "close-all": 207}


def call(
    client: httpx.Client,
    user: ApiUser | None,
    account_id: str,
    spec: tuple[str, str, Any, dict[str, str]],
) -> httpx.Response:
    method, path, body, query = spec
    headers = user.headers if user else {}
    return client.request(
        method, path.format(a=account_id), json=body, params=query, headers=headers
    )


@pytest.fixture
def working(client: httpx.Client, holder: ApiUser, api_services: Services) -> dict[str, Any]:
    """A working order, acknowledged as a broker would (no broker runs in these tests)."""
    order = place(client, holder)
    api_services.orders.apply_events(
        OrderId(order["id"]), [OrderEvent(OrderEventKind.ACKNOWLEDGE, datetime.now(UTC))]
    )
    return order


@pytest.mark.parametrize("name", list(endpoints("o", "c")))
def test_endpoint_success(
    name: str, client: httpx.Client, holder: ApiUser, working: dict[str, Any]
) -> None:
    r = call(
        client,
        holder,
        holder.account_id,
        endpoints(working["id"], working["client_order_id"])[name],
    )
    assert r.status_code == SUCCESS.get(name, 200), r.text


@pytest.mark.parametrize("name", list(endpoints("o", "c")))
def test_endpoint_unauthenticated(
    name: str, client: httpx.Client, holder: ApiUser, working: dict[str, Any]
) -> None:
    r = call(
        client, None, holder.account_id, endpoints(working["id"], working["client_order_id"])[name]
    )
    assert_problem(r, 401, "unauthenticated")


@pytest.mark.parametrize("name", list(endpoints("o", "c")))
def test_endpoint_on_another_users_account_then_404(
    name: str, client: httpx.Client, holder: ApiUser, bob: ApiUser, working: dict[str, Any]
) -> None:
    spec = endpoints(working["id"], working["client_order_id"])[name]
    assert_problem(call(client, bob, holder.account_id, spec), 404, "not-found")


@pytest.mark.parametrize("name", ["get", "get-by-client-id", "replace", "cancel"])
def test_order_of_another_user_via_own_account_then_404(
    name: str, client: httpx.Client, holder: ApiUser, bob: ApiUser, working: dict[str, Any]
) -> None:
    spec = endpoints(working["id"], working["client_order_id"])[name]
    assert_problem(call(client, bob, bob.account_id, spec), 404, "not-found")


@pytest.mark.parametrize("name", sorted(WRITES))
def test_admin_writing_to_another_users_account_then_403(
    name: str, client: httpx.Client, holder: ApiUser, admin: ApiUser, working: dict[str, Any]
) -> None:
    spec = endpoints(working["id"], working["client_order_id"])[name]
    assert_problem(call(client, admin, holder.account_id, spec), 403, "forbidden")


@pytest.mark.parametrize("name", sorted(set(endpoints("o", "c")) - WRITES))
def test_admin_may_read_any_account(
    name: str, client: httpx.Client, holder: ApiUser, admin: ApiUser, working: dict[str, Any]
) -> None:
    spec = endpoints(working["id"], working["client_order_id"])[name]
    assert call(client, admin, holder.account_id, spec).status_code == 200


INVALID = {
    "submit": (
        "POST",
        "/v1/accounts/{a}/orders",
        limit_buy(limit_price="100.001"),
        {},
        "limit_price",
    ),
    "list": ("GET", "/v1/accounts/{a}/orders", None, {"limit": "0"}, "limit"),
    "get": ("GET", "/v1/accounts/{a}/orders/" + "x" * 65, None, {}, "order_id"),
    "get-by-client-id": (
        "GET",
        "/v1/accounts/{a}/orders/by-client-id/" + "c" * 129,
        None,
        {},
        "client_order_id",
    ),
    "replace": ("PATCH", "/v1/accounts/{a}/orders/{o}", {"limit_price": "abc"}, {}, "limit_price"),
    "cancel": ("DELETE", "/v1/accounts/{a}/orders/" + "x" * 65, None, {}, "order_id"),
    "cancel-all": ("DELETE", "/v1/accounts/" + "a" * 65 + "/orders", None, {}, "account_id"),
    "positions": ("GET", "/v1/accounts/" + "a" * 65 + "/positions", None, {}, "account_id"),
    "position": ("GET", "/v1/accounts/{a}/positions/not%20a%20symbol", None, {}, "symbol"),
    "close-position": ("DELETE", "/v1/accounts/{a}/positions/AAPL", None, {"qty": "999"}, "qty"),
    "close-all": ("DELETE", "/v1/accounts/" + "a" * 65 + "/positions", None, {}, "account_id"),
    "summary": ("GET", "/v1/accounts/" + "a" * 65 + "/summary", None, {}, "account_id"),
    "activities": ("GET", "/v1/accounts/{a}/activities", None, {"limit": "100000"}, "limit"),
    "history": ("GET", "/v1/accounts/" + "a" * 65 + "/portfolio/history", None, {}, "account_id"),
}


@pytest.mark.parametrize("name", list(INVALID))
def test_endpoint_validation_failure_names_the_field(
    name: str, client: httpx.Client, holder: ApiUser, working: dict[str, Any]
) -> None:
    method, path, body, query, field = INVALID[name]
    r = client.request(
        method,
        path.format(a=holder.account_id, o=working["id"]),
        json=body,
        params=query,
        headers=holder.headers,
    )
    problem = assert_problem(r, 422, "validation")
    assert any(e["field"].endswith(field) for e in problem["errors"]), problem


def test_clock_and_calendar(client: httpx.Client, alice: ApiUser) -> None:
    assert_problem(client.get("/v1/clock"), 401, "unauthenticated")
    clock = client.get("/v1/clock", headers=alice.headers).json()
    assert {"is_open", "next_open", "next_close", "timestamp"} <= set(clock)
    cal = client.get(
        "/v1/calendar", params={"start": "2026-11-25", "end": "2026-11-30"}, headers=alice.headers
    )
    days = {d["date"]: d for d in cal.json()}
    assert "2026-11-26" not in days  # Thanksgiving
    assert days["2026-11-27"]["close"] == "13:00"  # early close
    bad = client.get(
        "/v1/calendar", params={"start": "2026-11-30", "end": "2026-11-01"}, headers=alice.headers
    )
    assert_problem(bad, 422, "validation")


def test_idempotency_key_replay_returns_original_and_other_body_is_422(
    client: httpx.Client, trader: ApiUser
) -> None:
    key = {"Idempotency-Key": f"k-{uuid.uuid4().hex}"} | trader.headers
    body = limit_buy()
    first = client.post(f"/v1/accounts/{trader.account_id}/orders", json=body, headers=key)
    again = client.post(f"/v1/accounts/{trader.account_id}/orders", json=body, headers=key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    other = client.post(
        f"/v1/accounts/{trader.account_id}/orders",
        json=limit_buy(limit_price="101.00", client_order_id=body["client_order_id"]),
        headers=key,
    )
    assert_problem(other, 422, "idempotency-mismatch")


def test_idempotency_key_retried_concurrently_yields_one_order(
    api_url: str, trader: ApiUser
) -> None:
    import asyncio

    key = {"Idempotency-Key": f"k-{uuid.uuid4().hex}"} | trader.headers
    body = limit_buy()

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=api_url, timeout=30) as c:
            return await asyncio.gather(
                *(
                    c.post(f"/v1/accounts/{trader.account_id}/orders", json=body, headers=key)
                    for _ in range(20)
                )
            )

    responses = asyncio.run(burst())
    assert {r.status_code for r in responses} <= {200, 201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.status_code == 201 for r in responses) == 1


def test_insufficient_cash_then_problem_naming_the_code_and_stored_rejected_order(
    client: httpx.Client, alice: ApiUser
) -> None:
    r = client.post(
        f"/v1/accounts/{alice.account_id}/orders", json=limit_buy(qty="1000"), headers=alice.headers
    )
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["type"] == "/problems/insufficient-buying-power"
    assert body["reason"] == "insufficient_buying_power"
    stored = client.get(
        f"/v1/accounts/{alice.account_id}/orders/{body['order_id']}", headers=alice.headers
    ).json()
    assert (stored["status"], stored["reject_code"]) == ("rejected", "insufficient_buying_power")


def test_position_and_ledger_change_after_a_fill(client: httpx.Client, holder: ApiUser) -> None:
    pos = client.get(
        f"/v1/accounts/{holder.account_id}/positions/AAPL", headers=holder.headers
    ).json()
    assert Decimal(pos["qty"]) == 4 and Decimal(pos["avg_entry_price"]) == Decimal("50.00")
    summary = client.get(f"/v1/accounts/{holder.account_id}/summary", headers=holder.headers).json()
    assert Decimal(summary["cash"]) == Decimal("99800.00")
    acts = client.get(f"/v1/accounts/{holder.account_id}/activities", headers=holder.headers).json()
    assert any(a["activity_type"] == "fill" for a in acts["activities"])


def test_twenty_concurrent_1000_dollar_buys_on_10000_then_exactly_ten_accepted(
    client: httpx.Client, api_url: str, alice: ApiUser
) -> None:
    import asyncio

    r = client.post(
        f"/v1/accounts/{alice.account_id}/fund", json={"amount": "10000"}, headers=alice.headers
    )
    assert r.status_code == 200, r.text

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=api_url, timeout=30) as c:
            return await asyncio.gather(
                *(
                    c.post(
                        f"/v1/accounts/{alice.account_id}/orders",
                        json=limit_buy(qty="10", limit_price="100.00"),  # $1,000 each
                        headers=alice.headers,
                    )
                    for _ in range(20)
                )
            )

    responses = asyncio.run(burst())
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] * 10 + [422] * 10
    assert {r.json()["status"] for r in responses if r.status_code == 201} == {"pending_new"}
    assert {r.json()["reason"] for r in responses if r.status_code == 422} == {
        "insufficient_buying_power"
    }
    summary = client.get(f"/v1/accounts/{alice.account_id}/summary", headers=alice.headers)
    assert Decimal(summary.json()["buying_power"]) == Decimal(0)
