"""A Ray actor's log lines reach the configured target (the container's standard output in
production, ``ELSON_LOG_TARGET=container``; a file here) as JSON with the event, account,
order and request id fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import ray

pytestmark = pytest.mark.ray


@ray.remote(num_cpus=0)
class _Chatty:
    def __init__(self) -> None:
        from cluster.logging import setup_worker_logging

        setup_worker_logging()  # what the worker setup hook / actor constructors call

    def fill(self) -> None:
        import logging

        from cluster.logging import log_context, request_id_var

        token = request_id_var.set("req-7")
        try:
            with log_context(account="acct-1", order="ord-9"):
                logging.getLogger("actors.paper").info(
                    "filled %s shares password=hunter2", 3, extra={"event": "order.filled"}
                )
        finally:
            request_id_var.reset(token)


def test_actor_log_line_is_json_with_event_account_order_request_id(
    ray_cluster: None, tmp_path: Path
) -> None:
    out = tmp_path / "container-stdout.log"
    env = {"ELSON_ENV": "production", "ELSON_LOG_TARGET": str(out), "ELSON_COMPONENT": "paper"}
    actor = _Chatty.options(runtime_env={"env_vars": env}).remote()  # type: ignore[attr-defined]
    try:
        ray.get(actor.fill.remote(), timeout=60)
    finally:
        ray.kill(actor)
    lines = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    filled = [line for line in lines if line.get("event") == "order.filled"]
    assert len(filled) == 1, lines
    line = filled[0]
    assert (line["account"], line["order"], line["request_id"]) == ("acct-1", "ord-9", "req-7")
    assert line["component"] == "paper" and line["level"] == "INFO"
    assert "filled 3 shares" in line["msg"] and "hunter2" not in line["msg"]
