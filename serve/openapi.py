"""The OpenAPI document a client generator can use: stable operation ids, and the
WebSocket messages as components.

Operation ids are the route function's name (``submit_order``; name it verb first, for
the generated client's sake): stable while the function keeps its name, and refused at
start-up when two routes share one. An explicit ``operation_id=`` must follow the same
snake_case form. The gateway's message unions (``serve.gateway_schemas``) are added
as ``WsServerMessage`` and ``WsClientMessage`` (plus every model they use), so the console
generates its socket types from the same document as its REST types.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import FastAPI

COMPONENT_REF = "#/components/schemas/{model}"


def operation_id(route: Any) -> str:
    """``generate_unique_id_function`` of the app: the route function's name, as is."""
    return route.name


def check_operation_ids(doc: dict[str, Any]) -> None:
    """Refuse a document where two operations share an id (FastAPI only warns)."""
    ids = Counter(
        op.get("operationId") for item in doc.get("paths", {}).values() for op in item.values()
    )
    duplicated = sorted(str(i) for i, n in ids.items() if n > 1)
    if duplicated:
        raise RuntimeError(f"duplicate OpenAPI operation ids: {', '.join(duplicated)}")


def install_openapi(app: FastAPI) -> None:
    """Build the document now (a duplicate operation id fails the start, not a client's
    generator later) with the WebSocket unions added; ``/openapi.json`` serves it."""
    doc = app.openapi()
    check_operation_ids(doc)
    _add_ws_components(doc)
    app.openapi_schema = doc


def _add_ws_components(doc: dict[str, Any]) -> None:
    from serve.gateway_schemas import union_schemas

    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in union_schemas(COMPONENT_REF).items():
        if name not in schemas:
            schemas[name] = schema
        elif _shape(schemas[name]) != _shape(schema):  # two models with one name
            raise RuntimeError(f"OpenAPI component {name} differs between REST and WebSocket")


def _shape(schema: Any) -> Any:
    """A schema without ``default``s (FastAPI drops some ``default: null``; pydantic not)."""
    if isinstance(schema, dict):
        return {k: _shape(v) for k, v in schema.items() if k != "default"}
    if isinstance(schema, list):
        return [_shape(v) for v in schema]
    return schema
