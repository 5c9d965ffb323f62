"""Operation ids come from route names and are refused when two routes share one; the
WebSocket unions reach the document's components."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, FastAPI

from serve.openapi import check_operation_ids, install_openapi, operation_id
from serve.schemas.base import PublicModel
from tests.kit.openapi_check import closed


class Thing(PublicModel):
    id: str


def _app() -> FastAPI:
    return FastAPI(generate_unique_id_function=operation_id)


def test_operation_id_when_route_registered_then_its_function_name() -> None:
    app = _app()

    @app.get("/things/{id}")
    async def get_thing(id: str) -> Thing:
        return Thing(id=id)

    install_openapi(app)
    doc = app.openapi()
    assert doc["paths"]["/things/{id}"]["get"]["operationId"] == "get_thing"
    assert {"WsServerMessage", "WsClientMessage", "WsEventMessage"} <= set(
        doc["components"]["schemas"]
    )
    assert doc["components"]["schemas"]["Thing"]["additionalProperties"] is False


def test_check_operation_ids_when_two_routes_share_a_name_then_refused() -> None:
    app = _app()
    for prefix in ("/a", "/b"):
        router = APIRouter(prefix=prefix)

        @router.get("/thing")
        async def get_thing() -> Thing:
            return Thing(id="x")

        app.include_router(router)
    with (
        pytest.warns(UserWarning, match="Duplicate Operation ID"),  # FastAPI only warns
        pytest.raises(RuntimeError, match="duplicate OpenAPI operation ids: get_thing"),
    ):
        install_openapi(app)
    with pytest.raises(RuntimeError, match="duplicate"):
        check_operation_ids(
            {"paths": {"/a": {"get": {"operationId": "x"}}, "/b": {"put": {"operationId": "x"}}}}
        )


def test_closed_when_schema_leaves_extras_open_then_closes_it_but_keeps_typed_extras() -> None:
    schema = {
        "properties": {"a": {"properties": {"b": {"type": "string"}}}},
        "additionalProperties": {"type": "integer"},
    }
    out = closed(schema)
    assert out["additionalProperties"] == {"type": "integer"}
    assert out["properties"]["a"]["additionalProperties"] is False
