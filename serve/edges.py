"""Input edges refused before routing: NUL bytes in a path or query, oversized bodies.

A NUL byte (``%00``) in a path or query value reaches PostgreSQL as text it cannot store
and used to answer 500; here it is a 422 ``validation`` problem on every route, before a
dependency or the database sees it. A body over ``max_body_bytes`` is a 413
``payload-too-large`` problem before it is parsed: at once when ``Content-Length`` says
so, else (chunked) as soon as the bytes received pass the limit, counted as they arrive
and never buffered here.

Why not Starlette's own ``max_body_size``: it checks only when a route first reads the
body (after authentication ran against the database), and when ``Content-Length`` is over
the limit on a route that never reads the body it answers ``text/plain``. This is pure
ASGI (no ``BaseHTTPMiddleware``), so the body streams through untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import unquote_to_bytes

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serve import problems


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit. An ``HTTPException``,
    so FastAPI's body reader re-raises it and the app's handler answers the 413 problem."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body exceeds {limit} bytes")


def has_nul(scope: Scope) -> bool:
    """A NUL in the decoded path, or in any percent-decoded query name or value."""
    if "\x00" in scope.get("path", ""):
        return True
    query: bytes = scope.get("query_string", b"")
    return b"\x00" in query or (b"%" in query and b"\x00" in unquote_to_bytes(query))


def declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class InputEdges:
    """``larger`` maps exact paths that take bigger bodies (file uploads) to their limit."""

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, larger: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.larger = dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if has_nul(scope):
            await problems.problem(
                "validation",
                "NUL bytes are not allowed in a path or query",
                errors=[{"field": "url", "rule": "no-nul", "message": "contains a NUL byte"}],
            )(scope, receive, send)
            return
        limit = self.larger.get(scope.get("path", ""), self.max_body_bytes)
        length = declared_length(scope)
        if length is not None and length > limit:
            await _too_large(limit)(scope, receive, send)
            return
        await _Limited(self.app, limit)(scope, receive, send)


def _too_large(limit: int) -> JSONResponse:
    response = problems.problem("payload-too-large", f"the request body exceeds {limit} bytes")
    response.headers["connection"] = "close"  # the rest of the body is not read
    return response


class _Limited:
    """One request: counts body bytes as they arrive; past the limit whatever the app
    tried to answer (its handler's 413, or a route that swallowed the error) is replaced
    by the one 413 problem."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit
        self.received = 0
        self.exceeded = False
        self.started = False  # a response start went out (the app's or ours)
        self.replaced = False  # ours went out instead of the app's

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def counted_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                self.received += len(message.get("body", b""))
                if self.received > self.limit:
                    self.exceeded = True
                    raise BodyTooLarge(self.limit)
            return message

        async def guarded_send(message: Message) -> None:
            if self.replaced:
                return
            if message["type"] == "http.response.start":
                if self.exceeded and not self.started:
                    await self._answer(scope, receive, send)
                    return
                self.started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except BodyTooLarge:
            if self.started and not self.replaced:
                raise
            if not self.started:
                await self._answer(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.started = self.replaced = True
        await _too_large(self.limit)(scope, receive, send)


def install(app: FastAPI, max_body_bytes: int, larger: Mapping[str, int] | None = None) -> None:
    app.add_middleware(InputEdges, max_body_bytes=max_body_bytes, larger=larger)
