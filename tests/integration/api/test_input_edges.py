"""Input edges through the real app (PostgreSQL, Redis, every route): a NUL byte in a path
or query is a 422 problem and an oversized body a 413 problem, never a 5xx."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.kit.users import ApiUser, assert_problem

LIMIT = 65_536  # the default ELSON_MAX_BODY_BYTES


def nul_urls(user: ApiUser) -> list[str]:
    acct = user.account_id
    return [
        f"/v1/accounts/{acct}/orders/by-client-id/%00",
        f"/v1/accounts/{acct}/orders/by-client-id/abc%00def",
        "/v1/accounts/%00/orders",
        f"/v1/accounts/{acct}/orders?status=%00",
        f"/v1/accounts/{acct}/orders?symbols=AAPL%00",
        f"/v1/accounts/{acct}/orders?cursor=x%00",
        "/v1/marketdata/bars/AA%00PL",
        "/v1/marketdata/snapshots?symbols=%00",
        "/v1/clock?at=%00",
        "/v1/users/me?x=%00",
        "/healthz?probe=%00",
        "/no-such-route/%00",
    ]


def test_nul_in_path_or_query_on_any_route_then_422_problem(
    client: httpx.Client, alice: ApiUser
) -> None:
    for url in nul_urls(alice):
        for method in ("GET", "DELETE", "POST"):
            r = client.request(method, url, headers=alice.headers)
            body = assert_problem(r, 422, "validation")
            assert body["errors"] == [
                {"field": "url", "rule": "no-nul", "message": "contains a NUL byte"}
            ], url
            assert r.headers["x-request-id"] == body["request_id"]


def test_nul_without_credentials_then_422_not_401(client: httpx.Client) -> None:
    assert_problem(client.get("/v1/users/me?x=%00"), 422, "validation")


def order_body(pad: int) -> bytes:
    body = {"symbol": "AAPL", "side": "buy", "type": "market", "qty": "1", "note": "x" * pad}
    return json.dumps(body).encode()


def test_body_over_limit_with_content_length_then_413_problem(
    client: httpx.Client, alice: ApiUser
) -> None:
    big = order_body(2 * 1024 * 1024)  # the 2 MiB body that used to be parsed
    for url in (f"/v1/accounts/{alice.account_id}/orders", "/v1/auth/login", "/v1/nowhere"):
        r = client.post(
            url, content=big, headers={**alice.headers, "content-type": "application/json"}
        )
        body = assert_problem(r, 413, "payload-too-large")
        assert str(LIMIT) in body["detail"]


def chunked(data: bytes, size: int = 8192) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def test_body_over_limit_streamed_chunked_then_413_problem(
    client: httpx.Client, alice: ApiUser
) -> None:
    big = order_body(LIMIT)  # just over the limit, with no Content-Length
    for url in (f"/v1/accounts/{alice.account_id}/orders", "/v1/auth/login"):
        r = client.post(
            url,
            content=chunked(big),
            headers={**alice.headers, "content-type": "application/json"},
        )
        assert "content-length" not in r.request.headers
        assert r.request.headers["transfer-encoding"] == "chunked"
        assert_problem(r, 413, "payload-too-large")


def test_body_under_limit_then_parsed_as_before(client: httpx.Client, alice: ApiUser) -> None:
    ok = order_body(LIMIT - 200)
    assert len(ok) <= LIMIT
    r = client.post(
        f"/v1/accounts/{alice.account_id}/orders",
        content=chunked(ok),
        headers={**alice.headers, "content-type": "application/json"},
    )
    assert r.status_code < 500 and r.status_code != 413, r.text


@pytest.mark.parametrize("value", ["\u0000", "a\u0000b"])
def test_nul_inside_a_json_body_then_never_5xx(
    client: httpx.Client, alice: ApiUser, value: str
) -> None:
    r = client.post(
        f"/v1/accounts/{alice.account_id}/orders",
        json={
            "symbol": "AAPL",
            "side": "buy",
            "type": "market",
            "qty": "1",
            "client_order_id": value,
        },
        headers=alice.headers,
    )
    assert r.status_code < 500, r.text
