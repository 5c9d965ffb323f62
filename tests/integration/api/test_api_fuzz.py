"""Property-based fuzzing of the whole OpenAPI (schemathesis), positive and negative
inputs, bounded in examples and time: no 5xx, and every response matches its documented
status code, content type and schema. Any finding fails the test, naming the operation."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cluster.settings import Settings
from tests.kit.users import ApiUser, signed_in

pytestmark = [pytest.mark.slow, pytest.mark.ray]  # market-data routes call Ray
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_OPERATION = 15
TIME_BUDGET_S = 120.0
# Operations that would end the fuzzing user's own session and turn the rest into 401s
# are fuzzed without credentials (their unauthenticated paths are what is checked).
WITHOUT_AUTH = ("/v1/auth/logout", "/v1/sessions")


@pytest.fixture(scope="module")
def fuzz_url(ray_cluster: None, api_settings: Settings) -> Iterator[str]:
    """The whole API with live feed shards (in a namespace of its own), so market-data
    routes answer from real shards instead of 503."""
    import ray

    from actors.feed_supervisor import ensure
    from serve.api import create_api
    from serve.services import build_services
    from tests.kit.api import serve_in_thread

    s = api_settings.with_overrides(
        ray_namespace=f"elson-fuzz-{uuid.uuid4().hex[:6]}",
        feed_always_open=True,
        feed_shards=2,
        feed_tick_interval_s=0.5,
    )
    names = ensure(s)
    services = build_services(s, in_ray=True, process_label="fuzz")
    try:
        with serve_in_thread(create_api(services)) as url:
            yield url
    finally:
        services.close()
        for name in names:  # the supervisor first: it would replace killed shards
            try:
                ray.kill(ray.get_actor(name, namespace=s.ray_namespace), no_restart=True)
            except ValueError:
                pass


@pytest.fixture(scope="module")
def fuzz_user(fuzz_url: str) -> Iterator[ApiUser]:
    with httpx.Client(base_url=fuzz_url, timeout=10) as client:
        yield signed_in(client)


def fuzz_one(operation: Any, mode: Any, headers: dict[str, str]) -> Any:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    return run


def test_no_server_errors_and_responses_match_the_schema(fuzz_url: str, fuzz_user: ApiUser) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzz_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30, "the OpenAPI document should list the whole API"
    deadline = time.monotonic() + TIME_BUDGET_S
    findings: list[str] = []
    fuzzed = 0
    for operation in operations:
        if time.monotonic() > deadline:
            break
        headers = {} if operation.path.startswith(WITHOUT_AUTH) else fuzz_user.headers
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            run = fuzz_one(operation, mode, headers)
            try:
                run()
            except (KeyboardInterrupt, SystemExit):
                raise
            except Unsatisfiable:
                # no invalid input exists (e.g. GET /healthz has no parameters): nothing to fuzz
                continue
            except BaseException as exc:  # a finding (schemathesis raises a group): go on
                findings.append(f"{operation.label} [{mode.value}]: {str(exc)[:600]}")
        fuzzed += 1
    assert not findings, "\n\n".join(findings)
    assert fuzzed == len(operations), (
        f"time budget ran out after {fuzzed}/{len(operations)} operations"
    )
