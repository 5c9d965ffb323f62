"""Auth routes: register, login, refresh, logout, and the caller's sessions.

Thin: each route validates its schema, calls ``services.auth`` off the event loop and
returns a public schema. Bodies are never logged (they hold passwords and PII).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request, Response, status
from fastapi.concurrency import run_in_threadpool

from cluster.auth.service import AuthService
from domain.errors import TransientError
from serve.deps import CurrentUser, ServicesDep
from serve.schemas.accounts import AccountPublic
from serve.schemas.auth import (
    LoginRequest,
    RefreshRequest,
    RegisterRequest,
    RegisterResponse,
    SessionPublic,
    TokenPairPublic,
    UserPublic,
)
from serve.schemas.problem import problem_responses
from serve.services import Services

router = APIRouter(tags=["auth"])


def auth_of(services: Services) -> AuthService:
    if services.auth is None:
        raise TransientError("authentication is not available")
    return services.auth  # type: ignore[no-any-return]


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.post(
    "/v1/auth/register",
    status_code=status.HTTP_201_CREATED,
    response_model=RegisterResponse,
    summary="Create a user and their first account",
    responses=problem_responses(409, 422),
)
async def register_user(body: RegisterRequest, services: ServicesDep) -> RegisterResponse:
    auth = auth_of(services)
    result = await run_in_threadpool(
        auth.register,
        body.email,
        body.password,
        body.account_type,
        body.profile.to_domain() if body.profile else None,
        body.minor.to_domain() if body.minor else None,
    )
    return RegisterResponse(
        user=UserPublic.of(result.user), account=AccountPublic.of(result.account)
    )


@router.post(
    "/v1/auth/login",
    response_model=TokenPairPublic,
    summary="Exchange email and password for an access and a refresh token",
    responses=problem_responses(401, 422, 429),
)
async def login(
    body: LoginRequest, request: Request, response: Response, services: ServicesDep
) -> TokenPairPublic:
    response.headers["Cache-Control"] = "no-store"  # RFC 6749 5.1: tokens are not cached
    pair = await run_in_threadpool(
        auth_of(services).login,
        body.email,
        body.password,
        ip=_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
    return TokenPairPublic.of(pair)


@router.post(
    "/v1/auth/refresh",
    response_model=TokenPairPublic,
    summary="Rotate a refresh token (reuse of an old one revokes the session)",
    responses=problem_responses(401, 422),
)
async def refresh_tokens(
    body: RefreshRequest, response: Response, services: ServicesDep
) -> TokenPairPublic:
    response.headers["Cache-Control"] = "no-store"
    pair = await run_in_threadpool(auth_of(services).refresh, body.refresh_token)
    return TokenPairPublic.of(pair)


@router.post(
    "/v1/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke the caller's session (its access and refresh tokens stop at once)",
    responses=problem_responses(401),
)
async def logout(principal: CurrentUser, services: ServicesDep) -> Response:
    await run_in_threadpool(auth_of(services).logout, principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/v1/sessions",
    response_model=list[SessionPublic],
    summary="The caller's sessions, newest first",
    responses=problem_responses(401),
)
async def list_sessions(principal: CurrentUser, services: ServicesDep) -> list[SessionPublic]:
    rows = await run_in_threadpool(auth_of(services).list_sessions, principal.user_id)
    return [SessionPublic.of(s, principal.session_id) for s in rows]


@router.delete(
    "/v1/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke one of the caller's sessions",
    responses=problem_responses(401, 404, 422),
)
async def revoke_session(
    session_id: str, principal: CurrentUser, services: ServicesDep
) -> Response:
    await run_in_threadpool(auth_of(services).revoke_session, principal.user_id, session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def register(app: FastAPI, services: Services) -> None:
    app.include_router(router)
