"""Every auth/users/accounts endpoint documents its response model and its problems."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any, get_args, get_origin

import httpx
import pytest

from serve.routes import accounts, auth, users
from serve.services import Services
from tests.kit.openapi_check import ResponseChecker
from tests.kit.users import ApiUser

MINE = tuple(
    {r.path for m in (auth, users, accounts) for r in m.router.routes}  # type: ignore[attr-defined]
)


def test_openapi_when_fetched_then_every_endpoint_documents_models_and_problems(
    client: httpx.Client,
) -> None:
    doc: dict[str, Any] = client.get("/openapi.json").json()
    ops = [
        (path, method, op)
        for path, item in doc["paths"].items()
        if path in MINE
        for method, op in item.items()
    ]
    assert len(ops) >= 18
    for path, method, op in ops:
        where = f"{method.upper()} {path}"
        responses = op["responses"]
        ok = [c for c in responses if c.startswith("2")]
        assert ok, where
        if ok[0] != "204":
            assert "application/json" in responses[ok[0]]["content"], where
        if "requestBody" in op or op.get("parameters"):
            assert "422" in responses, where
        problems = [c for c in responses if c[0] in "45"]
        for code in problems:
            content = responses[code]["content"]
            assert "application/problem+json" in content, (where, code)
            assert content["application/problem+json"]["schema"]["$ref"].endswith("/Problem")
        if "security" in op or any(p.get("in") == "header" for p in op.get("parameters", [])):
            assert "401" in responses, where
    assert "Problem" in doc["components"]["schemas"]


def test_openapi_when_authenticated_route_then_401_documented(client: httpx.Client) -> None:
    doc = client.get("/openapi.json").json()
    public = {
        ("/v1/auth/register", "post"),
        ("/v1/auth/login", "post"),
        ("/v1/auth/refresh", "post"),
    }
    for path, item in doc["paths"].items():
        if path not in MINE:
            continue
        for method, op in item.items():
            if (path, method) not in public:
                assert "401" in op["responses"], f"{method} {path}"
                assert op.get("security") == [{"HTTPBearer": []}], f"{method} {path}"
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


# --- a document a client generator can use --------------------------------------------

#: Operation ids the web console's generated client calls: renaming one breaks it, so a
#: change here is a deliberate API change (new routes need not be listed).
STABLE_IDS = {
    ("post", "/v1/auth/register"): "register_user",
    ("post", "/v1/auth/login"): "login",
    ("post", "/v1/auth/refresh"): "refresh_tokens",
    ("get", "/v1/users/me"): "get_me",
    ("get", "/v1/accounts"): "list_accounts",
    ("get", "/v1/accounts/{account_id}/summary"): "get_account_summary",
    ("post", "/v1/accounts/{account_id}/orders"): "submit_order",
    ("get", "/v1/accounts/{account_id}/orders"): "list_orders",
    ("get", "/v1/accounts/{account_id}/orders/{order_id}"): "get_order",
    ("delete", "/v1/accounts/{account_id}/orders/{order_id}"): "cancel_order",
    ("get", "/v1/accounts/{account_id}/positions"): "list_positions",
    ("get", "/v1/marketdata/snapshots"): "get_snapshots",
}
#: String fields whose values a client switches on: the schema must list them.
ENUM_FIELDS = {"status", "state", "side", "type", "order_type", "time_in_force", "role"}
JSON = "application/json"


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, op) for p, item in doc["paths"].items() for m, op in item.items()]


def _component(doc: dict[str, Any], ref: str) -> tuple[str, dict[str, Any]]:
    name = ref.rsplit("/", 1)[1]
    return name, doc["components"]["schemas"][name]


def _refs(schema: Any) -> list[str]:
    if isinstance(schema, dict):
        own = [schema["$ref"]] if "$ref" in schema else []
        return own + [r for v in schema.values() for r in _refs(v)]
    if isinstance(schema, list):
        return [r for v in schema for r in _refs(v)]
    return []


def _reachable(doc: dict[str, Any], roots: list[str]) -> dict[str, dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    stack = list(roots)
    while stack:
        name, schema = _component(doc, stack.pop())
        if name not in seen:
            seen[name] = schema
            stack.extend(_refs(schema))
    return seen


def _ok_json_schemas(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for method, path, op in _operations(doc):
        for code, response in op["responses"].items():
            content = response.get("content", {})
            if code.startswith("2") and JSON in content:
                out.append((f"{method.upper()} {path} {code}", content[JSON].get("schema", {})))
    return out


def _enum_like(schema: dict[str, Any], doc: dict[str, Any]) -> bool:
    options = schema.get("anyOf", [schema])
    for option in options:
        if option.get("type") == "null":
            continue
        if "$ref" in option:
            option = _component(doc, option["$ref"])[1]
        if option.get("type") == "string" and not (
            "enum" in option or "const" in option or option.get("format") == "uri-reference"
        ):
            return False
    return True


def test_openapi_operation_ids_when_fetched_then_unique_snake_case_and_stable(
    client: httpx.Client,
) -> None:
    doc = client.get("/openapi.json").json()
    ids: list[str] = [op.get("operationId", "") for _, _, op in _operations(doc)]
    assert all(ids), "every operation needs an operationId"
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    for i in ids:
        assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", i), i
    for (method, path), expected in STABLE_IDS.items():
        assert doc["paths"][path][method]["operationId"] == expected, (method, path)


def test_openapi_ok_responses_when_fetched_then_each_names_a_closed_model(
    client: httpx.Client,
) -> None:
    doc = client.get("/openapi.json").json()
    roots: list[str] = []
    for where, schema in _ok_json_schemas(doc):
        target = schema.get("items", schema) if schema.get("type") == "array" else schema
        assert "$ref" in target, f"{where}: not a model ({schema})"
        roots.append(target["$ref"])
    models = _reachable(doc, roots)
    assert {"OrderPublic", "AccountSummary", "Readiness", "FeedStatusPublic"} <= set(models)
    for name, schema in models.items():
        assert "true" not in json.dumps(schema.get("additionalProperties", False)), name
        if "properties" not in schema:
            continue
        assert "additionalProperties" in schema, f"{name} is open"
        assert set(schema.get("required", [])) == set(schema["properties"]), (
            f"{name}: a response field is always present (null when empty)"
        )
        for field, prop in schema["properties"].items():
            if field in ENUM_FIELDS:
                assert _enum_like(prop, doc), f"{name}.{field} is a string without an enum"


def test_openapi_order_when_fetched_then_every_wire_field_is_documented(
    client: httpx.Client,
) -> None:
    from datetime import UTC, datetime

    from cluster.orders.wire import order_to_wire
    from domain.ids import AccountId, OrderId
    from domain.order_request import OrderRequest

    request = OrderRequest.parse(
        symbol="AAPL", side="buy", type="limit", time_in_force="day", qty="1", limit_price="9"
    )
    stored = request.to_order(OrderId(str(uuid.uuid4())), AccountId("a"), datetime.now(UTC))
    doc = client.get("/openapi.json").json()
    order = doc["components"]["schemas"]["OrderPublic"]
    assert set(order["properties"]) == set(order_to_wire(stored))
    assert order["additionalProperties"] is False
    assert doc["components"]["schemas"]["OrderStatus"]["enum"][0] == "pending_new"


def test_openapi_websocket_messages_when_fetched_then_one_discriminated_union_each_way(
    client: httpx.Client,
) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    server, client_msgs = schemas["WsServerMessage"], schemas["WsClientMessage"]
    assert server["discriminator"]["propertyName"] == "type"
    assert client_msgs["discriminator"]["propertyName"] == "type"
    mapping = server["discriminator"]["mapping"]
    assert all(isinstance(v, str) for v in mapping.values())
    assert mapping["event"].endswith("/WsEventMessage")
    events = schemas["WsEventMessage"]["discriminator"]["mapping"]
    assert events["fill"].endswith("/OrderEventMessage")
    market_data = schemas["MarketMessage"]["properties"]["data"]
    assert market_data["discriminator"]["mapping"]["quote"].endswith("/QuotePublic")
    assert schemas["OrderEventMessage"]["properties"]["data"]["$ref"].endswith("/TradeUpdate")


def test_app_when_built_then_every_route_answers_with_a_public_model(
    api_services: Services,
) -> None:
    from fastapi.routing import APIRoute, iter_route_contexts

    from serve.api import create_api
    from serve.schemas.base import PublicModel

    checked = 0
    for route in iter_route_contexts(create_api(api_services).routes):
        if not isinstance(route.original_route, APIRoute) or route.response_model is None:
            continue
        model = route.response_model
        inner = get_args(model)[0] if get_origin(model) is list else model
        assert isinstance(inner, type) and issubclass(inner, PublicModel), (route.path, model)
        checked += 1
    assert checked > 30


def test_checker_when_a_response_carries_an_undeclared_field_then_fails(
    client: httpx.Client, alice: ApiUser, response_checker: ResponseChecker
) -> None:
    r = client.get("/v1/users/me", headers=alice.headers)
    assert "getMe" not in response_checker.validated  # snake case ids
    assert 200 in response_checker.validated["get_me"]
    leaked = httpx.Response(
        200,
        json={**r.json(), "password_hash": "x"},
        request=httpx.Request("GET", f"{client.base_url}/v1/users/me"),
    )
    with pytest.raises(AssertionError, match="password_hash"):
        response_checker.check(leaked)
