"""Checks over HTTP: ``/metrics`` scrapes, TLS on every external endpoint in production."""

from __future__ import annotations

import socket
import ssl
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from cluster.check.result import CheckFailed
from cluster.settings import Settings


def metrics_scrape(url: str, token: str | None, timeout_s: float) -> str:
    from prometheus_client.parser import text_string_to_metric_families

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    req = urllib.request.Request(f"{url.rstrip('/')}/metrics", headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310
            body = resp.read().decode()
    except urllib.error.HTTPError as exc:
        raise CheckFailed(f"/metrics answered {exc.code}") from exc
    except OSError as exc:
        raise CheckFailed(f"/metrics unreachable: {exc}") from exc
    families = [f.name for f in text_string_to_metric_families(body)]
    elson = [n for n in families if "elson_" in n]
    if not elson:
        raise CheckFailed(f"/metrics parsed ({len(families)} families) but holds no elson_ metric")
    return f"{len(families)} metric families, {len(elson)} elson_"


def tls_endpoints(settings: Settings, endpoints: list[str], timeout_s: float) -> str:
    """Production: every external endpoint is https/wss and its certificate verifies."""
    if settings.env.value != "production":
        return f"not required (env {settings.env.value})"
    checked, problems = [], []
    for endpoint in endpoints:
        parts = urlsplit(endpoint)
        if parts.scheme not in {"https", "wss"}:
            problems.append(f"{endpoint} is not TLS")
            continue
        host, port = parts.hostname or "", parts.port or 443
        ctx = ssl.create_default_context()
        try:
            with (
                socket.create_connection((host, port), timeout=timeout_s) as raw,
                ctx.wrap_socket(raw, server_hostname=host) as tls,
            ):
                checked.append(f"{host}:{port} {tls.version()}")
        except (OSError, ssl.SSLError) as exc:
            problems.append(f"{endpoint}: {exc}")
    if problems:
        raise CheckFailed("; ".join(problems))
    return ", ".join(checked)
