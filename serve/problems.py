"""RFC 9457 problem details with a stable ``type`` per error kind.

The registry is published at ``GET /problems`` so a frontend can pick a notification per
type. No stack trace ever leaves the server: unexpected errors become ``internal`` with
the request id, and the trace goes to the log only.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cluster.logging import request_id_var
from domain import errors
from domain.risk.codes import ReasonCode

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class ProblemType:
    slug: str
    status: int
    title: str
    meaning: str

    @property
    def uri(self) -> str:
        return f"/problems/{self.slug}"


REGISTRY: dict[str, ProblemType] = {
    p.slug: p
    for p in [
        ProblemType(
            "validation",
            422,
            "Invalid input",
            "A field broke a rule; `errors` names each field and rule.",
        ),
        ProblemType(
            "unauthenticated", 401, "Not authenticated", "Missing, expired or revoked credentials."
        ),
        ProblemType("forbidden", 403, "Forbidden", "Your role may not do this."),
        ProblemType("not-found", 404, "Not found", "No such resource (or not yours)."),
        ProblemType("conflict", 409, "Conflict", "The request conflicts with the current state."),
        ProblemType(
            "idempotency-mismatch",
            422,
            "Idempotency key reused",
            "The same key was sent with a different body.",
        ),
        ProblemType(
            "illegal-transition",
            409,
            "Illegal order transition",
            "The order's status does not allow this.",
        ),
        ProblemType(
            "market-closed", 422, "Market closed", "The order is not allowed at this time."
        ),
        ProblemType(
            "risk-denied",
            422,
            "Risk check denied",
            "A risk rule refused the order; `reason` gives its code.",
        ),
        ProblemType("rate-limited", 429, "Too many requests", "Slow down; see Retry-After."),
        ProblemType(
            "dependency-unavailable",
            503,
            "Dependency unavailable",
            "A dependency (database, Redis, broker) is down or saturated; retry later.",
        ),
        ProblemType(
            "operator-error", 503, "Service misconfigured", "An operator has been alerted."
        ),
        ProblemType(
            "calendar-out-of-range",
            422,
            "Outside the market calendar",
            "The instant is outside the calendar's range.",
        ),
        ProblemType(
            "bad-request",
            400,
            "Malformed request",
            "The body could not be parsed (invalid JSON or encoding).",
        ),
        ProblemType(
            "payload-too-large",
            413,
            "Payload too large",
            "The request body exceeds the limit.",
        ),
        ProblemType(
            "unsupported-media-type",
            415,
            "Unsupported media type",
            "Send application/json.",
        ),
        ProblemType(
            "method-not-allowed",
            405,
            "Method not allowed",
            "This path does not support that method.",
        ),
        ProblemType(
            "broker-rejected",
            422,
            "Broker rejected",
            "The broker refused the request; `detail` gives its reason.",
        ),
        ProblemType("overfill", 409, "Overfill", "A fill would take the order past its quantity."),
        ProblemType(
            "guardrail-refused",
            422,
            "Guardrail refused",
            "A promotion was refused; `guardrails` names each guardrail that failed, "
            "`reason` the first, `proposal_id` the stored refused proposal.",
        ),
        ProblemType(
            "pii-unreadable",
            500,
            "Personal data unreadable",
            "This record's personal data failed to decrypt (wrong key, tampering or a "
            "retired key version); an operator is alerted. Other records are unaffected.",
        ),
        ProblemType(
            "plan-limit",
            403,
            "Plan limit reached",
            "Your plan does not allow this; `limit` names the limit, `allowed` its value and "
            "`lifted_by` the plan that allows it.",
        ),
        ProblemType(
            "webhook-refused",
            400,
            "Webhook refused",
            "The delivery could not be verified as PayPal's; nothing was changed.",
        ),
        ProblemType(
            "internal", 500, "Internal error", "An unexpected error; quote the request id."
        ),
        *(
            ProblemType(
                code.slug,
                code.http_status,
                code.value.replace("_", " ").capitalize(),
                f"A risk rule refused the order (reason code `{code.value}`); `order_id` "
                "names the stored rejected order.",
            )
            for code in ReasonCode
        ),
    ]
}

_DOMAIN_TO_SLUG: list[tuple[type[BaseException], str]] = [
    (errors.Unauthenticated, "unauthenticated"),
    (errors.RateLimited, "rate-limited"),
    (errors.RiskDenied, "risk-denied"),
    (errors.IdempotencyMismatch, "idempotency-mismatch"),
    (errors.ValidationFailed, "validation"),
    (errors.NotFound, "not-found"),
    (errors.Forbidden, "forbidden"),
    (errors.Conflict, "conflict"),
    (errors.IllegalTransition, "illegal-transition"),
    (errors.MarketClosed, "market-closed"),
    (errors.OutOfCalendarRange, "calendar-out-of-range"),
    (errors.TransientError, "dependency-unavailable"),
    (errors.OperatorError, "operator-error"),
]


def problem(slug: str, detail: str | None = None, **extra: Any) -> JSONResponse:
    ptype = REGISTRY[slug]
    body: dict[str, Any] = {
        "type": ptype.uri,
        "title": ptype.title,
        "status": ptype.status,
        "detail": detail or ptype.title,
        "request_id": request_id_var.get(),
    }
    body.update(extra)
    headers = {"Retry-After": "1"} if ptype.status in (429, 503) else None
    return JSONResponse(body, status_code=ptype.status, media_type=PROBLEM_JSON, headers=headers)


def slug_for(exc: BaseException) -> str | None:
    """The problem type of an error: its own ``code`` when the registry has it (so a broker
    rejection or an overfill is not a generic conflict), else its nearest known class."""
    own = getattr(exc, "problem_slug", None) or getattr(exc, "code", None)
    if isinstance(exc, errors.ElsonError) and own in REGISTRY:
        return str(own)
    for cls, slug in _DOMAIN_TO_SLUG:
        if isinstance(exc, cls):
            return getattr(exc, "problem_slug", None) or slug
    if isinstance(exc, errors.DomainError):
        return getattr(exc, "problem_slug", None) or "conflict"
    return None


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.ElsonError)
    async def _elson(_: Request, exc: errors.ElsonError) -> JSONResponse:
        slug = slug_for(exc) or "internal"
        extra: dict[str, Any] = {}
        if isinstance(exc, errors.ValidationFailed):
            extra["errors"] = [{"field": exc.field, "rule": exc.rule, "message": exc.message}]
        if getattr(exc, "reason_code", None):
            extra["reason"] = exc.reason_code  # type: ignore[attr-defined]
        if getattr(exc, "order_id", None):
            extra["order_id"] = exc.order_id  # type: ignore[attr-defined]
        if getattr(exc, "guardrails", None):
            extra["guardrails"] = exc.guardrails  # type: ignore[attr-defined]
            extra["proposal_id"] = getattr(exc, "proposal_id", None)
        extra.update(getattr(exc, "problem_extra", None) or {})
        if slug == "internal":
            log.error("unhandled platform error", exc_info=exc)
            return problem("internal")
        response = problem(slug, exc.message, **extra)
        wait = getattr(exc, "retry_after_s", None)
        if wait is not None:
            response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errs = []
        for e in exc.errors():
            loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path", "header")]
            errs.append(
                {
                    "field": ".".join(loc) or "body",
                    "rule": e.get("type", "invalid"),
                    "message": e.get("msg", ""),
                }
            )
        return problem(
            "validation", "; ".join(f"{e['field']}: {e['message']}" for e in errs), errors=errs
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {
            401: "unauthenticated",
            403: "forbidden",
            404: "not-found",
            400: "bad-request",
            405: "method-not-allowed",
            409: "conflict",
            413: "payload-too-large",
            415: "unsupported-media-type",
            422: "validation",
            429: "rate-limited",
            503: "dependency-unavailable",
        }.get(exc.status_code, "internal" if exc.status_code >= 500 else "bad-request")
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem(slug, detail)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", exc_info=exc)
        return problem("internal")


def registry_document() -> list[dict[str, Any]]:
    return [
        {"type": p.uri, "status": p.status, "title": p.title, "meaning": p.meaning}
        for p in REGISTRY.values()
    ]
