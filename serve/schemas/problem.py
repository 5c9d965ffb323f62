"""The RFC 9457 problem body, shared by every route's documented error responses."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from serve.problems import PROBLEM_JSON, REGISTRY


class FieldError(BaseModel):
    field: str = Field(examples=["profile.tax_id"])
    rule: str = Field(examples=["ssn-area"])
    message: str = Field(examples=["profile.tax_id has an invalid SSN area"])


class Problem(BaseModel):
    type: str = Field(examples=["/problems/validation"])
    title: str = Field(examples=["Invalid input"])
    status: int = Field(examples=[422])
    detail: str = Field(examples=["tax_id: ssn-area"])
    request_id: str | None = Field(default=None, examples=["3f9a1c0e7b2d4e6f8a1b2c3d4e5f6a7b"])
    errors: list[FieldError] | None = None
    reason: str | None = None


_SLUG_BY_STATUS = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    409: "conflict",
    413: "payload-too-large",
    422: "validation",
    429: "rate-limited",
    503: "dependency-unavailable",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status documented as an ``application/problem+json``."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        p = REGISTRY[_SLUG_BY_STATUS[status]]
        example: dict[str, Any] = {
            "type": p.uri,
            "title": p.title,
            "status": p.status,
            "detail": p.meaning,
            "request_id": "3f9a1c0e7b2d4e6f8a1b2c3d4e5f6a7b",
        }
        if status == 422:
            example["errors"] = [{"field": "email", "rule": "email-format", "message": "..."}]
        out[status] = {
            "model": Problem,
            "description": p.meaning,
            "content": {
                PROBLEM_JSON: {
                    "schema": {"$ref": "#/components/schemas/Problem"},
                    "example": example,
                }
            },
        }
    return out


#: What every authenticated route may answer.
AUTHED = (401, 422)
