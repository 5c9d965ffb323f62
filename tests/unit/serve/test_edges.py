"""The input-edge middleware on a bare ASGI app: NUL bytes, declared and streamed sizes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from serve.edges import InputEdges, has_nul

LIMIT = 1024
calls: list[str] = []


async def echo(request: Request) -> JSONResponse:
    calls.append(request.url.path)
    body = await request.body()
    return JSONResponse({"bytes": len(body)})


async def swallowing(request: Request) -> JSONResponse:
    """A route that catches every error while reading: the 413 must still win."""
    try:
        await request.body()
    except Exception:
        return JSONResponse({"ok": True})
    return JSONResponse({"ok": True})


def client() -> httpx.AsyncClient:
    app = Starlette(
        routes=[
            Route("/echo/{x}", echo, methods=["GET", "POST"]),
            Route("/swallow", swallowing, methods=["POST"]),
        ]
    )
    wrapped = InputEdges(app, max_body_bytes=LIMIT)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=wrapped), base_url="http://t")


def assert_problem(r: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = r.json()
    assert body["type"] == f"/problems/{slug}" and body["status"] == status
    return body


@pytest.mark.parametrize(
    "url",
    [
        "/echo/%00",
        "/echo/a%00b",
        "/echo/ok?q=%00",
        "/echo/ok?q=a%00",
        "/echo/ok?%00=1",
        "/echo/ok?a=1&b=x%00y",
    ],
)
async def test_nul_in_path_or_query_then_422_before_the_route(url: str) -> None:
    calls.clear()
    async with client() as c:
        body = assert_problem(await c.get(url), 422, "validation")
    assert body["errors"][0]["rule"] == "no-nul"
    assert calls == []


@pytest.mark.parametrize("url", ["/echo/%2500", "/echo/ok?q=%2500", "/echo/ok?q=100%25"])
async def test_escaped_percent_is_not_a_nul(url: str) -> None:
    async with client() as c:
        assert (await c.get(url)).status_code == 200


def test_has_nul_reads_the_decoded_path_and_query() -> None:
    assert has_nul({"path": "/a\x00", "query_string": b""})
    assert has_nul({"path": "/a", "query_string": b"x=%00"})
    assert not has_nul({"path": "/a", "query_string": b"x=%2500&y=%41"})


async def test_declared_length_over_limit_then_413_without_reading() -> None:
    calls.clear()
    async with client() as c:
        r = await c.post("/echo/x", content=b"x" * (LIMIT + 1))
    assert_problem(r, 413, "payload-too-large")
    assert calls == []


async def test_body_at_limit_then_passes() -> None:
    async with client() as c:
        r = await c.post("/echo/x", content=b"x" * LIMIT)
    assert r.status_code == 200 and r.json() == {"bytes": LIMIT}


async def chunks(n: int, size: int) -> AsyncIterator[bytes]:
    for _ in range(n):
        yield b"x" * size


async def test_streamed_body_over_limit_then_413() -> None:
    async with client() as c:
        r = await c.post("/echo/x", content=chunks(8, 256))  # no content-length: chunked
    assert_problem(r, 413, "payload-too-large")


async def test_streamed_body_under_limit_then_passes() -> None:
    async with client() as c:
        r = await c.post("/echo/x", content=chunks(4, 256))
    assert r.json() == {"bytes": 1024}


async def test_streamed_body_over_limit_when_route_swallows_the_error_then_still_413() -> None:
    async with client() as c:
        r = await c.post("/swallow", content=chunks(8, 256))
    assert_problem(r, 413, "payload-too-large")


async def test_body_limit_when_path_has_a_larger_limit_then_only_that_path_takes_it() -> None:
    app = Starlette(routes=[Route("/echo/{x}", echo, methods=["POST"])])
    wrapped = InputEdges(app, max_body_bytes=LIMIT, larger={"/echo/upload": 4 * LIMIT})
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=wrapped), base_url="http://t"
    ) as http:
        big = b"x" * (3 * LIMIT)
        ok = await http.post("/echo/upload", content=big)
        assert ok.status_code == 200 and ok.json() == {"bytes": 3 * LIMIT}
        assert_problem(await http.post("/echo/other", content=big), 413, "payload-too-large")
        too_big = b"x" * (4 * LIMIT + 1)
        assert_problem(await http.post("/echo/upload", content=too_big), 413, "payload-too-large")
