"""The real API app (``create_api`` + ``build_services``) in a process of its own.

Two of these are two API replicas: they share PostgreSQL and Redis and nothing else, so a
test can tell state kept in Redis from state kept in one process's memory. Run as
``python -m tests.kit.api_process SETTINGS_JSON PORT``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from cluster.settings import Settings
from tests.kit.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]


def settings_json(s: Settings) -> str:
    """Every field, secrets included (``model_dump(mode="json")`` would mask them)."""

    def plain(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        if isinstance(value, Enum):
            return value.value
        return value

    return json.dumps({k: plain(v) for k, v in s.model_dump().items()}, default=str)


@contextmanager
def api_processes(s: Settings, count: int, workdir: Path) -> Iterator[list[str]]:
    """``count`` API processes on loopback ports; their base URLs once each is ready."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "settings.json"
    config.write_text(settings_json(s))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for i in range(count):
            port = free_port()
            log = (workdir / f"api-{i}.log").open("wb")
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "tests.kit.api_process", str(config), str(port)],
                    cwd=ROOT,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        for proc, url in zip(procs, urls, strict=True):
            _wait_healthy(proc, url, workdir)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _wait_healthy(proc: subprocess.Popen[bytes], url: str, workdir: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            logs = "\n".join(p.read_text() for p in workdir.glob("api-*.log"))
            raise RuntimeError(f"API process exited with {proc.returncode}:\n{logs}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"API process at {url} did not become ready in time")


def main(argv: list[str]) -> None:
    import uvicorn

    from serve.api import create_api
    from serve.services import build_services

    config, port = Path(argv[0]), int(argv[1])
    settings = Settings.model_validate(json.loads(config.read_text()))
    services = build_services(settings, in_ray=False, process_label=f"api-{port}")
    try:
        uvicorn.run(
            create_api(services), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
    finally:
        services.close()


if __name__ == "__main__":
    main(sys.argv[1:])
