"""The Serve app from the typed builder: health, readiness, problems, whole-app metrics."""

from __future__ import annotations

import re
import time

import httpx
import pytest

pytestmark = pytest.mark.ray


def test_healthz_and_readyz_through_serve(serve_app: str) -> None:
    assert httpx.get(f"{serve_app}/healthz").json() == {"status": "alive"}
    ready = httpx.get(f"{serve_app}/readyz", timeout=10)
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    assert {"postgres", "redis", "ray"} <= set(checks)
    assert all(c["state"] == "up" for c in checks.values())


def test_unknown_path_then_problem_json_with_request_id(serve_app: str) -> None:
    r = httpx.get(f"{serve_app}/v1/nothing-here", headers={"x-request-id": "abc123"})
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["type"] == "/problems/not-found"
    assert body["request_id"]
    assert "Traceback" not in r.text


def test_one_scrape_shows_requests_latency_and_pools_of_every_replica(serve_app: str) -> None:
    with httpx.Client(base_url=serve_app, timeout=10) as http:
        for _ in range(40):
            assert http.get("/v1/version").status_code == 200
            http.get("/readyz")
        deadline = time.monotonic() + 30
        text = ""
        while time.monotonic() < deadline:
            text = http.get("/metrics").text
            processes = set(
                re.findall(r'ray_elson_db_pool_connections\{[^}]*component="([^"]+)"', text)
            )
            if (
                'route="/v1/version"' in text
                and "ray_elson_http_request_duration_seconds_bucket" in text
                and {"api", "gateway"} <= processes
            ):
                break
            time.sleep(1)
    assert re.search(r'ray_elson_http_requests_total\{[^}]*route="/v1/version"[^}]*\} (\d+)', text)
    assert "ray_elson_http_request_duration_seconds_bucket" in text
    processes = set(re.findall(r'ray_elson_db_pool_connections\{[^}]*component="([^"]+)"', text))
    # One series per component (api, gateway), never per process (issue 15).
    assert {"api", "gateway"} <= processes, f"pool gauges from {processes}"
    assert not re.search(r'ray_elson_\w+\{[^}]*\b(pid|process)="', text)
    assert 'state="checked_out"' in text and 'state="limit"' in text
