"""Money on the wire through the real routes: fixed point with cents, never an exponent."""

from __future__ import annotations

import re
import uuid

import httpx

from tests.kit.users import ApiUser

MONEY = re.compile(r"^-?\d+\.\d{2}$")


def test_summary_when_cash_fully_reserved_then_buying_power_is_0_00(
    client: httpx.Client, alice: ApiUser
) -> None:
    base = f"/v1/accounts/{alice.account_id}"
    r = client.post(f"{base}/fund", json={"amount": "100"}, headers=alice.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["amount"], r.json()["cash"]) == ("100.00", "100.00")
    order = {
        "symbol": "AAPL",
        "qty": "2",
        "side": "buy",
        "type": "limit",
        "time_in_force": "gtc",
        "limit_price": "50.00",
        "client_order_id": f"m-{uuid.uuid4().hex[:12]}",
    }
    r = client.post(f"{base}/orders", json=order, headers=alice.headers)
    assert r.status_code == 201, r.text
    assert (r.json()["qty"], r.json()["limit_price"], r.json()["filled_qty"]) == ("2", "50", "0")

    summary = client.get(f"{base}/summary", headers=alice.headers).json()
    assert summary["buying_power"] == "0.00"
    assert summary["cash"] == "100.00" and summary["positions_value"] == "0.00"
    for name in ("cash", "buying_power", "equity", "positions_value"):
        assert MONEY.match(summary[name]), (name, summary[name])


def test_config_when_read_then_limits_print_with_cents(
    client: httpx.Client, alice: ApiUser
) -> None:
    r = client.get(f"/v1/accounts/{alice.account_id}/config", headers=alice.headers)
    assert r.status_code == 200, r.text
    for name in ("max_order_notional", "ceiling_max_position_notional"):
        assert MONEY.match(r.json()[name]), (name, r.json()[name])
