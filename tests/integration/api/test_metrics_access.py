"""``/metrics`` is internal (issue 15, ``serve/api.py::_metrics_refusal``): in staging and
production it is not served at all without ``ELSON_METRICS_TOKEN`` (404, as if absent:
Prometheus scrapes Ray's metrics port inside the cluster), and with a token only a
bearer of it gets the Prometheus text (401 otherwise); in dev/test it answers anyone.

The app is the real one (create_api over the session's services, no Ray); only its
settings change, because ``_metrics_refusal`` reads them per request. Serve's own routes
(``/-/routes``, ``/-/healthz``) belong to Ray Serve's proxy, not to this app: they are kept
from outside by the Ingress (tests/unit/kuberay/test_manifests.py::
test_only_public_paths_are_routed_from_outside_and_over_tls), not testable here without Ray.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cluster.settings import Settings
from serve.services import Services
from tests.kit.api import api_with, protected_settings
from tests.kit.users import assert_problem

TOKEN = "metrics-" + "k" * 40


@contextmanager
def client_of(services: Services, settings: Settings) -> Iterator[httpx.Client]:
    with api_with(services, settings) as url, httpx.Client(base_url=url, timeout=10) as c:
        yield c


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("env", ["staging", "production"])
def test_metrics_in_protected_env_without_a_token_then_404_to_everyone(
    env: str, api_settings: Settings, api_services: Services
) -> None:
    with client_of(api_services, protected_settings(api_settings, env, None)) as c:
        assert_problem(c.get("/metrics"), 404, "not-found")
        assert_problem(c.get("/metrics", headers=_bearer(TOKEN)), 404, "not-found")
        assert c.get("/healthz").status_code == 200  # the app itself answers


@pytest.mark.parametrize("env", ["staging", "production"])
def test_metrics_in_protected_env_with_a_token_then_only_its_bearer_gets_prometheus_text(
    env: str, api_settings: Settings, api_services: Services
) -> None:
    with client_of(api_services, protected_settings(api_settings, env, TOKEN)) as c:
        assert_problem(c.get("/metrics"), 401, "unauthenticated")
        assert_problem(c.get("/metrics", headers=_bearer("k" * 48)), 401, "unauthenticated")
        assert_problem(c.get("/metrics", headers=_bearer(TOKEN[:-1])), 401, "unauthenticated")
        assert_problem(c.get("/metrics", headers=_bearer(TOKEN + "k")), 401, "unauthenticated")
        r = c.get("/metrics", headers=_bearer(TOKEN))
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
        families = {f.name: f for f in text_string_to_metric_families(r.text)}
        # the refused scrapes above were counted, by route and status, in base units
        refused = [
            s
            for s in families["elson_http_requests"].samples
            if s.labels.get("route") == "/metrics" and s.labels.get("status") == "401"
        ]
        assert refused and refused[0].value >= 4
        assert "elson_http_request_duration_seconds" in families


def test_metrics_in_test_env_without_a_token_then_open(api_url: str) -> None:
    r = httpx.get(f"{api_url}/metrics", timeout=10)
    assert r.status_code == 200, r.text
    names = {f.name for f in text_string_to_metric_families(r.text)}
    assert "elson_http_requests" in names


def test_metrics_in_dev_with_a_token_then_the_token_is_required(
    api_settings: Settings, api_services: Services
) -> None:
    dev = api_settings.with_overrides(env="dev", metrics_token=TOKEN)
    with client_of(api_services, dev) as c:
        assert_problem(c.get("/metrics"), 401, "unauthenticated")
        assert c.get("/metrics", headers=_bearer(TOKEN)).status_code == 200
