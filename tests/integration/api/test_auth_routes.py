"""Register, login, refresh, logout and session routes over real HTTP."""

from __future__ import annotations

import httpx

from tests.kit.users import PASSWORD, ApiUser, assert_problem, login, new_email, register


def test_register_when_valid_then_201_with_user_and_account(client: httpx.Client) -> None:
    email = new_email("Reg").upper()
    r = client.post(
        "/v1/auth/register",
        json={"email": email, "password": PASSWORD, "account_type": "ira"},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["user"]["email"] == email.lower()
    assert body["user"]["role"] == "user"
    assert body["account"]["type"] == "ira"
    assert "password" not in r.text and "password_hash" not in r.text


def test_register_when_email_taken_then_409_without_details(client: httpx.Client) -> None:
    user = register(client)
    r = client.post(
        "/v1/auth/register",
        json={"email": user.email.upper(), "password": PASSWORD, "account_type": "individual"},
    )
    body = assert_problem(r, 409, "conflict")
    assert user.email not in body["detail"]


def test_register_when_password_weak_then_422_names_field_and_rule(client: httpx.Client) -> None:
    cases = {
        "short1A!": "min-length",
        "aaaaaaaaaaaaaaaa": "character-classes",
        "password1234": "common-password",
    }
    for password, rule in cases.items():
        r = client.post(
            "/v1/auth/register",
            json={"email": new_email(), "password": password, "account_type": "individual"},
        )
        body = assert_problem(r, 422, "validation")
        assert body["errors"] == [{"field": "password", "rule": rule, "message": body["detail"]}]
    email = new_email()
    r = client.post(
        "/v1/auth/register", json={"email": email, "password": email, "account_type": "joint"}
    )
    assert assert_problem(r, 422, "validation")["errors"][0]["rule"] == "not-email"


def test_register_when_email_or_type_invalid_then_422(client: httpx.Client) -> None:
    r = client.post(
        "/v1/auth/register",
        json={"email": "not-an-email", "password": PASSWORD, "account_type": "individual"},
    )
    assert assert_problem(r, 422, "validation")["errors"][0]["field"] == "email"
    r = client.post(
        "/v1/auth/register",
        json={"email": new_email(), "password": PASSWORD, "account_type": "hedge-fund"},
    )
    assert assert_problem(r, 422, "validation")["errors"][0]["field"] == "account_type"


def test_register_custodial_when_minor_is_adult_then_422_minor_required(
    client: httpx.Client,
) -> None:
    r = client.post(
        "/v1/auth/register",
        json={
            "email": new_email(),
            "password": PASSWORD,
            "account_type": "custodial",
            "minor": {"legal_name": "Grown Up", "date_of_birth": "1990-01-01"},
        },
    )
    err = assert_problem(r, 422, "validation")["errors"][0]
    assert (err["field"], err["rule"]) == ("minor.date_of_birth", "minor-required")


def test_login_when_valid_then_token_pair(client: httpx.Client) -> None:
    user = register(client)
    pair = login(client, user)
    assert pair["token_type"] == "bearer"
    assert pair["expires_in"] == 900
    me = client.get("/v1/users/me", headers=user.headers)
    assert me.status_code == 200 and me.json()["id"] == user.id


def test_login_when_wrong_password_or_unknown_email_then_same_401(client: httpx.Client) -> None:
    user = register(client)
    wrong = client.post("/v1/auth/login", json={"email": user.email, "password": "x" * 12})
    unknown = client.post("/v1/auth/login", json={"email": new_email(), "password": PASSWORD})
    a = assert_problem(wrong, 401, "unauthenticated")
    b = assert_problem(unknown, 401, "unauthenticated")
    assert a["detail"] == b["detail"]


def test_login_when_body_invalid_then_422(client: httpx.Client) -> None:
    r = client.post("/v1/auth/login", json={"email": "ada@example.com"})
    assert assert_problem(r, 422, "validation")["errors"][0]["field"] == "password"


def test_refresh_when_valid_then_rotates_and_old_token_is_used(
    client: httpx.Client, alice: ApiUser
) -> None:
    old = alice.refresh
    r = client.post("/v1/auth/refresh", json={"refresh_token": old})
    assert r.status_code == 200, r.text
    pair = r.json()
    assert pair["refresh_token"] != old
    assert pair["session_id"] == alice.session_id
    assert (
        client.get(
            "/v1/users/me", headers={"Authorization": f"Bearer {pair['access_token']}"}
        ).status_code
        == 200
    )
    # Within the grace window a replay is refused but does not kill the session.
    again = client.post("/v1/auth/refresh", json={"refresh_token": old})
    assert_problem(again, 401, "unauthenticated")
    assert (
        client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code
        == 200
    )


def test_refresh_when_body_invalid_or_token_unknown_then_422_or_401(client: httpx.Client) -> None:
    assert_problem(client.post("/v1/auth/refresh", json={}), 422, "validation")
    assert_problem(
        client.post("/v1/auth/refresh", json={"refresh_token": "nope"}), 401, "unauthenticated"
    )


def test_logout_when_authenticated_then_204_and_token_dead(
    client: httpx.Client, alice: ApiUser
) -> None:
    assert client.post("/v1/auth/logout", headers=alice.headers).status_code == 204
    assert_problem(client.get("/v1/users/me", headers=alice.headers), 401, "unauthenticated")
    r = client.post("/v1/auth/refresh", json={"refresh_token": alice.refresh})
    assert_problem(r, 401, "unauthenticated")


def test_logout_when_unauthenticated_then_401(client: httpx.Client) -> None:
    assert_problem(client.post("/v1/auth/logout"), 401, "unauthenticated")


def test_sessions_list_when_two_logins_then_both_listed_with_current_flag(
    client: httpx.Client, alice: ApiUser
) -> None:
    first = alice.session_id
    login(client, alice, **{"User-Agent": "second-device"})
    r = client.get("/v1/sessions", headers=alice.headers)
    assert r.status_code == 200
    sessions = {s["id"]: s for s in r.json()}
    assert set(sessions) == {first, alice.session_id}
    assert sessions[alice.session_id]["current"] is True
    assert sessions[alice.session_id]["user_agent"] == "second-device"
    assert sessions[first]["current"] is False
    assert "ip" not in sessions[first]


def test_sessions_when_unauthenticated_then_401(client: httpx.Client) -> None:
    assert_problem(client.get("/v1/sessions"), 401, "unauthenticated")
    assert_problem(
        client.delete("/v1/sessions/00000000-0000-0000-0000-000000000000"), 401, "unauthenticated"
    )


def test_revoke_session_when_own_then_204_and_that_session_dies(
    client: httpx.Client, alice: ApiUser
) -> None:
    old = ApiUser(alice.id, alice.email, alice.password, alice.account_id)
    old.take(
        {
            "access_token": alice.access,
            "refresh_token": alice.refresh,
            "session_id": alice.session_id,
        }
    )
    login(client, alice)
    r = client.delete(f"/v1/sessions/{old.session_id}", headers=alice.headers)
    assert r.status_code == 204
    assert_problem(client.get("/v1/users/me", headers=old.headers), 401, "unauthenticated")
    assert client.get("/v1/users/me", headers=alice.headers).status_code == 200


def test_revoke_session_when_another_users_then_404_and_it_lives(
    client: httpx.Client, alice: ApiUser, bob: ApiUser
) -> None:
    r = client.delete(f"/v1/sessions/{bob.session_id}", headers=alice.headers)
    assert_problem(r, 404, "not-found")
    assert_problem(
        client.delete("/v1/sessions/not-a-uuid", headers=alice.headers), 404, "not-found"
    )
    assert client.get("/v1/users/me", headers=bob.headers).status_code == 200
