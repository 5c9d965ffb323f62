"""Acceptance: in steady state an authenticated request costs no session, user or
ownership query. Counted on the real app's engine (``before_cursor_execute``) over
requests through HTTP, after one warm-up request per route.
"""

from __future__ import annotations

import time

import httpx

from serve.services import Services
from tests.kit.statements import recorded, touching
from tests.kit.users import ApiUser, assert_problem

N = 30


def _cache_trusted(services: Services) -> None:
    cache = services.auth.sessions.cache
    deadline = time.monotonic() + 5
    while not cache.trusted:
        assert time.monotonic() < deadline, "auth cache never trusted"
        time.sleep(0.01)


def test_auth_only_route_then_zero_statements(
    client: httpx.Client, alice: ApiUser, api_services: Services
) -> None:
    """``GET /v1/strategies`` needs a live session and nothing else from the database."""
    _cache_trusted(api_services)
    assert client.get("/v1/strategies", headers=alice.headers).status_code == 200  # warm-up
    with recorded(api_services.db.engine) as statements:
        for _ in range(N):
            assert client.get("/v1/strategies", headers=alice.headers).status_code == 200
    assert statements == []


def test_account_route_then_no_session_user_or_owner_statement(
    client: httpx.Client, alice: ApiUser, api_services: Services
) -> None:
    """An account read: only the route's own query (the orders), no auth or ownership."""
    _cache_trusted(api_services)
    path = f"/v1/accounts/{alice.account_id}/orders"
    assert client.get(path, headers=alice.headers).status_code == 200  # warm-up
    with recorded(api_services.db.engine) as statements:
        for _ in range(N):
            assert client.get(path, headers=alice.headers).status_code == 200
    assert touching(statements, "sessions", "users", "owner_user_id") == []
    assert len(statements) <= 2 * N, statements[:6]  # the route's own reads, nothing per auth


def test_steady_state_then_logout_still_refused_at_once(
    client: httpx.Client, alice: ApiUser, api_services: Services
) -> None:
    _cache_trusted(api_services)
    for _ in range(3):
        assert client.get("/v1/strategies", headers=alice.headers).status_code == 200
    assert client.post("/v1/auth/logout", headers=alice.headers).status_code == 204
    assert_problem(client.get("/v1/strategies", headers=alice.headers), 401, "unauthenticated")
