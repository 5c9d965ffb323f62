from __future__ import annotations

import json
import logging

import pytest

from cluster.logging import JsonFormatter, redact, request_id_var


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer eyJhbGciOi.abc.def", "eyJhbGciOi.abc.def"),
        ("password=hunter2 next", "hunter2"),
        ("params {'tax_id': '123-45-6789', 'x': 1}", "123-45-6789"),
        ('{"phone": "+12125550100"}', "+12125550100"),
        ("date_of_birth='1990-01-01'", "1990-01-01"),
        ("jwt_secret: abcdefabcdefabcdefabcdef", "abcdefabcdefabcdefabcdef"),
    ],
)
def test_secrets_and_pii_never_survive_redaction(text: str, secret: str) -> None:
    assert secret not in redact(text)


def test_json_log_line_carries_request_id_and_redacts() -> None:
    token = request_id_var.set("req-42")
    try:
        record = logging.LogRecord(
            "x", logging.INFO, __file__, 1, "login password=%s", ("pw123456",), None
        )
        from cluster.logging import _RedactingFilter

        _RedactingFilter().filter(record)
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["request_id"] == "req-42"
    assert "pw123456" not in line["msg"]
