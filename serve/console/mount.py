"""Serve the built console (``serve/console/dist``) under ``/console`` of the API app:
same origin as the API and the gateway, so the page needs no base URL and no CORS."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

DIST = Path(__file__).resolve().parent / "dist"


def mount_console(app: FastAPI, dist: Path = DIST) -> None:
    @app.get("/console", include_in_schema=False)
    async def console_root() -> Response:
        return RedirectResponse("/console/", status_code=308)

    if (dist / "index.html").is_file():
        app.mount("/console", StaticFiles(directory=dist, html=True), name="console")
        return

    @app.get("/console/{rest:path}", include_in_schema=False)
    async def console_missing(rest: str) -> Response:
        return PlainTextResponse(
            "The console is not built: `./dev up` builds it (npm ci && npm run build in "
            "serve/console).",
            status_code=503,
        )
