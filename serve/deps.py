"""FastAPI dependencies shared by every route module: who is calling, and with what.

``current_principal`` checks the bearer token *and* that its session is still live on
every request, so a logout takes effect at once (on every replica within 1 s). The answer
comes from the process's auth cache without leaving the event loop when it can
(``verify_cached``: a JWT decode and a dict lookup), else from ``verify_access`` in a
thread (PostgreSQL on a miss or while the cache is not trusted). Routes
declare what they need with the ``Annotated`` aliases below (``CurrentUser``,
``AdminUser``, ``ServicesDep``) instead of reading headers themselves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cluster.auth.tokens import Principal
from domain.errors import Forbidden, TransientError, Unauthenticated
from serve.services import Services

__all__ = [
    "AdminUser",
    "CurrentUser",
    "Principal",
    "QuantUser",
    "ServicesDep",
    "bearer_token",
    "current_principal",
    "get_services",
    "require_role",
]


def get_services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(get_services)]


#: Declares the scheme in OpenAPI (Swagger's "Authorize"); we answer 401 problems ourselves.
bearer_scheme = HTTPBearer(auto_error=False, description="Access token from POST /v1/auth/login")


def bearer_token(request: Request) -> str:
    """The token of an ``Authorization: Bearer <token>`` header, or ``Unauthenticated``."""
    header = request.headers.get("authorization")
    if not header:
        raise Unauthenticated("missing bearer token")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 4096:
        raise Unauthenticated("malformed authorization header")
    return token


async def current_principal(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)] = None,
) -> Principal:
    services = get_services(request)
    if services.auth is None:
        raise TransientError("authentication is not available")
    token = bearer_token(request)
    cached: Principal | None = services.auth.verify_cached(token)
    if cached is not None:
        return cached
    # verify_access reads PostgreSQL synchronously: keep it off the event loop.
    principal: Principal = await run_in_threadpool(services.auth.verify_access, token)
    return principal


CurrentUser = Annotated[Principal, Depends(current_principal)]


def require_role(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting only principals whose role is one of ``roles`` (else 403)."""
    allowed = frozenset(roles)

    async def dependency(principal: CurrentUser) -> Principal:
        if principal.role not in allowed:
            raise Forbidden(f"requires role {' or '.join(sorted(allowed))}")
        return principal

    return dependency


AdminUser = Annotated[Principal, Depends(require_role("admin"))]
QuantUser = Annotated[Principal, Depends(require_role("quant", "admin"))]
