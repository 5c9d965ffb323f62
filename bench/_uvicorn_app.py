"""The API app for plain uvicorn (benchmarks): the same factory Serve's ingress uses.

``ELSON_BENCH_NO_RAY=1`` runs the app without joining a Ray cluster (``bench/risk.py``: the
order path alone, the risk engine hosted in-process). ``ELSON_BENCH_NO_EVENTS=1`` patches
the durable event write out of the order service, so ``bench/order_submit.py`` can measure
what it costs. Bench only: no setting does either.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from cluster.ray_runtime import init_ray
from cluster.settings import load_settings
from serve.api import create_api
from serve.services import build_services


def app() -> FastAPI:
    if os.environ.get("ELSON_BENCH_NO_EVENTS") == "1":
        from cluster.orders.service import OrderService

        OrderService._publish_in = lambda self, s, messages: None  # type: ignore[method-assign]
    settings = load_settings()
    in_ray = os.environ.get("ELSON_BENCH_NO_RAY") != "1"
    if in_ray:
        init_ray(settings)
    return create_api(build_services(settings, in_ray=in_ray, process_label="bench-uvicorn"))
