"""Ray bring-up: join ``ELSON_RAY_ADDRESS`` or start a local Ray held to loopback.

Field notes: ``_node_ip_address`` alone does not keep a local Ray on 127.0.0.1; the
environment variable ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` set before Ray starts does.
Serve's high-throughput mode (HAProxy) is switched on by environment variables that must
also be set before Ray starts.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from cluster.settings import Settings

LOOPBACK = "127.0.0.1"


def local_ray_env(settings: Settings) -> dict[str, str]:
    """Environment variables that must be in place before a local Ray starts."""
    env = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
    if settings.serve_high_throughput:
        env |= {"RAY_SERVE_ENABLE_HA_PROXY": "1", "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1"}
    return env


def init_ray(settings: Settings, *, extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    """Connect to or start Ray; returns the context's address info."""
    env = local_ray_env(settings) if settings.ray_address is None else {}
    env |= extra_env or {}
    # Ray reads these when it is imported: set them first.
    os.environ.update(env)
    import ray

    if ray.is_initialized():
        return {"address": ray.get_runtime_context().gcs_address}
    runtime_env = {"env_vars": env} if env else None
    if settings.ray_address is not None:
        ctx = ray.init(
            address=settings.ray_address,
            namespace=settings.ray_namespace,
            runtime_env=runtime_env,
            logging_level=logging.WARNING,
        )
    else:
        ctx = ray.init(
            namespace=settings.ray_namespace,
            include_dashboard=False,
            _node_ip_address=LOOPBACK,
            runtime_env=runtime_env,
            logging_level=logging.WARNING,
            configure_logging=True,
        )
    return {"address": ctx.address_info.get("gcs_address")}  # type: ignore[attr-defined]


def shutdown_ray() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()
