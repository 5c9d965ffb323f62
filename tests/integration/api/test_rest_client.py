"""``serve.rest_client`` against the real app: a submission whose answer is lost after the
server committed it (a 503 or a dropped connection) is retried under the same
Idempotency-Key and yields one order; final errors are raised, not retried."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from cluster.retry import Backoff
from serve.rest_client import ApiError, ApiUnavailable, RestClient
from tests.kit.users import ApiUser

FAST = Backoff(base_s=0.01, cap_s=0.02, max_attempts=3)


class LoseAnswers(httpx.HTTPTransport):
    """Forwards every request to the real server; the first ``lose`` order submissions'
    answers are replaced by ``how`` (a 503, or a read timeout) after the server answered."""

    def __init__(self, lose: int, how: str) -> None:
        super().__init__()
        self.lose, self.how = lose, how
        self.submissions: list[str | None] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.method != "POST" or not request.url.path.endswith("/orders"):
            return response
        self.submissions.append(request.headers.get("Idempotency-Key"))
        if len(self.submissions) > self.lose:
            return response
        response.read()  # the server has committed and answered; the answer is lost
        response.close()
        if self.how == "timeout":
            raise httpx.ReadTimeout("answer lost", request=request)
        problem = b'{"type":"/problems/dependency-unavailable","title":"Unavailable","status":503}'
        return httpx.Response(503, content=problem, request=request)


def limit_buy() -> dict[str, Any]:
    return {
        "symbol": "AAPL",
        "qty": "1",
        "side": "buy",
        "type": "limit",
        "time_in_force": "gtc",
        "limit_price": "10.00",
    }


def rest_client(api_url: str, alice: ApiUser, transport: httpx.BaseTransport) -> RestClient:
    api = RestClient(
        api_url, backoff=FAST, http=httpx.Client(base_url=api_url, transport=transport)
    )
    api.login(alice.email, alice.password)
    funded = api.http.post(
        f"/v1/accounts/{alice.account_id}/fund",
        json={"amount": "1000"},
        headers={"Authorization": f"Bearer {api.access_token}"},
    )
    assert funded.status_code == 200, funded.text
    return api


@pytest.mark.parametrize("how", ["503", "timeout"])
def test_submit_when_answer_lost_after_commit_then_retried_with_same_key_and_one_order(
    api_url: str, alice: ApiUser, how: str
) -> None:
    transport = LoseAnswers(lose=2, how=how)
    with rest_client(api_url, alice, transport) as api:
        order = api.submit_order(alice.account_id, limit_buy())
        keys = transport.submissions
        assert len(keys) == 3 and keys[0] is not None and len(set(keys)) == 1
        uuid.UUID(str(keys[0]))  # a generated key
        stored = api.list_orders(alice.account_id, status="all")["orders"]
        assert [o["id"] for o in stored] == [order["id"]]
        assert api.get_order(alice.account_id, order["id"])["status"] == order["status"]
        canceled = api.cancel_order(alice.account_id, order["id"])
        assert canceled["id"] == order["id"]


def test_submit_when_every_answer_lost_then_unavailable_after_bounded_attempts(
    api_url: str, alice: ApiUser
) -> None:
    transport = LoseAnswers(lose=10, how="503")
    with rest_client(api_url, alice, transport) as api:
        with pytest.raises(ApiUnavailable, match="503 dependency-unavailable"):
            api.submit_order(alice.account_id, limit_buy(), idempotency_key="k-" + uuid.uuid4().hex)
        assert len(transport.submissions) == FAST.max_attempts
        assert len(set(transport.submissions)) == 1
        # the order was stored by the first attempt: exactly one, as retries promised
        assert len(api.list_orders(alice.account_id, status="all")["orders"]) == 1


def test_submit_when_refused_then_api_error_and_not_retried(api_url: str, alice: ApiUser) -> None:
    transport = LoseAnswers(lose=0, how="503")
    with rest_client(api_url, alice, transport) as api:
        with pytest.raises(ApiError) as caught:
            api.submit_order(alice.account_id, limit_buy() | {"qty": "-1"})
        assert caught.value.status == 422 and not isinstance(caught.value, ApiUnavailable)
        assert len(transport.submissions) == 1
