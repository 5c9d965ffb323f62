"""The gateway through Ray Serve (``serve.app.build_gateway``), not only on uvicorn."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from cluster.settings import Settings
from tests.kit.ws import authenticate, close_code, connect, recv, send

pytestmark = [pytest.mark.ray, pytest.mark.slow]
WS = "ws://127.0.0.1:8000/ws"


def test_schema_through_serve_lists_every_message_and_close_code(serve_app: str) -> None:
    doc = httpx.get(f"{serve_app}/ws/schema", timeout=10).json()
    assert {"authenticate", "subscribe", "unsubscribe", "pong"} <= set(doc["client"])
    assert {"event", "gap", "market", "warning", "error", "ping"} <= set(doc["server"])
    assert doc["close_codes"]["auth_timeout"] == 4408


async def test_through_serve_bad_token_4401_and_own_orders_stream_delivered(
    serve_app: str,
    serve_services,
) -> None:
    ws = await connect(WS)
    await send(ws, {"type": "authenticate", "token": "nope"})
    assert (await close_code(ws))[0] == 4401

    alice = _member(serve_services)
    stream = f"orders:{alice.account_id}"
    ws = await connect(WS)
    await authenticate(ws, alice.token)
    await send(
        ws,
        {
            "type": "subscribe",
            "resume": {stream: 0},
            "channels": [{"channel": "orders", "account_id": alice.account_id}],
        },
    )
    assert (await recv(ws, within=10))["type"] == "subscribed"
    marker = uuid.uuid4().hex
    seq = await asyncio.to_thread(serve_services.events.publish, stream, "new", {"marker": marker})
    msg = await recv(ws, within=10)
    assert (msg["type"], msg["stream"], msg["seq"], msg["data"]) == (
        "event",
        stream,
        seq,
        {"marker": marker},
    )
    await ws.close()


async def test_through_serve_no_authenticate_then_4408(
    serve_app: str,
    serve_settings: Settings,
) -> None:
    ws = await connect(WS)
    code, _ = await close_code(ws, within=serve_settings.ws_auth_timeout_s + 5)
    assert code == 4408


def _member(services):  # type: ignore[no-untyped-def]
    """A user and token on the Serve deployment's own database."""
    from tests.integration.gateway.conftest import PASSWORD, Member

    email = f"ws-{uuid.uuid4().hex[:10]}@example.com"
    reg = services.auth.register(email, PASSWORD, "individual")
    pair = services.auth.login(email, PASSWORD, ip="127.0.0.1", user_agent="pytest")
    return Member(str(reg.user.id), str(reg.account.id), pair.access_token, pair.session_id)
