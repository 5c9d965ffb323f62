"""Which buckets a request is booked in: its token's digest and its client IP (through
trusted proxies only)."""

from __future__ import annotations

from typing import Any

import pytest

from cluster.ratelimit import Quota, digest
from cluster.settings import Settings, SettingsError, load_settings
from serve.limits import bearer_token, buckets_for, client_ip, trusted_networks

Q = Quota(per_s=1, burst=1)
PROXIES = trusted_networks("127.0.0.1, 10.0.0.0/8")


def scope(peer: str | None = "203.0.113.9", **headers: str) -> dict[str, Any]:
    return {
        "type": "http",
        "client": (peer, 51000) if peer else None,
        "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
    }


def test_bearer_token_only_from_a_bearer_header() -> None:
    assert bearer_token(scope(authorization="Bearer abc.def")) == "abc.def"
    assert bearer_token(scope(authorization="bearer   abc")) == "abc"
    assert bearer_token(scope(authorization="Basic abc")) is None
    assert bearer_token(scope(authorization="Bearer ")) is None
    assert bearer_token(scope()) is None


def test_buckets_hold_digests_never_the_token_or_address() -> None:
    buckets = buckets_for(scope(authorization="Bearer tok"), Q, Q)
    assert [(b.scope, b.identity) for b in buckets] == [
        ("token", digest("tok")),
        ("ip", digest("203.0.113.9")),
    ]
    assert all("tok" not in b.identity and "203" not in b.identity for b in buckets)


def test_no_token_no_client_then_no_buckets() -> None:
    assert buckets_for(scope(peer=None), Q, Q) == []


def test_client_ip_when_no_trusted_proxies_then_forwarded_header_ignored() -> None:
    assert client_ip(scope(x_forwarded_for="198.51.100.1")) == "203.0.113.9"
    assert client_ip(scope("127.0.0.1", x_forwarded_for="198.51.100.1")) == "127.0.0.1"


def test_client_ip_when_peer_untrusted_then_peer_even_with_a_forwarded_header() -> None:
    assert client_ip(scope(x_forwarded_for="198.51.100.1"), PROXIES) == "203.0.113.9"


def test_client_ip_through_trusted_proxies_then_rightmost_untrusted_hop() -> None:
    forged = scope("127.0.0.1", x_forwarded_for="1.2.3.4, 198.51.100.7, 10.1.2.3")
    assert client_ip(forged, PROXIES) == "198.51.100.7"  # 1.2.3.4 is the client's own claim
    assert client_ip(scope("10.9.9.9", x_forwarded_for="198.51.100.8"), PROXIES) == ("198.51.100.8")
    assert client_ip(scope("127.0.0.1"), PROXIES) == "127.0.0.1"  # no header: the peer
    assert client_ip(scope("127.0.0.1", x_forwarded_for="10.0.0.1"), PROXIES) == "10.0.0.1"


def test_settings_when_trusted_proxy_is_not_an_address_then_refused() -> None:
    with pytest.raises(SettingsError, match="RATE_LIMIT_TRUSTED_PROXIES"):
        load_settings(env="test", rate_limit_trusted_proxies="10.0.0.0/8, proxy.local")
    ok = Settings(env="test", rate_limit_trusted_proxies="10.0.0.0/8, ::1")
    assert len(trusted_networks(ok.rate_limit_trusted_proxies)) == 2


def test_settings_defaults_limit_and_refuse_nonsense() -> None:
    s = Settings(env="test")
    assert s.rate_limit_enabled and s.max_body_bytes == 65_536
    assert (s.rate_limit_token_per_s, s.rate_limit_token_burst) == (10.0, 100)
    with pytest.raises(SettingsError):
        load_settings(env="test", rate_limit_token_per_s=0)
    with pytest.raises(SettingsError):
        load_settings(env="test", max_body_bytes=10)
