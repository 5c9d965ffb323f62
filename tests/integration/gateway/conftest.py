"""Gateway integration fixtures: the real AuthService, accounts table, Redis event bus,
and the gateway app on a real uvicorn (``tests.kit.ws.gateway_server``)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import pytest

from cluster.access import owns_account
from cluster.clock import SystemClock
from cluster.db import Database, PoolSize
from cluster.events import AsyncEventBus, EventBus
from cluster.redis_client import AsyncResilientRedis, ResilientRedis
from cluster.settings import Settings
from serve.gateway import GatewayDeps, limits_from
from serve.services import Services
from tests.kit.ws import FakeFeed, RunningGateway, gateway_server

PASSWORD = "correct horse battery staple 42"


@pytest.fixture(scope="module")
def services(settings: Settings) -> Iterator[Services]:
    assert settings.database_url is not None and settings.redis_url is not None
    db = Database(settings.database_url.get_secret_value(), PoolSize(4, 4))
    redis = ResilientRedis(settings.redis_url.get_secret_value(), prefix=settings.redis_key_prefix)
    svc = Services(settings=settings, db=db, redis=redis)
    svc.clock = SystemClock()
    from cluster.auth.wiring import build_auth

    svc.auth = build_auth(svc)
    svc.events = EventBus(redis, prefix=settings.redis_key_prefix, retention=1000)
    yield svc
    svc.close()


@dataclass
class Member:
    user_id: str
    account_id: str
    token: str
    session_id: str


@pytest.fixture
def new_member(services: Services) -> Callable[[], Member]:
    def make() -> Member:
        email = f"ws-{uuid.uuid4().hex[:10]}@example.com"
        reg = services.auth.register(email, PASSWORD, "individual")
        pair = services.auth.login(email, PASSWORD, ip="127.0.0.1", user_agent="pytest")
        return Member(str(reg.user.id), str(reg.account.id), pair.access_token, pair.session_id)

    return make


@pytest.fixture
def feed() -> FakeFeed:
    return FakeFeed()


@pytest.fixture
def make_gateway(
    services: Services, feed: FakeFeed
) -> Callable[..., AbstractContextManager[RunningGateway]]:
    s = services.settings

    def make(
        *, port: int | None = None, drain_on_exit: bool = False, **limit_changes: Any
    ) -> AbstractContextManager[RunningGateway]:
        assert s.redis_url is not None
        aredis = AsyncResilientRedis(
            s.redis_url.get_secret_value(), prefix=s.redis_key_prefix, timeout_s=2.0
        )
        auth = services.auth
        deps = GatewayDeps(
            limits=dataclasses.replace(limits_from(s), **limit_changes),
            bus=AsyncEventBus(aredis, prefix=s.redis_key_prefix, retention=1000),
            verify_access=auth.verify_access,
            is_session_active=auth.is_session_active,
            may_read_account=lambda p, acct: owns_account(services.db, p.user_id, acct),
            feed_factory=lambda: feed,
            closers=[aredis.close],
        )
        return gateway_server(deps, port=port, drain_on_exit=drain_on_exit)

    return make
