"""Market-hours replies through the real API app: the clock at an instant (aware only, no
unknown parameters) and orders accepted outside regular hours saying until when they wait."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from domain.ids import OrderId
from domain.orders import OrderEvent, OrderEventKind
from serve.services import Services
from tests.integration.api.test_trading_routes import fund, place
from tests.kit.users import ApiUser, assert_problem


@pytest.mark.parametrize(
    ("at", "is_open", "next_open", "next_close"),
    [
        # Saturday noon New York: closed until Monday 09:30
        ("2026-11-28T17:00:00Z", False, "2026-11-30T14:30:00+00:00", "2026-11-30T21:00:00+00:00"),
        # Tuesday 10:00 New York (given with its own offset): open until 16:00
        (
            "2026-11-24T10:00:00-05:00",
            True,
            "2026-11-25T14:30:00+00:00",
            "2026-11-24T21:00:00+00:00",
        ),
        # the day after Thanksgiving, 13:00 New York: the early close has just happened
        ("2026-11-27T18:00:00Z", False, "2026-11-30T14:30:00+00:00", "2026-11-30T21:00:00+00:00"),
    ],
)
def test_clock_at_aware_instant_then_clock_at_that_instant(
    client: httpx.Client,
    alice: ApiUser,
    at: str,
    is_open: bool,
    next_open: str,
    next_close: str,
) -> None:
    r = client.get("/v1/clock", params={"at": at}, headers=alice.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert datetime.fromisoformat(body["timestamp"]) == datetime.fromisoformat(at)
    assert (body["is_open"], body["next_open"], body["next_close"]) == (
        is_open,
        next_open,
        next_close,
    )


def test_clock_at_naive_instant_then_422_problem(client: httpx.Client, alice: ApiUser) -> None:
    r = client.get("/v1/clock", params={"at": "2026-11-24T15:00:00"}, headers=alice.headers)
    problem = assert_problem(r, 422, "validation")
    assert any(e["field"].endswith("at") for e in problem["errors"]), problem


@pytest.mark.parametrize(
    "params",
    [{"when": "2026-11-24T15:00:00Z"}, {"at": "2026-11-24T15:00:00Z", "tz": "America/New_York"}],
)
def test_clock_with_unknown_parameter_then_422_problem(
    client: httpx.Client, alice: ApiUser, params: dict[str, str]
) -> None:
    r = client.get("/v1/clock", params=params, headers=alice.headers)
    problem = assert_problem(r, 422, "validation")
    unknown = next(iter(set(params) - {"at"}))
    assert any(e["field"].endswith(unknown) for e in problem["errors"]), problem


def test_clock_without_at_then_now(client: httpx.Client, alice: ApiUser) -> None:
    body = client.get("/v1/clock", headers=alice.headers).json()
    stamp = datetime.fromisoformat(body["timestamp"])
    assert abs((stamp - datetime.now(UTC)).total_seconds()) < 60


def test_order_accepted_while_closed_then_answer_says_queued_until_the_open(
    client: httpx.Client, alice: ApiUser, api_services: Services
) -> None:
    fund(client, alice)
    order = place(client, alice)
    assert order["queued_until"] is None  # stored, not yet at a broker
    accepted_at = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)  # a Saturday, as a broker says
    api_services.orders.apply_events(
        OrderId(order["id"]), [OrderEvent(OrderEventKind.ACCEPT_CLOSED, accepted_at)]
    )
    url = f"/v1/accounts/{alice.account_id}/orders/{order['id']}"
    got = client.get(url, headers=alice.headers).json()
    assert got["status"] == "accepted"
    assert got["queued_until"] == "2026-11-30T14:30:00Z"  # Monday 09:30 New York
    listed = client.get(
        f"/v1/accounts/{alice.account_id}/orders", params={"status": "open"}, headers=alice.headers
    ).json()["orders"]
    assert [o["queued_until"] for o in listed if o["id"] == order["id"]] == [got["queued_until"]]
    api_services.orders.apply_events(
        OrderId(order["id"]),
        [OrderEvent(OrderEventKind.RELEASE, datetime(2026, 11, 30, 14, 30, tzinfo=UTC))],
    )
    assert client.get(url, headers=alice.headers).json()["queued_until"] is None
