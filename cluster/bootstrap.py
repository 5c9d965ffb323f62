"""Composition root: bring the platform up stage by stage and take it down cleanly.

Stages: data folder -> database -> Redis -> migrations -> dev clock (only with
``ELSON_CLOCK_START``: resumed after stored orders) -> Ray -> Serve (API + gateway,
whose builders create the actors) -> ready. Each stage is printed as it goes; a failure
names the stage and the reason. SIGTERM is handled like Ctrl-C (Kubernetes and CI stop
us that way); Ray installs its own SIGTERM handler in ``ray.init``, so ours is installed
again after Ray is up. Stopping reaps every process we started, including HAProxy that
Serve's proxy spawns, so nothing is left behind.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from cluster import names
from cluster.embedded import EmbeddedPostgres, EmbeddedRedis
from cluster.settings import Environment, Settings


class StageFailed(RuntimeError):
    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(f"stage '{stage}' failed: {reason}")
        self.stage = stage
        self.reason = reason


@dataclass
class Platform:
    settings: Settings
    out: TextIO = sys.stdout
    migrate: bool | None = None  # None: automatic in dev/test only
    _pg: EmbeddedPostgres | None = None
    _redis: EmbeddedRedis | None = None
    _ray_started: bool = False
    _tracked_pids: set[int] = field(default_factory=set)
    _stopped: bool = False

    # --- output ---
    def _say(self, msg: str) -> None:
        print(msg, file=self.out, flush=True)

    def _stage(self, name: str, fn: Callable[[], Any]) -> Any:
        started = time.monotonic()
        self._say(f"[{name}] starting")
        try:
            result = fn()
        except StageFailed:
            raise
        except Exception as exc:
            raise StageFailed(name, f"{type(exc).__name__}: {exc}") from exc
        self._say(f"[{name}] ok ({time.monotonic() - started:.1f}s)")
        return result

    # --- stages ---
    def start(self) -> Settings:
        s = self.settings
        self._stage("data", lambda: s.data_dir.mkdir(parents=True, exist_ok=True))
        db_url = (
            s.database_url.get_secret_value()
            if s.database_url is not None
            else self._stage("database", self._start_pg)
        )
        if s.database_url is not None:
            self._stage("database", lambda: _check_db(db_url))
        redis_url = (
            s.redis_url.get_secret_value()
            if s.redis_url is not None
            else self._stage("redis", self._start_redis)
        )
        # Ray workers run elsewhere: every path they get must be absolute.
        self.settings = s = s.with_overrides(
            database_url=db_url, redis_url=redis_url, data_dir=s.data_dir.resolve()
        )
        do_migrate = (
            self.migrate
            if self.migrate is not None
            else s.env in (Environment.DEV, Environment.TEST)
        )
        if do_migrate:
            from cluster import migrate

            self._stage("migrations", lambda: migrate.upgrade(db_url))
        if s.clock_start is not None:
            self.settings = s = self._stage("clock", self._resume_clock)
        self._stage("ray", self._start_ray)
        self._stage("serve", self._start_serve)
        self._stage("ready", self._wait_ready)
        return s

    def _start_pg(self) -> str:
        self._pg = EmbeddedPostgres(self.settings.data_dir)
        url = self._pg.start()
        if self._pg.pid:
            self._tracked_pids.add(self._pg.pid)
        return url

    def _start_redis(self) -> str:
        self._redis = EmbeddedRedis(self.settings.data_dir)
        url = self._redis.start()
        if self._redis.pid:
            self._tracked_pids.add(self._redis.pid)
        return url

    def _resume_clock(self) -> Settings:
        """The dev clock never starts before stored orders (``cluster.clock_resume``)."""
        from cluster.clock_resume import resume_clock
        from cluster.db import Database, PoolSize

        assert self.settings.database_url is not None
        db = Database(self.settings.database_url.get_secret_value(), PoolSize(1, 0))
        try:
            settings, why = resume_clock(self.settings, db)
        finally:
            db.dispose()
        if why is not None:
            self._say(f"[clock] {why}")
        return settings

    def _start_ray(self) -> None:
        from cluster.ray_runtime import init_ray

        init_ray(self.settings)
        self._ray_started = self.settings.ray_address is None
        self.install_signal_handlers()  # ray.init replaced SIGTERM's handler

    def _start_serve(self) -> None:
        from ray import serve

        from serve.app import build_app, build_gateway

        s = self.settings
        serve.start(http_options={"host": s.http_host, "port": s.http_port}, detached=False)
        # the settings built once at bootstrap, whole: resolved URLs, data folder, and one
        # market timeline for every process (clock anchor set after ``_resume_clock``)
        args = s
        serve.run(
            build_app(args), name=names.API_APP, route_prefix=names.API_ROUTE_PREFIX, blocking=False
        )
        serve.run(
            build_gateway(args),
            name=names.GATEWAY_APP,
            route_prefix=names.GATEWAY_ROUTE_PREFIX,
            blocking=False,
        )
        self._track_descendants()

    def _wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.base_url}/readyz", timeout=3) as resp:  # noqa: S310
                    if resp.status == 200:
                        self._track_descendants()
                        return
            except OSError as exc:
                last = str(exc)
            time.sleep(0.25)
        raise StageFailed("ready", f"/readyz did not answer 200 within {timeout_s:.0f}s ({last})")

    # --- info ---
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.http_port}"

    def urls(self) -> dict[str, str]:
        base = self.base_url
        return {
            "API": f"{base}/v1",
            "OpenAPI docs": f"{base}/docs",
            "WebSocket": f"ws://127.0.0.1:{self.settings.http_port}{names.GATEWAY_ROUTE_PREFIX}",
            "Metrics": f"{base}/metrics",
            "Readiness": f"{base}/readyz",
        }

    # --- stop ---
    def install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def _handler(signum: int, _frame: object) -> None:
            raise KeyboardInterrupt(f"signal {signum}")

        signal.signal(signal.SIGTERM, _handler)
        signal.signal(signal.SIGINT, _handler)

    def _track_descendants(self) -> None:
        try:
            import psutil

            for child in psutil.Process().children(recursive=True):
                self._tracked_pids.add(child.pid)
        except Exception:  # noqa: S110 - tracking is best effort; stop() still shuts Ray down
            pass

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        # Ignore further signals while we stop: a second Ctrl-C must not leave orphans.
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        self._track_descendants()
        steps: list[tuple[str, Callable[[], None]]] = []
        if self._ray_started or self.settings.ray_address is not None:
            steps.append(("serve", _shutdown_serve))
            steps.append(("ray", _shutdown_ray))
        if self._redis is not None:
            steps.append(("redis", self._redis.stop))
        if self._pg is not None:
            steps.append(("database", self._pg.stop))
        for name, fn in steps:
            self._say(f"[stop] {name}")
            # A terminal's Ctrl-C reaches Ray's own processes too; then Serve's controller
            # cannot answer and waiting longer only delays the reaping below.
            _bounded(fn, 10.0 if name == "serve" else 30.0)
        _reap(self._tracked_pids)
        self._say("[stop] done")


def _check_db(url: str) -> None:
    from cluster.db import server_connection_limits

    server_connection_limits(url)


def _shutdown_serve() -> None:
    from ray import serve

    serve.shutdown()


def _shutdown_ray() -> None:
    import ray

    ray.shutdown()


def _bounded(fn: Callable[[], None], timeout_s: float) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout_s)


def _reap(pids: set[int], grace_s: float = 5.0) -> None:
    """Terminate, then kill, whatever we started that is still alive."""
    try:
        import psutil
    except ImportError:  # pragma: no cover
        return
    me = os.getpid()
    procs = []
    for pid in pids:
        if pid == me:
            continue
        try:
            p = psutil.Process(pid)
            procs.append(p)
            for c in p.children(recursive=True):
                procs.append(c)
        except psutil.Error:
            continue
    for p in procs:
        try:
            p.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass


def run_forever(platform: Platform) -> int:
    """Start, print the URLs, block until Ctrl-C/SIGTERM, stop. Returns the exit code."""
    platform.install_signal_handlers()
    started = time.monotonic()
    try:
        platform.start()
        platform._say(
            f"Elson is up in {time.monotonic() - started:.1f}s ({platform.settings.env.value}):"
        )
        for label, url in platform.urls().items():
            platform._say(f"  {label:<13} {url}")
        platform._say("Press Ctrl-C to stop.")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        platform._say("stopping...")
        return 0
    except StageFailed as exc:
        print(f"elson up: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        platform.stop()
