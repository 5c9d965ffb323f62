"""WebSocket fan-out benchmark: quotes for N symbols to M clients subscribed to K each.

Runs the same gateway app (``serve.gateway.create_gateway_app``) twice in one run:

1. plain uvicorn in a subprocess on a free loopback port;
2. Ray Serve (its own deployment from the same builder) on 127.0.0.1:8000, in the
   high-throughput mode when ``settings.serve_high_throughput`` (``init_ray`` sets
   ``RAY_SERVE_ENABLE_HA_PROXY=1`` and ``RAY_SERVE_THROUGHPUT_OPTIMIZED=1`` before Ray
   starts). The mode is printed.

A synthetic feed inside the gateway process emits ``--rate`` quotes per second in total,
round-robin over the symbols, each stamped with ``time.time_ns()``; clients (aiohttp, in
this process) measure tick-to-client latency on the same clock, and deliveries per second
over a fixed window. Loopback only, bounded in time. Serve binds port 8000: run it under
``flock /tmp/elson-ray.lock``.

Steps (``--deliveries``, offered deliveries per second; the quote rate follows from the
clients, symbols and subscriptions): issue 20's step is 40,000/s with 1,000 clients x 10
of 500 symbols (2,000 quotes/s), where Serve's p99 must stay within 2x uvicorn's. Clients
opt in to batched frames (``serve.gateway_batch``) unless ``--no-batch``.

    flock /tmp/elson-ray.lock .venv/bin/python bench/ws_fanout.py --deliveries 40000
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import numpy as np

T_KEY = '"t_ns":'


class TickFeed:
    """The ``FeedClient`` contract, generating stamped quotes at a fixed total rate."""

    def __init__(self, symbols: list[str], rate: float, batch_hz: float = 100.0) -> None:
        self.symbols, self.rate, self.batch_hz = symbols, rate, batch_hz
        self.wanted: set[str] = set()

    async def subscribe(self, symbols: list[str]) -> None:
        self.wanted |= set(symbols)

    async def batches(self) -> Any:
        loop = asyncio.get_running_loop()
        interval, per_batch = 1.0 / self.batch_hz, self.rate / self.batch_hz
        seq: collections.Counter[str] = collections.Counter()
        i, owed, next_t = 0, 0.0, loop.time()
        while True:
            next_t += interval
            await asyncio.sleep(max(0.0, next_t - loop.time()))
            owed += per_batch
            n, owed = int(owed), owed - int(owed)
            now, events = time.time_ns(), []
            for _ in range(n):
                sym = self.symbols[i % len(self.symbols)]
                i += 1
                if sym in self.wanted:
                    seq[sym] += 1
                    events.append(
                        {
                            "symbol": sym,
                            "seq": seq[sym],
                            "type": "quote",
                            "bid": "100.00",
                            "ask": "100.01",
                            "t_ns": now,
                        }
                    )
            yield {"epoch": 1, "events": events, "dropped": 0}

    async def close(self) -> None:
        return None


def symbols_for(n: int) -> list[str]:
    return [f"S{i:04d}" for i in range(n)]


def bench_app(n_symbols: int, rate: float, mount: str = "") -> Any:
    """The gateway app with a synthetic feed and an accept-all auth (bench only)."""
    from cluster.auth.tokens import Principal
    from serve.gateway import GatewayDeps, create_gateway_app
    from serve.gateway_conn import Limits

    principal = Principal(
        "bench-user", "user", "bench-session", "jti", datetime.now(UTC) + timedelta(days=1)
    )
    deps = GatewayDeps(
        limits=Limits(heartbeat_s=3600, send_queue=4096, send_timeout_s=10),
        bus=None,
        verify_access=lambda token: principal,
        is_session_active=lambda sid: True,
        may_read_account=lambda p, a: True,
        feed_factory=lambda: TickFeed(symbols_for(n_symbols), rate),
    )
    return create_gateway_app(deps, mount=mount)


def run_uvicorn(port: int, n_symbols: int, rate: float) -> None:
    import uvicorn

    app = bench_app(n_symbols, rate, mount="/ws")
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", ws_ping_interval=None)


async def one_client(
    http: aiohttp.ClientSession,
    url: str,
    symbols: list[str],
    state: dict[str, Any],
    ready: asyncio.Event,
    sem: asyncio.Semaphore,
) -> None:
    async with sem:
        ws = await http.ws_connect(
            url, autoping=False, max_msg_size=2**22, timeout=aiohttp.ClientWSTimeout(ws_close=2)
        )
        await ws.send_json({"type": "authenticate", "token": "bench", "batch": state["batch"]})
        await ws.receive()
        await ws.send_json(
            {"type": "subscribe", "channels": [{"channel": "market.quotes", "symbols": symbols}]}
        )
        await ws.receive()
    async with ws:
        state["ready"] += 1
        if state["ready"] == state["clients"]:
            ready.set()
        lat = state["lat"]
        async for msg in ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            if not state["measuring"]:
                continue
            text, now = msg.data, time.time_ns()
            k = text.find(T_KEY)
            while k >= 0:  # a batched frame holds several quotes
                end = text.find("}", k)
                lat.append(now - int(text[k + len(T_KEY) : end]))
                k = text.find(T_KEY, end)
            if state["stop"]:
                break


async def load(url: str, args: argparse.Namespace) -> dict[str, float]:
    syms = symbols_for(args.symbols)
    state: dict[str, Any] = {
        "ready": 0,
        "clients": args.clients,
        "measuring": False,
        "stop": False,
        "lat": [],
        "batch": args.batch,
    }
    ready = asyncio.Event()
    sem = asyncio.Semaphore(50)

    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    def picks(i: int) -> list[str]:
        return [syms[(i * args.per_client + k) % len(syms)] for k in range(args.per_client)]

    tasks = [
        asyncio.create_task(one_client(http, url, picks(i), state, ready, sem))
        for i in range(args.clients)
    ]
    async with asyncio.timeout(180):
        while not ready.is_set():
            failed = [t for t in tasks if t.done() and t.exception() is not None]
            if failed:
                raise RuntimeError(f"{len(failed)} clients failed") from failed[0].exception()
            await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)  # warm-up
    state["measuring"] = True
    t0 = time.perf_counter()
    await asyncio.sleep(args.duration)
    state["measuring"] = False
    window = time.perf_counter() - t0
    state["stop"] = True
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await http.close()
    lat_ms = np.array(state["lat"], dtype=np.float64) / 1e6
    offered = args.rate * args.clients * args.per_client / args.symbols
    return {
        "deliveries_per_s": len(lat_ms) / window,
        "offered_per_s": offered,
        "p50_ms": float(np.percentile(lat_ms, 50)) if len(lat_ms) else float("nan"),
        "p99_ms": float(np.percentile(lat_ms, 99)) if len(lat_ms) else float("nan"),
        "max_ms": float(lat_ms.max()) if len(lat_ms) else float("nan"),
    }


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_uvicorn(args: argparse.Namespace) -> dict[str, float]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--_uvicorn",
            str(port),
            "--symbols",
            str(args.symbols),
            "--rate",
            str(args.rate),
        ]
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                import urllib.request

                urllib.request.urlopen(f"http://127.0.0.1:{port}/ws/healthz", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        return asyncio.run(load(f"ws://127.0.0.1:{port}/ws", args))
    finally:
        proc.terminate()
        proc.wait(10)


def bench_serve(args: argparse.Namespace) -> dict[str, float]:
    from ray import serve

    from cluster.ray_runtime import init_ray, shutdown_ray
    from cluster.settings import load_settings

    settings = load_settings(env="test", serve_high_throughput=True)
    init_ray(settings)
    ha = os.environ.get("RAY_SERVE_ENABLE_HA_PROXY")
    fast = os.environ.get("RAY_SERVE_THROUGHPUT_OPTIMIZED")
    print(f"serve mode: RAY_SERVE_ENABLE_HA_PROXY={ha} RAY_SERVE_THROUGHPUT_OPTIMIZED={fast}")
    n_symbols, rate = args.symbols, args.rate

    @serve.deployment(
        name="bench_gateway", ray_actor_options={"num_cpus": 0}, max_ongoing_requests=4000
    )
    @serve.ingress()
    class BenchGateway:
        def __serve_build_asgi_app__(self) -> Any:
            return bench_app(n_symbols, rate)

    try:
        serve.start(http_options={"host": "127.0.0.1", "port": 8000})
        serve.run(BenchGateway.bind(), name="bench_gateway", route_prefix="/ws")
        return asyncio.run(load("ws://127.0.0.1:8000/ws", args))
    finally:
        try:
            serve.delete("bench_gateway")
            serve.shutdown()
        finally:
            shutdown_ray()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--symbols", type=int, default=500)
    p.add_argument("--per-client", type=int, default=10)
    p.add_argument("--rate", type=float, default=500.0, help="quotes per second, all symbols")
    p.add_argument(
        "--deliveries",
        default="",
        help="offered deliveries/s steps, comma-separated (sets --rate per step), e.g. 40000",
    )
    p.add_argument("--no-batch", dest="batch", action="store_false", help="one message a frame")
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--modes", default="uvicorn,serve")
    p.add_argument("--_uvicorn", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args._uvicorn:
        run_uvicorn(args._uvicorn, args.symbols, args.rate)
        return
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    steps = [float(d) for d in args.deliveries.split(",") if d.strip()]
    if not steps:
        run_step(args)
    for offered in steps:
        args.rate = offered * args.symbols / (args.clients * args.per_client)
        run_step(args)


def run_step(args: argparse.Namespace) -> None:
    print(
        f"{args.clients} clients x {args.per_client} symbols of {args.symbols}; "
        f"{args.rate:.0f} quotes/s; {args.duration:.0f} s window; "
        f"{'batched frames' if args.batch else 'one message a frame'}",
        flush=True,
    )
    results: dict[str, dict[str, float]] = {}
    for mode in args.modes.split(","):
        results[mode] = bench_uvicorn(args) if mode == "uvicorn" else bench_serve(args)
        r = results[mode]
        print(
            f"{mode:8s} deliveries/s {r['deliveries_per_s']:9.0f} (offered "
            f"{r['offered_per_s']:.0f})  p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms"
            f"  max {r['max_ms']:7.1f} ms",
            flush=True,
        )
    if {"uvicorn", "serve"} <= set(results):
        ratio = results["serve"]["p99_ms"] / results["uvicorn"]["p99_ms"]
        print(f"serve p99 / uvicorn p99 = {ratio:.2f} (target <= 2)", flush=True)


if __name__ == "__main__":
    main()
