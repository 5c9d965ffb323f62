"""Run the real API app on uvicorn in a thread, on a loopback port (no Serve)."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from cluster.settings import Settings
from serve.api import create_api
from serve.services import Services
from tests.kit.redis_server import free_port


@contextmanager
def serve_in_thread(app: FastAPI) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def protected_settings(settings: Settings, env: str, metrics_token: str | None) -> Settings:
    """``settings`` as a staging/production process would accept them (strong secrets,
    Vault on https), still on the test's database and Redis."""
    return settings.with_overrides(
        env=env,
        jwt_secret="j" * 48,
        pii_key="p" * 44,
        vault_addr="https://vault.invalid:8200",
        metrics_token=metrics_token,
    )


@contextmanager
def api_with(services: Services, settings: Settings) -> Iterator[str]:
    """The real API app over ``services`` but with other settings (what a route reads from
    ``services.settings`` per request, such as ``/metrics``'s access rule), on a port."""
    with serve_in_thread(create_api(dataclasses.replace(services, settings=settings))) as url:
        yield url
