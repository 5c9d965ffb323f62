"""Acceptance 2: no PII in clear in any table; the owner reads it back; login and
uniqueness go by the blind index (any letter case, surrounding spaces)."""

from __future__ import annotations

from typing import Any

import httpx

from serve.services import Services
from tests.integration.pii.conftest import dump_all_tables, pii_values
from tests.kit.users import PASSWORD, ApiUser, assert_problem


def register_with_profile(client: httpx.Client, values: dict[str, Any]) -> ApiUser:
    body = {
        "email": values["email"],
        "password": PASSWORD,
        "account_type": "individual",
        "profile": {
            "legal_name": values["legal_name"],
            "date_of_birth": values["date_of_birth"],
            "tax_id": values["tax_id"],
            "phone": values["phone"],
            "address": {
                "line1": "77 Hidden Lane",
                "city": "Springfield",
                "region": "IL",
                "postal_code": "62701",
            },
        },
    }
    r = client.post("/v1/auth/register", json=body)
    assert r.status_code == 201, r.text
    data = r.json()
    return ApiUser(data["user"]["id"], values["email"], PASSWORD, data["account"]["id"])


def login(client: httpx.Client, email: str) -> httpx.Response:
    return client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})


def test_register_then_no_table_holds_pii_and_owner_reads_it_back(
    client: httpx.Client, pii_database_url: str, pii_services: Services
) -> None:
    values = pii_values()
    user = register_with_profile(client, values)

    dump = dump_all_tables(pii_database_url).casefold()
    assert "users: (" in dump and "profiles: (" in dump  # the dump does see the rows
    for name, value in values.items():
        assert value.casefold() not in dump, f"{name} stored in clear"
    assert values["tax_id"].replace("-", "") not in dump
    assert "77 hidden lane" not in dump

    user.take(login(client, values["email"]).json())
    me = client.get("/v1/users/me", headers=user.headers)
    assert me.status_code == 200 and me.json()["email"] == values["email"].lower()
    profile = client.get("/v1/users/me/profile", headers=user.headers)
    assert profile.status_code == 200, profile.text
    body = profile.json()
    assert body["legal_name"] == values["legal_name"]
    assert body["date_of_birth"] == values["date_of_birth"]
    assert body["phone"] == values["phone"]
    assert body["tax_id_masked"] == "***-**-" + values["tax_id"][-4:]  # never in full
    assert body["address"]["line1"] == "77 Hidden Lane"
    full = pii_services.auth.accounts.get_profile(user.id)  # the service decrypts it all
    assert full.tax_id == values["tax_id"]


def test_profile_of_another_user_then_not_readable(client: httpx.Client) -> None:
    owner = register_with_profile(client, pii_values())
    other_values = pii_values()
    other = register_with_profile(client, other_values)
    other.take(login(client, other_values["email"]).json())
    r = client.get(f"/v1/users/{owner.id}/profile", headers=other.headers)
    assert_problem(r, 403, "forbidden")


def test_login_with_email_in_any_case_and_surrounding_spaces_then_200(
    client: httpx.Client,
) -> None:
    values = pii_values()
    register_with_profile(client, values)
    email = values["email"]
    for variant in (email, email.lower(), email.upper(), f"  {email.swapcase()}\t "):
        r = login(client, variant)
        assert r.status_code == 200, (variant, r.text)
    assert_problem(login(client, "x" + email), 401, "unauthenticated")


def test_second_registration_of_same_email_in_other_case_then_409(
    client: httpx.Client,
) -> None:
    values = pii_values()
    register_with_profile(client, values)
    again = pii_values() | {"email": "  " + values["email"].upper()}
    r = client.post(
        "/v1/auth/register",
        json={"email": again["email"], "password": PASSWORD, "account_type": "individual"},
    )
    body = assert_problem(r, 409, "conflict")
    assert values["email"].casefold() not in str(body).casefold()
