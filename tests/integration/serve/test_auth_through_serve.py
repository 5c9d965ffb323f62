"""Auth through the real Serve app (two API replicas): a logout on one replica is refused
by every replica within 1 s (issue 10: each replica's session cache hears the revocation
over Redis), and the dev JWT secret is shared by the replicas.
"""

from __future__ import annotations

import time

import httpx
import pytest

from tests.kit.users import assert_problem, login, register

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_logout_through_serve_when_replicas_then_every_request_refused(
    serve_app: str,
) -> None:
    with httpx.Client(base_url=serve_app, timeout=20) as client:
        user = register(client)
        login(client, user)
        # Many requests spread over both replicas: all accept the token (one shared secret).
        for _ in range(10):
            assert client.get("/v1/users/me", headers=user.headers).status_code == 200
        assert client.post("/v1/auth/logout", headers=user.headers).status_code == 204
        logged_out = time.monotonic()
        while client.get("/v1/users/me", headers=user.headers).status_code != 401:
            assert time.monotonic() - logged_out < 1.0, "a replica still accepts the token"
        for _ in range(10):  # from then on, refused by every replica
            assert_problem(client.get("/v1/users/me", headers=user.headers), 401, "unauthenticated")
