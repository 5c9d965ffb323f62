"""WebSocket gateway deployment (protocol filled in by the gateway module set)."""

from __future__ import annotations

from typing import Any

from ray import serve

from cluster.logging import configure_logging
from cluster.settings import Settings


@serve.deployment(name="gateway", ray_actor_options={"num_cpus": 0})
@serve.ingress()
class Gateway:
    def __init__(self, settings: Settings) -> None:
        configure_logging(settings.log_level, json_format=settings.env.is_protected)
        self.settings = settings

    def __serve_build_asgi_app__(self) -> Any:
        from fastapi import FastAPI, WebSocket

        app = FastAPI(title="Elson gateway")

        @app.get("/healthz")
        async def healthz() -> dict[str, str]:
            return {"status": "alive"}

        @app.websocket("/")
        async def socket(ws: WebSocket) -> None:
            await ws.accept()
            await ws.send_json({"type": "hello", "protocol": 1})
            await ws.close(code=4401, reason="authentication not available yet")

        return app
