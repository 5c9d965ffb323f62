"""The floor of ``bench/order_submit.py``: a route that only verifies the token and inserts
one row in one transaction, on the same pool as the order path, so the bench can say how
close order submission gets to the least a write request can cost in this app.

Registered only with ``ELSON_BENCH_FLOOR_ROUTE=true`` (refused outside dev/test), and kept
out of the OpenAPI document. The bench creates the ``bench_floor`` table it writes.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import text

from serve.deps import CurrentUser
from serve.services import Services

_INSERT = text("INSERT INTO bench_floor (user_id) VALUES (:user)")


def register(app: FastAPI, services: Services) -> None:
    if not services.settings.bench_floor_route:
        return
    router = APIRouter(prefix="/v1/bench", include_in_schema=False)

    @router.post("/floor", status_code=201)
    async def bench_floor(who: CurrentUser) -> dict[str, bool]:
        def insert() -> None:
            with services.db.session() as s:
                s.execute(_INSERT, {"user": who.user_id})

        await run_in_threadpool(insert)
        return {"ok": True}

    app.include_router(router)
