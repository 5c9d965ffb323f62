"""Check real responses against the app's own OpenAPI document, strictly.

Every 2xx JSON body is validated against the schema its operation documents, with
``additionalProperties: false`` added to every object schema that lists properties and
says nothing about extras: a response that carries a field its schema does not declare
fails, even if a model forgot to be closed. Install :meth:`ResponseChecker.hook` as an
httpx response hook and every request a test makes is checked.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import httpx
from jsonschema import Draft202012Validator


def closed(schema: Any) -> Any:
    """``schema`` with ``additionalProperties: false`` wherever it was left open."""
    if isinstance(schema, list):
        return [closed(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: closed(v) for k, v in schema.items()}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


class ResponseChecker:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.components = closed(copy.deepcopy(doc.get("components", {})))
        self.routes: list[tuple[re.Pattern[str], str, dict[str, Any]]] = []
        for path, item in doc["paths"].items():
            pattern = re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", path) + "$")
            for method, op in item.items():
                self.routes.append((pattern, method.upper(), op))
        # literal segments win: /users/me/profile before /users/{user_id}/profile
        self.routes.sort(key=lambda r: r[0].pattern.count("[^/]+"))
        #: operationId -> 2xx statuses seen and validated
        self.validated: dict[str, set[int]] = {}

    def operation(self, method: str, path: str) -> dict[str, Any] | None:
        for pattern, m, op in self.routes:
            if m == method and pattern.match(path):
                return op
        return None

    def check(self, response: httpx.Response) -> None:
        response.read()
        status = response.status_code
        kind = response.headers.get("content-type", "").split(";")[0].strip()
        if not 200 <= status < 300 or kind != "application/json":
            return
        op = self.operation(response.request.method, response.request.url.path)
        if op is None:
            return  # /openapi.json, /docs: not operations of the API
        where = f"{response.request.method} {response.request.url.path} -> {status}"
        documented = op["responses"].get(str(status))
        assert documented is not None, f"{where}: status not documented"
        schema = documented.get("content", {}).get("application/json", {}).get("schema")
        assert schema is not None, f"{where}: no JSON schema documented"
        root = {**closed(schema), "components": self.components}
        errors = sorted(
            Draft202012Validator(root).iter_errors(response.json()), key=lambda e: e.path
        )
        assert not errors, f"{where}: " + "; ".join(
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5]
        )
        self.validated.setdefault(op["operationId"], set()).add(status)

    def hook(self, response: httpx.Response) -> None:
        self.check(response)

    @classmethod
    def fetch(cls, base_url: str) -> ResponseChecker:
        doc = json.loads(httpx.get(f"{base_url}/openapi.json", timeout=10).text)
        return cls(doc)
