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


# --- input edges and limits, as explicit cases on every operation of the same schema ---
NUL = "a\x00b"
OVERSIZED = {"pad": "x" * (2 * 1024 * 1024)}  # a 2 MiB JSON body, over ELSON_MAX_BODY_BYTES


def _header(response: Any, name: str) -> str:
    """One header of a schemathesis response (its headers map names to lists)."""
    values = {k.lower(): v for k, v in response.headers.items()}[name]
    return str(values[0] if isinstance(values, list) else values)


def _params(doc: dict[str, Any], operation: Any) -> dict[str, list[str]]:
    op = doc["paths"][operation.path][operation.method.lower()]
    found: dict[str, list[str]] = {"path": [], "query": [], "body": []}
    for p in op.get("parameters", []):
        if p["in"] in found:
            found[p["in"]].append(p["name"])
    if "requestBody" in op:
        found["body"].append("json")
    return found


def _edge_cases(
    doc: dict[str, Any], operation: Any, user: ApiUser
) -> Iterator[tuple[str, Any, int, str]]:
    """(label, case, expected status, expected problem slug) for one operation."""
    params = _params(doc, operation)
    valid = {name: user.account_id if "account" in name else "AAPL" for name in params["path"]}
    if params["path"]:
        nul_path = {name: NUL for name in params["path"]}
        yield "NUL in path", operation.Case(path_parameters=nul_path), 422, "validation"
    for name in params["query"] or ["unknown"]:
        case = operation.Case(path_parameters=valid, query={name: NUL})
        yield f"NUL in query {name}", case, 422, "validation"
    if params["body"]:
        case = operation.Case(path_parameters=valid, body=OVERSIZED, media_type="application/json")
        yield "2 MiB body", case, 413, "payload-too-large"


def test_edge_inputs_on_every_operation_then_their_problem_never_5xx(
    fuzz_url: str, fuzz_user: ApiUser
) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzz_url}/openapi.json")
    doc = httpx.get(f"{fuzz_url}/openapi.json").json()
    findings: list[str] = []
    counts: dict[int, int] = {}
    for operation in (result.ok() for result in schema.get_all_operations()):
        for label, case, status, slug in _edge_cases(doc, operation, fuzz_user):
            response = case.call(headers=fuzz_user.headers)
            try:
                case.validate_response(response, checks=[not_a_server_error])
                assert response.status_code == status, response.text[:300]
                assert _header(response, "content-type") == "application/problem+json"
                assert response.json()["type"] == f"/problems/{slug}"
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:
                findings.append(f"{operation.label} [{label}]: {str(exc)[:400]}")
            counts[status] = counts.get(status, 0) + 1
    assert not findings, "\n".join(findings)
    assert counts.get(422, 0) > 30 and counts.get(413, 0) > 5, counts


@pytest.fixture(scope="module")
def limited_url(api_settings: Settings) -> Iterator[str]:
    """The same API with a one-request IP budget (a key prefix of its own): every
    operation's second request is over the limit."""
    from serve.api import create_api
    from serve.services import build_services
    from tests.kit.api import serve_in_thread

    s = api_settings.with_overrides(
        redis_key_prefix=f"{api_settings.redis_key_prefix}fuzz-rl-{uuid.uuid4().hex[:6]}:",
        rate_limit_ip_per_s=0.001,  # no slot opens during the run
        rate_limit_ip_burst=1,
    )
    services = build_services(s, in_ray=False, process_label="fuzz-limited")
    try:
        with serve_in_thread(create_api(services)) as url:
            yield url
    finally:
        services.close()


def test_burst_on_every_operation_then_429_with_retry_after_never_5xx(
    fuzz_url: str, limited_url: str, fuzz_user: ApiUser
) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzz_url}/openapi.json")
    doc = httpx.get(f"{fuzz_url}/openapi.json").json()
    exempt = {"/healthz", "/readyz", "/metrics"}
    httpx.get(f"{limited_url}/v1/users/me")  # spends the budget of 127.0.0.1
    limited = 0
    for operation in (result.ok() for result in schema.get_all_operations()):
        params = _params(doc, operation)
        valid = {n: fuzz_user.account_id if "account" in n else "AAPL" for n in params["path"]}
        case = operation.Case(path_parameters=valid)
        response = case.call(base_url=limited_url, headers=fuzz_user.headers)
        case.validate_response(response, checks=[not_a_server_error])
        if operation.path in exempt:
            assert response.status_code != 429, operation.label
            continue
        assert response.status_code == 429, (operation.label, response.text[:300])
        assert _header(response, "content-type") == "application/problem+json"
        assert response.json()["type"] == "/problems/rate-limited"
        assert 1 <= int(_header(response, "retry-after")) <= 1000
        limited += 1
    assert limited > 30
