"""Acceptance 3: a ciphertext copied to another row, or a flipped byte, is a typed error
(``PiiUnreadable``), counted and logged by row id only; the API answers
``/problems/pii-unreadable`` for that record and nothing of the values, anywhere."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from cluster.accounts.cipher import unreadable_total
from domain.pii import PiiUnreadable, decode, encode
from serve.services import Services
from tests.integration.pii.conftest import pii_values, sql
from tests.integration.pii.test_at_rest import login, register_with_profile
from tests.kit.users import ApiUser, assert_problem


def _signed_in(client: httpx.Client) -> tuple[ApiUser, dict[str, Any]]:
    values = pii_values()
    user = register_with_profile(client, values)
    user.take(login(client, values["email"]).json())
    return user, values


def _flip(stored: str) -> str:
    key_id, sealed = decode(stored)
    return encode(key_id, sealed[:20] + bytes([sealed[20] ^ 0x01]) + sealed[21:])


def _copy_from(url: str, column: str, table: str, source_id: str) -> Callable[[str], str]:
    (row,) = sql(url, f"SELECT {column} FROM {table} WHERE {_key(table)} = :i", i=source_id)
    return lambda _stored: str(row[0])


def _key(table: str) -> str:
    return "user_id" if table == "profiles" else "id"


@pytest.mark.parametrize("how", ["copied", "flipped"])
@pytest.mark.parametrize(
    ("table", "column", "path"),
    [
        ("profiles", "legal_name", "/v1/users/me/profile"),
        ("profiles", "tax_id", "/v1/users/me/profile"),
        ("users", "email", "/v1/users/me"),
    ],
)
def test_tampered_field_then_typed_error_problem_and_nothing_leaks(
    client: httpx.Client,
    pii_database_url: str,
    pii_services: Services,
    caplog: pytest.LogCaptureFixture,
    how: str,
    table: str,
    column: str,
    path: str,
) -> None:
    caplog.set_level(logging.INFO)
    victim, victim_values = _signed_in(client)
    donor, donor_values = _signed_in(client)
    url = pii_database_url
    (row,) = sql(url, f"SELECT id, {column} FROM {table} WHERE {_key(table)} = :i", i=victim.id)
    row_id, stored = str(row[0]), str(row[1])
    change = _flip if how == "flipped" else _copy_from(url, column, table, donor.id)
    sql(url, f"UPDATE {table} SET {column} = :v WHERE id = :i", v=change(stored), i=row_id)
    failures_before = unreadable_total().local_total

    r = client.get(path, headers=victim.headers)

    assert_problem(r, 500, "pii-unreadable")
    assert unreadable_total().local_total == failures_before + 1
    secrets = [*victim_values.values(), *donor_values.values()]
    logs = caplog.text + "\n".join(str(rec.__dict__) for rec in caplog.records)
    for value in secrets:
        assert value.casefold() not in r.text.casefold(), value
        assert value.casefold() not in logs.casefold(), value
    assert f"row={row_id}" in caplog.text and f"table={table}" in caplog.text
    # the same read through the service is the typed error, naming the row only
    with pytest.raises(PiiUnreadable) as info:
        if table == "users":
            pii_services.auth.get_user(victim.id)
        else:
            pii_services.auth.accounts.get_profile(victim.id)
    assert info.value.ref.row_id == row_id and info.value.ref.column == column
    # the donor (and everybody else) is unaffected
    donor_path = client.get(path, headers=donor.headers)
    assert donor_path.status_code == 200, donor_path.text
    if column == "legal_name":
        assert donor_path.json()["legal_name"] == donor_values["legal_name"]
