"""Token attacks over real HTTP: reuse, revocation, missing claims, algorithm confusion.

Every refusal must be a 401 problem, never a 500.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cluster.auth.tokens import resolve_secret
from serve.services import Services
from tests.kit.users import ApiUser, assert_problem


@pytest.fixture
def secret(api_services: Services) -> str:
    s = api_services.settings
    return resolve_secret(None, s.data_dir, protected=False)


def claims_for(user: ApiUser, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": "elson",
        "aud": "elson-api",
        "sub": user.id,
        "sid": user.session_id,
        "role": "admin",
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 600,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def me(client: httpx.Client, token: str) -> httpx.Response:
    return client.get("/v1/users/me", headers={"Authorization": f"Bearer {token}"})


def test_forged_token_with_our_secret_when_well_formed_then_accepted(
    client: httpx.Client, alice: ApiUser, secret: str
) -> None:
    # The control: our own encoding of valid claims passes, so the refusals below are real.
    token = jwt.encode(claims_for(alice), secret, algorithm="HS256")
    r = me(client, token)
    assert r.status_code == 200
    assert r.json()["role"] == "user"  # the role comes from the database, not the claim


def test_refresh_reuse_after_grace_when_replayed_then_family_revoked(
    client: httpx.Client, alice: ApiUser, api_services: Services
) -> None:
    stolen = alice.refresh
    r = client.post("/v1/auth/refresh", json={"refresh_token": stolen})
    assert r.status_code == 200
    child = r.json()
    # Age the rotation beyond the grace window instead of sleeping.
    with api_services.db.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE refresh_tokens SET used_at = used_at - interval '1 hour' "
            "WHERE session_id = %(sid)s AND used_at IS NOT NULL",
            {"sid": alice.session_id},
        )
    replay = client.post("/v1/auth/refresh", json={"refresh_token": stolen})
    assert_problem(replay, 401, "unauthenticated")
    assert "reuse" in replay.json()["detail"]
    # Every token of the family is dead: the child refresh and both access tokens.
    assert_problem(
        client.post("/v1/auth/refresh", json={"refresh_token": child["refresh_token"]}),
        401,
        "unauthenticated",
    )
    assert_problem(me(client, child["access_token"]), 401, "unauthenticated")
    assert_problem(me(client, alice.access), 401, "unauthenticated")
    assert api_services.auth.is_session_active(alice.session_id) is False


def test_access_token_after_logout_then_refused_at_once(
    client: httpx.Client, alice: ApiUser, api_services: Services
) -> None:
    assert me(client, alice.access).status_code == 200
    assert api_services.auth.is_session_active(alice.session_id) is True
    assert client.post("/v1/auth/logout", headers=alice.headers).status_code == 204
    assert_problem(me(client, alice.access), 401, "unauthenticated")
    assert api_services.auth.is_session_active(alice.session_id) is False


def test_revoked_session_when_redis_cache_missing_then_db_still_refuses(
    client: httpx.Client, alice: ApiUser, api_services: Services
) -> None:
    assert client.post("/v1/auth/logout", headers=alice.headers).status_code == 204
    key = api_services.redis.key("revoked-session", alice.session_id)
    api_services.redis.call("test-del", lambda r: r.delete(key))
    assert_problem(me(client, alice.access), 401, "unauthenticated")


@pytest.mark.parametrize("missing", ["exp", "iat", "iss", "aud", "jti", "sub"])
def test_token_without_required_claim_then_401(
    client: httpx.Client, alice: ApiUser, secret: str, missing: str
) -> None:
    token = jwt.encode(claims_for(alice, **{missing: None}), secret, algorithm="HS256")
    assert_problem(me(client, token), 401, "unauthenticated")


def test_token_without_sid_or_with_bad_sub_then_401(
    client: httpx.Client, alice: ApiUser, secret: str
) -> None:
    for changes in ({"sid": None}, {"sub": "not-a-uuid"}, {"sub": str(uuid.uuid4())}):
        token = jwt.encode(claims_for(alice, **changes), secret, algorithm="HS256")
        assert_problem(me(client, token), 401, "unauthenticated")


def test_expired_token_then_401(client: httpx.Client, alice: ApiUser, secret: str) -> None:
    now = int(time.time())
    token = jwt.encode(claims_for(alice, iat=now - 3600, exp=now - 60), secret, algorithm="HS256")
    assert_problem(me(client, token), 401, "unauthenticated")


def test_wrong_audience_or_issuer_then_401(
    client: httpx.Client, alice: ApiUser, secret: str
) -> None:
    for changes in ({"aud": "someone-else"}, {"iss": "evil"}):
        token = jwt.encode(claims_for(alice, **changes), secret, algorithm="HS256")
        assert_problem(me(client, token), 401, "unauthenticated")


def test_wrong_secret_then_401(client: httpx.Client, alice: ApiUser) -> None:
    token = jwt.encode(claims_for(alice), "x" * 48, algorithm="HS256")
    assert_problem(me(client, token), 401, "unauthenticated")


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_alg_none_then_401(client: httpx.Client, alice: ApiUser) -> None:
    token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims_for(alice))}."
    assert_problem(me(client, token), 401, "unauthenticated")


def test_hs384_with_our_secret_then_401(client: httpx.Client, alice: ApiUser, secret: str) -> None:
    token = jwt.encode(claims_for(alice), secret, algorithm="HS384")
    assert_problem(me(client, token), 401, "unauthenticated")


def test_rs256_header_then_401(client: httpx.Client, alice: ApiUser) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    token = jwt.encode(claims_for(alice), pem, algorithm="RS256")
    assert_problem(me(client, token), 401, "unauthenticated")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer garbage",
        "Bearer a.b.c",
        "Bearer " + "é" * 10,
        "Bearer " + "x" * 5000,
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "",
    ],
)
def test_garbage_authorization_then_401_problem_never_500(
    client: httpx.Client, header: str
) -> None:
    r = client.get("/v1/users/me", headers={"Authorization": header.encode("utf-8")})  # type: ignore[dict-item]
    assert_problem(r, 401, "unauthenticated")


def test_token_from_the_future_then_401(client: httpx.Client, alice: ApiUser, secret: str) -> None:
    future = int(time.time()) + int(timedelta(hours=1).total_seconds())
    token = jwt.encode(claims_for(alice, iat=future, exp=future + 600), secret, algorithm="HS256")
    assert_problem(me(client, token), 401, "unauthenticated")


def test_verify_access_when_redis_down_then_db_decides_both_ways(
    client: httpx.Client, alice: ApiUser, bob: ApiUser, api_services: Services
) -> None:
    from cluster.auth.cache import AuthCache
    from cluster.auth.invalidation import Invalidations
    from cluster.auth.sessions import SessionStore
    from cluster.redis_client import ResilientRedis
    from domain.errors import Unauthenticated
    from tests.kit.redis_server import free_port

    assert client.post("/v1/auth/logout", headers=alice.headers).status_code == 204
    dead = ResilientRedis(
        f"redis://127.0.0.1:{free_port()}/0", prefix="x:", timeout_s=0.05, attempts=1
    )
    live = api_services.auth.sessions
    cache = AuthCache()
    subscriber = Invalidations(dead, cache)
    subscriber.start()  # never subscribes: the cache is never trusted
    store = SessionStore(
        db=api_services.db,
        redis=dead,
        clock=live.clock,
        codec=live.codec,
        cache=cache,
        invalidations=subscriber,
    )
    try:
        for _ in range(3):
            with pytest.raises(Unauthenticated):
                store.verify_access(alice.access)  # cache unusable: the DB still refuses
            assert store.verify_cached(alice.access) is None
            assert store.verify_access(bob.access).user_id == bob.id
        assert store.is_session_active(alice.session_id) is False
        assert store.is_session_active(bob.session_id) is True
        assert cache.trusted is False and len(cache) == 0 and cache.hits == 0
    finally:
        subscriber.close()
        dead.close()
