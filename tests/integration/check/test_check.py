"""``elson check`` against the session's running platform (Serve API + gateway + actors):
it passes; with its Redis stopped, or with the gateway URL pointed at a TCP listener that
never speaks WebSocket, it fails naming that check, within its timeout."""

from __future__ import annotations

import argparse
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster.check import CHECK_NAMES, run_all, target_for
from cluster.cli import cmd_check
from cluster.settings import Settings
from tests.kit.redis_server import RedisProcess

pytestmark = pytest.mark.ray


def _args(url: str, **kw: object) -> argparse.Namespace:
    base = {"url": url, "ws_url": None, "timeout": 8.0, "only": None, "readyz": False}
    return argparse.Namespace(**(base | kw))


def _lines(out: str) -> dict[str, dict[str, object]]:
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    for line in lines:
        assert set(line) == {"name", "ok", "detail", "seconds"}, line
    return {line["name"]: line for line in lines}


def test_check_passes_against_the_local_platform(
    serve_app: str, serve_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cmd_check(_args(serve_app), serve_settings)
    report = _lines(capsys.readouterr().out)
    assert list(report) == list(CHECK_NAMES)
    failed = {k: v["detail"] for k, v in report.items() if not v["ok"]}
    assert failed == {} and code == 0
    ws = str(report["websocket"]["detail"])
    assert "authenticated" in ws and "closed 1000" in ws
    assert "quote seq" in ws or "market closed" in ws
    assert str(report["migrations"]["detail"]).startswith("at head")
    assert report["vault"]["detail"] == "not configured"


def test_check_with_redis_stopped_fails_naming_redis(
    serve_app: str, serve_settings: Settings, tmp_path: Path
) -> None:
    server = RedisProcess(tmp_path / "redis")
    server.start()
    try:
        settings = serve_settings.with_overrides(redis_url=server.url)
        ok_before = run_all(settings, target_for(settings, serve_app, None, 5.0), {"redis"})
        assert ok_before[0].ok, ok_before
    finally:
        server.stop()
    results = run_all(settings, target_for(settings, serve_app, None, 5.0))
    failed = {r.name: r.detail for r in results if not r.ok}
    assert set(failed) == {"redis"}, failed
    assert "Connection" in failed["redis"]


@pytest.fixture
def mute_listener() -> Iterator[int]:
    """Accepts TCP connections and never sends a byte."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield srv.getsockname()[1]
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    srv.close()


def test_check_with_gateway_replaced_by_a_mute_listener_fails_naming_websocket(
    serve_app: str,
    serve_settings: Settings,
    mute_listener: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ws_url = f"ws://127.0.0.1:{mute_listener}/ws"
    code = cmd_check(_args(serve_app, ws_url=ws_url, timeout=3.0), serve_settings)
    report = _lines(capsys.readouterr().out)
    failed = {k: v["detail"] for k, v in report.items() if not v["ok"]}
    assert code == 1
    assert set(failed) == {"websocket"}, failed
    assert str(failed["websocket"]).startswith("connect: TimeoutError")
    # bounded: the probe gave up at its own timeout, not the runner's backstop
    assert float(str(report["websocket"]["seconds"])) < 3.0 + 5.0
