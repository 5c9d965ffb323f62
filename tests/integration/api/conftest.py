"""The real API app (create_api + build_services) on uvicorn, against the real DB and Redis."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cluster.settings import Settings
from serve.api import create_api
from serve.services import Services, build_services
from tests.kit.api import serve_in_thread
from tests.kit.openapi_check import ResponseChecker
from tests.kit.users import ApiUser, signed_in


@pytest.fixture(scope="session")
def api_settings(settings: Settings) -> Settings:
    # Every test logs in from 127.0.0.1: keep the per-IP throttle out of the way here
    # (test_login_throttle.py runs its own app with a low limit).
    # billing_poll_s: the entitlement snapshot's background poll (1 s in production) would
    # count in test_auth_steady_state's statements, which measure requests alone
    return settings.with_overrides(
        login_max_failures=10_000, api_replicas=1, job_workers=0, billing_poll_s=3600
    )


@pytest.fixture(scope="session")
def api_services(api_settings: Settings) -> Iterator[Services]:
    services = build_services(api_settings, in_ray=False, process_label="api-tests")
    yield services
    services.close()


@pytest.fixture(scope="session")
def api_url(api_services: Services) -> Iterator[str]:
    with serve_in_thread(create_api(api_services)) as url:
        yield url


@pytest.fixture(scope="session")
def response_checker(api_url: str) -> ResponseChecker:
    return ResponseChecker.fetch(api_url)


@pytest.fixture
def client(api_url: str, response_checker: ResponseChecker) -> Iterator[httpx.Client]:
    """Every 2xx JSON answer is checked against the OpenAPI (closed schemas), in every test."""
    hooks = {"response": [response_checker.hook]}
    with httpx.Client(base_url=api_url, timeout=10, event_hooks=hooks) as c:
        yield c


@pytest.fixture
def alice(client: httpx.Client) -> ApiUser:
    return signed_in(client)


@pytest.fixture
def bob(client: httpx.Client) -> ApiUser:
    return signed_in(client)


@pytest.fixture
def admin(client: httpx.Client, api_services: Services) -> ApiUser:
    return signed_in(client, role="admin", services=api_services)


@pytest.fixture
def quant(client: httpx.Client, api_services: Services) -> ApiUser:
    return signed_in(client, role="quant", services=api_services)


def profile_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "legal_name": "Ada Lovelace",
        "date_of_birth": "1990-12-10",
        "tax_id": "123-45-6789",
        "phone": "+12125550100",
        "address": {
            "line1": "1 Main St",
            "city": "Springfield",
            "region": "IL",
            "postal_code": "62701",
        },
    }
    body.update(changes)
    return body
