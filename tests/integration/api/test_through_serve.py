"""Auth through the real Serve app (two API replicas): a logout on one replica is refused
by every replica at once, and the dev JWT secret is shared by the replicas.

Opt-in (``ELSON_TEST_AUTH_THROUGH_SERVE=1``, under the Ray lock ``flock
/tmp/elson-ray.lock``): it borrows the ``serve_app`` fixture of ``tests/integration/serve``,
and a second session-scoped copy of that fixture in one full-suite run would deploy the
apps twice. Its home is ``tests/integration/serve/`` (then the import and the opt-in go).
"""

from __future__ import annotations

import os

import httpx
import pytest

from tests.integration.serve.conftest import serve_app, serve_settings  # noqa: F401
from tests.kit.users import assert_problem, login, register

pytestmark = [
    pytest.mark.ray,
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("ELSON_TEST_AUTH_THROUGH_SERVE") != "1",
        reason="opt-in: set ELSON_TEST_AUTH_THROUGH_SERVE=1 (see module docstring)",
    ),
]


def test_logout_through_serve_when_replicas_then_every_request_refused(
    serve_app: str,  # noqa: F811
) -> None:
    with httpx.Client(base_url=serve_app, timeout=20) as client:
        user = register(client)
        login(client, user)
        # Many requests spread over both replicas: all accept the token (one shared secret).
        for _ in range(10):
            assert client.get("/v1/users/me", headers=user.headers).status_code == 200
        assert client.post("/v1/auth/logout", headers=user.headers).status_code == 204
        for _ in range(10):
            assert_problem(client.get("/v1/users/me", headers=user.headers), 401, "unauthenticated")
