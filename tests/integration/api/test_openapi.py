"""Every auth/users/accounts endpoint documents its response model and its problems."""

from __future__ import annotations

from typing import Any

import httpx

from serve.routes import accounts, auth, users

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
