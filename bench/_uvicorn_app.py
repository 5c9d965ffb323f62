"""The API app for plain uvicorn (benchmarks): the same factory Serve's ingress uses."""

from __future__ import annotations

from fastapi import FastAPI

from cluster.ray_runtime import init_ray
from cluster.settings import load_settings
from serve.api import create_api
from serve.services import build_services


def app() -> FastAPI:
    settings = load_settings()
    init_ray(settings)
    return create_api(build_services(settings, in_ray=True, process_label="bench-uvicorn"))
