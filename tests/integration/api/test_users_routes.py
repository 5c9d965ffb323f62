"""The caller's user record and profile; admin access to any profile."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, date, datetime

import httpx
import pytest

from serve.services import Services
from tests.integration.api.conftest import profile_body
from tests.kit.users import ApiUser, assert_problem


def test_me_when_quant_then_role_quant(client: httpx.Client, quant: ApiUser) -> None:
    r = client.get("/v1/users/me", headers=quant.headers)
    assert r.status_code == 200 and r.json()["role"] == "quant"


def test_me_when_unauthenticated_then_401(client: httpx.Client) -> None:
    assert_problem(client.get("/v1/users/me"), 401, "unauthenticated")


def test_put_profile_when_valid_then_stored_and_tax_id_masked(
    client: httpx.Client, alice: ApiUser, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    r = client.put(
        "/v1/users/me/profile", json=profile_body(tax_id="123456789"), headers=alice.headers
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["tax_id_masked"] == "***-**-6789"
    assert "123-45-6789" not in r.text and "123456789" not in r.text
    got = client.get("/v1/users/me/profile", headers=alice.headers)
    assert got.status_code == 200 and got.json() == body
    assert "123-45-6789" not in caplog.text and "1990-12-10" not in caplog.text


def test_get_profile_when_none_yet_then_404(client: httpx.Client, alice: ApiUser) -> None:
    assert_problem(client.get("/v1/users/me/profile", headers=alice.headers), 404, "not-found")


@pytest.mark.parametrize(
    ("changes", "field", "rule"),
    [
        ({"tax_id": "000-12-3456"}, "tax_id", "ssn-area"),
        ({"tax_id": "666-12-3456"}, "tax_id", "ssn-area"),
        ({"tax_id": "123-00-3456"}, "tax_id", "ssn-group"),
        ({"tax_id": "123-45-0000"}, "tax_id", "tax-id-serial"),
        ({"tax_id": "900-12-3456"}, "tax_id", "itin-group"),
        ({"phone": "2125550100"}, "phone", "e164-format"),
        ({"date_of_birth": "2015-01-01"}, "date_of_birth", "adult-required"),
        ({"date_of_birth": "2999-01-01"}, "date_of_birth", "not-in-future"),
        ({"legal_name": ""}, "legal_name", "string_too_short"),
        ({"extra": 1}, "extra", "extra_forbidden"),
    ],
)
def test_put_profile_when_field_invalid_then_422_names_field_and_rule(
    client: httpx.Client, alice: ApiUser, changes: dict[str, object], field: str, rule: str
) -> None:
    r = client.put("/v1/users/me/profile", json=profile_body(**changes), headers=alice.headers)
    err = assert_problem(r, 422, "validation")["errors"][0]
    assert (err["field"], err["rule"]) == (field, rule)


def test_put_profile_when_address_invalid_then_422(client: httpx.Client, alice: ApiUser) -> None:
    address = {"line1": "1 Main", "city": "X", "region": "ZZ", "postal_code": "62701"}
    r = client.put(
        "/v1/users/me/profile", json=profile_body(address=address), headers=alice.headers
    )
    err = assert_problem(r, 422, "validation")["errors"][0]
    assert (err["field"], err["rule"]) == ("address.region", "us-state")
    address = {**address, "region": "IL", "postal_code": "6270"}
    r = client.put(
        "/v1/users/me/profile", json=profile_body(address=address), headers=alice.headers
    )
    assert assert_problem(r, 422, "validation")["errors"][0]["field"] == "address.postal_code"


def test_profile_when_unauthenticated_then_401(client: httpx.Client) -> None:
    assert_problem(client.get("/v1/users/me/profile"), 401, "unauthenticated")
    assert_problem(client.put("/v1/users/me/profile", json=profile_body()), 401, "unauthenticated")


def test_admin_get_profile_when_admin_then_200_masked(
    client: httpx.Client, alice: ApiUser, admin: ApiUser
) -> None:
    client.put("/v1/users/me/profile", json=profile_body(), headers=alice.headers)
    r = client.get(f"/v1/users/{alice.id}/profile", headers=admin.headers)
    assert r.status_code == 200 and r.json()["tax_id_masked"] == "***-**-6789"


def test_admin_get_profile_when_user_or_quant_then_403(
    client: httpx.Client, alice: ApiUser, bob: ApiUser, quant: ApiUser
) -> None:
    client.put("/v1/users/me/profile", json=profile_body(), headers=alice.headers)
    for caller in (bob, quant, alice):
        r = client.get(f"/v1/users/{alice.id}/profile", headers=caller.headers)
        assert_problem(r, 403, "forbidden")


def test_admin_get_profile_when_unknown_or_malformed_id_then_404_or_422(
    client: httpx.Client, admin: ApiUser
) -> None:
    r = client.get("/v1/users/00000000-0000-0000-0000-000000000000/profile", headers=admin.headers)
    assert_problem(r, 404, "not-found")
    r = client.get("/v1/users/nope/profile", headers=admin.headers)
    assert assert_problem(r, 422, "validation")["errors"][0]["field"] == "user_id"


def test_admin_get_profile_when_unauthenticated_then_401(
    client: httpx.Client, alice: ApiUser
) -> None:
    assert_problem(client.get(f"/v1/users/{alice.id}/profile"), 401, "unauthenticated")


def test_profile_of_another_user_is_unreachable_through_me(
    client: httpx.Client, alice: ApiUser, bob: ApiUser
) -> None:
    client.put(
        "/v1/users/me/profile", json=profile_body(legal_name="Alice A"), headers=alice.headers
    )
    r = client.get("/v1/users/me/profile", headers=bob.headers)
    assert_problem(r, 404, "not-found")


def test_put_profile_when_control_characters_then_422_printable(
    client: httpx.Client, alice: ApiUser
) -> None:
    r = client.put(
        "/v1/users/me/profile",
        json=profile_body(legal_name="Ada\x00Lovelace"),
        headers=alice.headers,
    )
    err = assert_problem(r, 422, "validation")["errors"][0]
    assert (err["field"], err["rule"]) == ("legal_name", "printable")


def test_profile_statement_error_when_raised_then_message_hides_pii(
    api_services: Services,
) -> None:
    from sqlalchemy.exc import StatementError

    from cluster.accounts import repository as repo
    from cluster.accounts.cipher import IdentityCipher
    from cluster.accounts.types import ProfileInput

    bad = ProfileInput("Ada\x00Secret", date(1990, 1, 1), tax_id="123-45-6789")
    with pytest.raises(StatementError) as caught, api_services.db.session() as s:
        repo.upsert_profile(s, IdentityCipher(), str(uuid.uuid4()), None, bad, datetime.now(UTC))
    assert "123-45-6789" not in str(caught.value)
    assert "Secret" not in str(caught.value)
