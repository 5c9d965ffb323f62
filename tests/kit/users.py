"""Builders for users and their tokens, through the real HTTP API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

PASSWORD = "Tr4ding-is-fun-2026"


def new_email(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.com"


@dataclass
class ApiUser:
    id: str
    email: str
    password: str
    account_id: str
    access: str = ""
    refresh: str = ""
    session_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}

    def take(self, pair: dict[str, Any]) -> None:
        self.access, self.refresh = pair["access_token"], pair["refresh_token"]
        self.session_id = pair["session_id"]


def register(
    client: httpx.Client,
    *,
    email: str | None = None,
    password: str = PASSWORD,
    account_type: str = "individual",
    **body: Any,
) -> ApiUser:
    email = email or new_email()
    r = client.post(
        "/v1/auth/register",
        json={"email": email, "password": password, "account_type": account_type, **body},
    )
    assert r.status_code == 201, r.text
    data = r.json()
    return ApiUser(data["user"]["id"], email, password, data["account"]["id"])


def login(client: httpx.Client, user: ApiUser, **headers: str) -> dict[str, Any]:
    r = client.post(
        "/v1/auth/login", json={"email": user.email, "password": user.password}, headers=headers
    )
    assert r.status_code == 200, r.text
    pair: dict[str, Any] = r.json()
    user.take(pair)
    return pair


def signed_in(
    client: httpx.Client, *, role: str = "user", services: Any = None, **kwargs: Any
) -> ApiUser:
    """A registered, logged-in user; ``role`` other than ``user`` needs ``services``."""
    user = register(client, **kwargs)
    if role != "user":
        services.auth.set_role(user.email, role, actor="test")
    login(client, user)
    return user


def assert_problem(r: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body: dict[str, Any] = r.json()
    assert body["type"] == f"/problems/{slug}", body
    return body
