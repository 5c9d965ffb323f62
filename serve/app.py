"""Typed Serve builders: the same entry points run locally, in tests and on KubeRay.

``serve.app:build_app`` builds the REST API application and ``serve.app:build_gateway``
the WebSocket gateway (its own application and deployment: a socket holds one replica
slot for its whole life, so the gateway gets a high ``max_ongoing_requests``). Both
ensure the platform's named actors exist (adopting running ones), so a RayService needs
nothing else than these two import paths.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, ConfigDict
from ray import serve
from ray.serve import Application

from cluster.logging import configure_logging
from cluster.secrets.startup import settings_from_sources
from cluster.settings import Settings
from serve.services import Services, actor_check, build_services

log = logging.getLogger(__name__)


class AppArgs(BaseModel):
    """Arguments a Serve config may pass; anything else comes from ``ELSON_*`` variables."""

    model_config = ConfigDict(extra="forbid")
    settings: dict[str, Any] = {}


Args = dict[str, Any] | AppArgs | Settings | None


def _settings(args: Args) -> Settings:
    """``elson up`` passes its settings whole (built once, clock anchor included); a Serve
    config (KubeRay) passes ``AppArgs`` and the rest comes from the environment."""
    if isinstance(args, Settings):
        return args
    parsed = args if isinstance(args, AppArgs) else AppArgs.model_validate(args or {})
    return settings_from_sources(**parsed.settings)


@serve.deployment(name="api", ray_actor_options={"num_cpus": 0})
@serve.ingress()
class ApiIngress:
    def __init__(self, settings: Settings, actor_names: list[str]) -> None:
        configure_logging(settings.log_level, json_format=settings.env.is_protected)
        self.services: Services = build_services(settings, in_ray=True)
        self.services.extra_checks.extend(
            actor_check(name, settings.ray_namespace) for name in actor_names
        )

    def __serve_build_asgi_app__(self) -> Any:
        from serve.api import create_api

        return create_api(self.services)

    def __del__(self) -> None:
        services = getattr(self, "services", None)
        if services is not None:
            services.close()


def build_app(args: Args = None) -> Application:
    settings = _settings(args)
    from actors.bootstrap import ensure_actors

    actor_names = ensure_actors(settings)
    return ApiIngress.options(  # type: ignore[attr-defined]
        num_replicas=settings.api_replicas,
        max_ongoing_requests=settings.api_max_ongoing_requests,
    ).bind(settings, actor_names)


def build_gateway(args: Args = None) -> Application:
    settings = _settings(args)
    from actors.bootstrap import ensure_actors
    from serve.gateway import Gateway
    from serve.gateway_drain import (
        DRAIN_S,
        SERVE_HEALTH_CHECK_S,
        SERVE_MARGIN_S,
        SERVE_WAIT_LOOP_S,
    )

    ensure_actors(settings)
    return Gateway.options(  # type: ignore[attr-defined]
        num_replicas=settings.gateway_replicas,
        max_ongoing_requests=settings.gateway_max_ongoing_requests,
        graceful_shutdown_timeout_s=DRAIN_S + SERVE_MARGIN_S,
        graceful_shutdown_wait_loop_s=SERVE_WAIT_LOOP_S,
        health_check_period_s=SERVE_HEALTH_CHECK_S,
    ).bind(settings)
