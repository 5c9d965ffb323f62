"""``elson check`` failing where it should, for the checks whose failures the Ray-backed
tests (test_check.py: redis, websocket; test_check_vault.py) do not reach: ``db_pools``
over the server's budget, stale or missing market-data ``providers``, ``metrics`` that do
not scrape, and ``tls`` in production. Each runs through the CLI (``cmd_check --only``):
the failing check's JSON line names the problem and the exit code is 1.

No Ray here (none may start while another suite runs, and these cases need none): where a
check asks Ray something, Ray's answer is given instead. ``connect`` (joining the cluster)
is a no-op; ``serve_replicas`` returns the replica counts Serve would report; the feed
shards' answers come from real ``FeedCore`` objects (the logic a shard actor runs) driven
by hand on a fake clock, through the real ``MarketDataQuery.feed_status`` aggregation with
only its per-shard actor call replaced. PostgreSQL, the API app and TLS listeners are real.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import cluster.marketdata.query as query_mod
from actors.feed_core import FeedCore
from actors.feed_shard import failover_config
from cluster.check import ray_checks
from cluster.cli import cmd_check
from cluster.db import server_connection_limits
from cluster.settings import Settings
from domain.clock import FakeClock
from domain.errors import TransientError
from domain.marketdata import Quote
from serve.services import Services, build_services
from tests.kit.api import api_with, protected_settings
from tests.kit.redis_server import free_port
from tests.kit.scripted_provider import ScriptedProvider, write_control
from tests.kit.vault_tls import TlsFiles, make_tls_files

TOKEN = "metrics-" + "t" * 40
#: Tuesday 10:00 New York: the shards below judge the market open (their rule is injected)
T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def check(
    settings: Settings, capsys: pytest.CaptureFixture[str], only: str, **kw: object
) -> tuple[int, dict[str, Any]]:
    """``elson check --only <one>``: (exit code, that check's JSON line)."""
    base = {"url": None, "ws_url": None, "timeout": 3.0, "only": only, "readyz": False}
    code = cmd_check(argparse.Namespace(**(base | kw)), settings)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert [line["name"] for line in lines] == [only], lines
    return code, lines[0]


def failed(code: int, line: dict[str, Any]) -> str:
    assert code == 1 and line["ok"] is False, (code, line)
    return str(line["detail"])


def passed(code: int, line: dict[str, Any]) -> str:
    assert code == 0 and line["ok"] is True, (code, line)
    return str(line["detail"])


@pytest.fixture
def no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    """Joining Ray succeeds without a cluster; starting or joining a real one fails."""
    import ray

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("these tests run no Ray")

    monkeypatch.setattr(ray, "init", refuse)
    monkeypatch.setattr(ray_checks, "connect", lambda settings: None)


# --- db_pools -------------------------------------------------------------------------------


def test_db_pools_when_the_server_cannot_hold_every_pool_then_fails_naming_the_budget(
    settings: Settings,
    database_url: str,
    no_ray: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(ray_checks, "serve_replicas", lambda s: {"api": 1, "gateway": 1})
    ok = settings.with_overrides(api_replicas=1, gateway_replicas=1, job_workers=0)
    assert "<= max_connections" in passed(*check(ok, capsys, "db_pools"))
    max_conn, _ = server_connection_limits(database_url)
    # a reserve that leaves the pooled processes nothing (as too many replicas would)
    over = ok.with_overrides(db_connection_reserve=max_conn)
    detail = failed(*check(over, capsys, "db_pools"))
    assert f"max_connections={max_conn}" in detail
    assert "pooled processes: raise max_connections" in detail


def test_db_pools_when_serve_runs_more_replicas_than_the_budget_counts_then_fails(
    settings: Settings,
    no_ray: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    counted = settings.with_overrides(api_replicas=2, gateway_replicas=2, job_workers=0)
    monkeypatch.setattr(ray_checks, "serve_replicas", lambda s: {"api": 2, "gateway": 3})
    detail = failed(*check(counted, capsys, "db_pools"))
    assert detail == (
        "gateway runs 3 replicas, settings count 2: the pool budget counts too few processes"
    )
    monkeypatch.setattr(ray_checks, "serve_replicas", lambda s: {"api": 2, "gateway": 2})
    passed(*check(counted, capsys, "db_pools"))


# --- providers ------------------------------------------------------------------------------


def _quote(provider: str, symbol: str, at: datetime) -> Quote:
    return Quote(symbol, Decimal("10.00"), 100, Decimal("10.02"), 100, at, at, provider, 1)


def _shard(index: int, clock: FakeClock, control: Path, market_open: bool = True) -> FeedCore:
    """A shard's logic with providers ``a`` and ``b`` (silent scripted ones, started then
    stopped so the shard lists them), each symbol quoted once by ``a`` at T0."""
    s = Settings.model_validate(
        {"feed_providers": "a,b", "feed_staleness_s": 5.0, "feed_divergence_bps": "1e9"}
    )
    core = FeedCore(
        shard=index,
        symbols=["AAPL", "MSFT"],
        chain=["a", "b"],
        make_provider=lambda name, on_error: ScriptedProvider(
            control, clock=clock, on_error=on_error, name=name
        ),
        failover=failover_config(s),
        clock=clock,
        market_open=lambda _at: market_open,
        epoch=f"e{index}",
    )

    async def start_and_stop() -> None:
        await core.start()
        await asyncio.sleep(0.05)
        await core.stop()

    asyncio.run(start_and_stop())
    for symbol in ("AAPL", "MSFT"):
        core.on_event("a", _quote("a", symbol, T0))
    core.check(T0)
    return core


@pytest.fixture
def shards(no_ray: None, monkeypatch: pytest.MonkeyPatch) -> dict[int, FeedCore | None]:
    """What the feed shard actors answer (``None``: that shard is not running)."""
    answers: dict[int, FeedCore | None] = {}

    class ShardsByHand(query_mod.MarketDataQuery):
        async def _call(self, shard: int, method: str, *args: Any) -> Any:
            core = answers.get(shard)
            if core is None:
                raise TransientError(f"market data shard {shard} is not running")
            return getattr(core, method)(*args)

    monkeypatch.setattr(query_mod, "MarketDataQuery", ShardsByHand)
    return answers


@pytest.fixture
def feed_settings(settings: Settings) -> Settings:
    return settings.with_overrides(feed_providers="a,b", feed_shards=2)


def test_providers_when_the_active_provider_goes_silent_in_market_hours_then_fails_naming_it(
    feed_settings: Settings,
    shards: dict[int, FeedCore | None],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = FakeClock(T0)
    control = tmp_path / "silent.json"
    write_control(control, "silent")
    shards.update({0: _shard(0, clock, control), 1: _shard(1, clock, control)})
    clock.set(T0 + timedelta(seconds=2))
    assert "4 symbols fresh (market open)" in passed(*check(feed_settings, capsys, "providers"))
    later = T0 + timedelta(seconds=ray_checks.STALE_AFTER_S + 30)
    clock.set(later)
    for core in shards.values():
        assert core is not None
        core.check(later)  # the shard's own check loop ran meanwhile
    detail = failed(*check(feed_settings, capsys, "providers"))
    assert "AAPL stale on a (60.0 s)" in detail and "MSFT stale on a (60.0 s)" in detail


def test_providers_when_the_market_is_closed_then_silence_is_not_stale(
    feed_settings: Settings,
    shards: dict[int, FeedCore | None],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = FakeClock(T0)
    control = tmp_path / "silent.json"
    write_control(control, "silent")
    shards.update({i: _shard(i, clock, control, market_open=False) for i in (0, 1)})
    clock.set(T0 + timedelta(hours=1))
    assert "market closed" in passed(*check(feed_settings, capsys, "providers"))


def test_providers_when_a_shard_is_down_or_lacks_a_provider_then_fails_naming_them(
    feed_settings: Settings,
    shards: dict[int, FeedCore | None],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = FakeClock(T0)
    control = tmp_path / "silent.json"
    write_control(control, "silent")
    shards.update({0: _shard(0, clock, control), 1: None})
    three = feed_settings.with_overrides(feed_providers="a,b,c")
    detail = failed(*check(three, capsys, "providers"))
    assert "shard 0 lacks providers ['c']" in detail
    assert "shard 1 down: market data shard 1 is not running" in detail


# --- metrics --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def services(settings: Settings) -> Iterator[Services]:
    s = settings.with_overrides(api_replicas=1, job_workers=0, billing_poll_s=3600)
    built = build_services(s, in_ray=False, process_label="check-tests")
    yield built
    built.close()


@pytest.mark.parametrize(
    ("app_token", "check_token", "answered"),
    [(None, TOKEN, "/metrics answered 404"), (TOKEN, "w" * 48, "/metrics answered 401")],
    ids=["production-without-a-token", "wrong-token"],
)
def test_metrics_when_the_api_refuses_the_scrape_then_fails_naming_the_status(
    app_token: str | None,
    check_token: str,
    answered: str,
    services: Services,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = protected_settings(services.settings, "production", app_token)
    checker = protected_settings(services.settings, "production", check_token)
    with api_with(services, app) as url:
        assert failed(*check(checker, capsys, "metrics", url=url)) == answered


def test_metrics_with_the_right_token_then_passes(
    services: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    prod = protected_settings(services.settings, "production", TOKEN)
    with api_with(services, prod) as url:
        assert "elson_" in passed(*check(prod, capsys, "metrics", url=url))


def test_metrics_when_nothing_listens_then_fails_unreachable(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert failed(*check(settings, capsys, "metrics", url=url)).startswith("/metrics unreachable")


class _NotElson(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"# TYPE other_up gauge\nother_up 1\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_metrics_when_the_scrape_holds_no_elson_metric_then_fails(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotElson)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        detail = failed(*check(settings, capsys, "metrics", url=url))
    finally:
        server.shutdown()
        server.server_close()
    assert detail == "/metrics parsed (1 families) but holds no elson_ metric"


# --- tls ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("check-tls"))


@pytest.fixture
def tls_port(tls_files: TlsFiles) -> Iterator[int]:
    """A loopback TLS listener (certificate for 127.0.0.1 from the kit's CA): handshakes,
    then closes (the check's TLS probe asks for no more)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls_files.server_cert, tls_files.server_key)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            try:
                with ctx.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield srv.getsockname()[1]
    stop.set()
    thread.join(5)
    srv.close()


def _tls_settings(settings: Settings, env: str, port: int) -> Settings:
    prod = protected_settings(settings, env, None)
    return prod.with_overrides(vault_addr=f"https://127.0.0.1:{port}")


def test_tls_in_production_when_an_endpoint_is_plain_then_fails_naming_it(
    settings: Settings,
    tls_port: int,
    tls_files: TlsFiles,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.ca_cert))
    prod = _tls_settings(settings, "production", tls_port)
    secure = f"https://127.0.0.1:{tls_port}"
    detail = passed(*check(prod, capsys, "tls", url=secure))
    assert detail.count(f"127.0.0.1:{tls_port} TLSv1.3") == 3  # API, WebSocket, Vault
    plain = f"http://127.0.0.1:{tls_port}"
    detail = failed(*check(prod, capsys, "tls", url=plain))
    assert f"{plain} is not TLS" in detail and f"ws://127.0.0.1:{tls_port}/ws is not TLS" in detail
    # staging does not require it (the overlays terminate TLS at the Ingress there too,
    # but the check holds only production to it)
    staging = _tls_settings(settings, "staging", tls_port)
    assert passed(*check(staging, capsys, "tls", url=plain)) == "not required (env staging)"


def test_tls_in_production_when_a_certificate_does_not_verify_then_fails_naming_it(
    settings: Settings,
    tls_port: int,
    tls_files: TlsFiles,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.other_ca_cert))
    prod = _tls_settings(settings, "production", tls_port)
    detail = failed(*check(prod, capsys, "tls", url=f"https://127.0.0.1:{tls_port}"))
    assert detail.count("certificate verify failed") == 3, detail
