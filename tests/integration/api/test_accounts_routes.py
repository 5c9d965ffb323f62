"""Accounts, configuration, admin ceilings and paper funding over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from serve.services import Services
from tests.kit.users import ApiUser, assert_problem

OTHER = "00000000-0000-0000-0000-00000000abcd"
MINOR = {"legal_name": "Tom Minor", "date_of_birth": "2016-04-01", "tax_id": "123-45-6789"}


# --- create / list / get ---
def test_create_account_when_custodial_with_minor_then_201_and_minor_masked(
    client: httpx.Client, alice: ApiUser
) -> None:
    r = client.post(
        "/v1/accounts", json={"type": "custodial", "minor": MINOR}, headers=alice.headers
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["type"] == "custodial" and body["owner_user_id"] == alice.id
    assert body["minor"]["tax_id_masked"] == "***-**-6789"
    got = client.get(f"/v1/accounts/{body['id']}", headers=alice.headers)
    assert got.status_code == 200 and got.json()["minor"]["legal_name"] == "Tom Minor"


def test_create_account_when_invalid_then_422_names_field_and_rule(
    client: httpx.Client, alice: ApiUser
) -> None:
    cases = [
        ({"type": "custodial"}, "minor", "required-for-custodial"),
        ({"type": "individual", "minor": MINOR}, "minor", "custodial-only"),
        (
            {"type": "custodial", "minor": {**MINOR, "date_of_birth": "1980-01-01"}},
            "minor.date_of_birth",
            "minor-required",
        ),
        (
            {"type": "custodial", "minor": {**MINOR, "tax_id": "666-45-6789"}},
            "minor.tax_id",
            "ssn-area",
        ),
        ({"type": "brokerage"}, "type", "literal_error"),
    ]
    for body, field, rule in cases:
        r = client.post("/v1/accounts", json=body, headers=alice.headers)
        err = assert_problem(r, 422, "validation")["errors"][0]
        assert (err["field"], err["rule"]) == (field, rule), body


def test_accounts_when_unauthenticated_then_401(client: httpx.Client, alice: ApiUser) -> None:
    assert_problem(client.post("/v1/accounts", json={"type": "ira"}), 401, "unauthenticated")
    assert_problem(client.get("/v1/accounts"), 401, "unauthenticated")
    assert_problem(client.get(f"/v1/accounts/{alice.account_id}"), 401, "unauthenticated")


def test_list_accounts_when_quant_then_only_own(
    client: httpx.Client, quant: ApiUser, bob: ApiUser
) -> None:
    client.post("/v1/accounts", json={"type": "joint"}, headers=quant.headers)
    r = client.get("/v1/accounts", headers=quant.headers)
    assert r.status_code == 200
    assert [a["type"] for a in r.json()] == ["individual", "joint"]
    assert {a["owner_user_id"] for a in r.json()} == {quant.id}


def test_get_account_when_another_users_then_404_like_unknown(
    client: httpx.Client, alice: ApiUser, bob: ApiUser
) -> None:
    theirs = client.get(f"/v1/accounts/{bob.account_id}", headers=alice.headers)
    unknown = client.get(f"/v1/accounts/{OTHER}", headers=alice.headers)
    malformed = client.get("/v1/accounts/x'; drop table", headers=alice.headers)
    for r in (theirs, unknown, malformed):
        assert_problem(r, 404, "not-found")
    assert theirs.json()["detail"] == unknown.json()["detail"]


def test_get_account_when_admin_then_any(
    client: httpx.Client, alice: ApiUser, admin: ApiUser
) -> None:
    r = client.get(f"/v1/accounts/{alice.account_id}", headers=admin.headers)
    assert r.status_code == 200 and r.json()["owner_user_id"] == alice.id


# --- configuration ---
def test_config_when_owner_sets_limits_within_ceiling_then_effective(
    client: httpx.Client, alice: ApiUser
) -> None:
    url = f"/v1/accounts/{alice.account_id}/config"
    r = client.get(url, headers=alice.headers)
    assert r.status_code == 200
    assert Decimal(r.json()["max_order_notional"]) == Decimal(
        r.json()["ceiling_max_order_notional"]
    )
    r = client.patch(
        url,
        json={"max_order_notional": "2500.50", "allow_extended_hours": True},
        headers=alice.headers,
    )
    assert r.status_code == 200, r.text
    assert Decimal(r.json()["max_order_notional"]) == Decimal("2500.50")
    assert r.json()["allow_extended_hours"] is True
    r = client.patch(url, json={"max_order_notional": None}, headers=alice.headers)
    assert Decimal(r.json()["max_order_notional"]) == Decimal(
        r.json()["ceiling_max_order_notional"]
    )


def test_config_when_above_ceiling_or_invalid_then_422(
    client: httpx.Client, alice: ApiUser, admin: ApiUser
) -> None:
    limits = f"/v1/admin/accounts/{alice.account_id}/limits"
    r = client.patch(
        limits,
        json={"ceiling_max_order_notional": "1000", "extended_hours_permitted": False},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
    url = f"/v1/accounts/{alice.account_id}/config"
    cases = [
        ({"max_order_notional": "1000.01"}, "max_order_notional", "above-ceiling"),
        ({"max_order_notional": "0"}, "max_order_notional", "positive"),
        ({"max_position_notional": "1.001"}, "max_position_notional", "scale"),
        ({"allow_extended_hours": True}, "allow_extended_hours", "not-permitted"),
        ({"max_order_notional": "lots"}, "max_order_notional", "decimal_parsing"),
        ({"role": "admin"}, "role", "extra_forbidden"),
    ]
    for body, field, rule in cases:
        err = assert_problem(client.patch(url, json=body, headers=alice.headers), 422, "validation")
        assert (err["errors"][0]["field"], err["errors"][0]["rule"]) == (field, rule), body


def test_config_when_another_users_account_then_404(
    client: httpx.Client, alice: ApiUser, bob: ApiUser
) -> None:
    url = f"/v1/accounts/{bob.account_id}/config"
    assert_problem(client.get(url, headers=alice.headers), 404, "not-found")
    r = client.patch(url, json={"max_order_notional": "10"}, headers=alice.headers)
    assert_problem(r, 404, "not-found")


def test_config_when_admin_then_may_read_but_not_patch_users_limits(
    client: httpx.Client, alice: ApiUser, admin: ApiUser
) -> None:
    url = f"/v1/accounts/{alice.account_id}/config"
    assert client.get(url, headers=admin.headers).status_code == 200
    r = client.patch(url, json={"max_order_notional": "10"}, headers=admin.headers)
    assert_problem(r, 404, "not-found")


def test_config_when_unauthenticated_then_401(client: httpx.Client, alice: ApiUser) -> None:
    url = f"/v1/accounts/{alice.account_id}/config"
    assert_problem(client.get(url), 401, "unauthenticated")
    assert_problem(client.patch(url, json={}), 401, "unauthenticated")


def test_admin_limits_when_lowered_below_user_value_then_user_value_clamped(
    client: httpx.Client, alice: ApiUser, admin: ApiUser
) -> None:
    url = f"/v1/accounts/{alice.account_id}/config"
    client.patch(url, json={"max_position_notional": "50000"}, headers=alice.headers)
    r = client.patch(
        f"/v1/admin/accounts/{alice.account_id}/limits",
        json={"ceiling_max_position_notional": "20000"},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
    assert Decimal(r.json()["max_position_notional"]) == Decimal("20000")


def test_admin_limits_when_not_admin_then_403(
    client: httpx.Client, alice: ApiUser, quant: ApiUser
) -> None:
    url = f"/v1/admin/accounts/{alice.account_id}/limits"
    for caller in (alice, quant):
        r = client.patch(url, json={"ceiling_max_order_notional": "1"}, headers=caller.headers)
        assert_problem(r, 403, "forbidden")


def test_admin_limits_when_invalid_or_unknown_then_422_or_404(
    client: httpx.Client, alice: ApiUser, admin: ApiUser
) -> None:
    r = client.patch(
        f"/v1/admin/accounts/{alice.account_id}/limits",
        json={"ceiling_max_order_notional": "-5"},
        headers=admin.headers,
    )
    assert assert_problem(r, 422, "validation")["errors"][0]["rule"] == "positive"
    r = client.patch(f"/v1/admin/accounts/{OTHER}/limits", json={}, headers=admin.headers)
    assert_problem(r, 404, "not-found")
    assert_problem(
        client.patch(f"/v1/admin/accounts/{OTHER}/limits", json={}), 401, "unauthenticated"
    )


# --- paper funding ---
def test_fund_then_reset_when_owner_then_cash_follows(
    client: httpx.Client, alice: ApiUser, api_services: Services
) -> None:
    if api_services.orders is None:
        pytest.skip("order service not wired in this tree")
    base = f"/v1/accounts/{alice.account_id}"
    r = client.post(f"{base}/fund", json={"amount": "1500.25"}, headers=alice.headers)
    assert r.status_code == 200, r.text
    assert Decimal(r.json()["cash"]) == Decimal("1500.25")
    r = client.post(f"{base}/reset", json={"starting_cash": "100000"}, headers=alice.headers)
    assert r.status_code == 200, r.text
    assert Decimal(r.json()["cash"]) == Decimal("100000")


def test_fund_when_amount_invalid_then_422(client: httpx.Client, alice: ApiUser) -> None:
    base = f"/v1/accounts/{alice.account_id}"
    for amount, rule in (
        ("0", "greater_than"),
        ("1.001", "decimal_max_places"),
        ("x", "decimal_parsing"),
    ):
        r = client.post(f"{base}/fund", json={"amount": amount}, headers=alice.headers)
        err = assert_problem(r, 422, "validation")["errors"][0]
        assert (err["field"], err["rule"]) == ("amount", rule)
    r = client.post(f"{base}/reset", json={"starting_cash": "-1"}, headers=alice.headers)
    assert_problem(r, 422, "validation")


def test_fund_when_another_users_account_or_admin_then_404(
    client: httpx.Client, alice: ApiUser, bob: ApiUser, admin: ApiUser
) -> None:
    for caller in (bob, admin):
        for action, body in (("fund", {"amount": "5"}), ("reset", {})):
            r = client.post(
                f"/v1/accounts/{alice.account_id}/{action}", json=body, headers=caller.headers
            )
            assert_problem(r, 404, "not-found")


def test_fund_when_unauthenticated_then_401(client: httpx.Client, alice: ApiUser) -> None:
    r = client.post(f"/v1/accounts/{alice.account_id}/fund", json={"amount": "5"})
    assert_problem(r, 401, "unauthenticated")


@pytest.fixture
def no_orders(api_services: Services) -> Iterator[None]:
    saved, api_services.orders = api_services.orders, None
    try:
        yield
    finally:
        api_services.orders = saved


def test_fund_when_order_service_missing_then_503(
    client: httpx.Client, alice: ApiUser, no_orders: None
) -> None:
    r = client.post(
        f"/v1/accounts/{alice.account_id}/fund", json={"amount": "5"}, headers=alice.headers
    )
    assert_problem(r, 503, "dependency-unavailable")
