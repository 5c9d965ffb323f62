"""domain.pii: the stored form, associated data, key ids and the email's index form."""

from __future__ import annotations

import pytest

from domain.pii import (
    FieldRef,
    PiiUnreadable,
    decode,
    encode,
    index_form,
    is_key_id,
    key_id_of,
    next_key_id,
)


def test_encode_then_decode_round_trips_key_id_and_bytes() -> None:
    stored = encode("k12", b"\x00\xffsealed")
    assert stored.startswith("pii1.k12.")
    assert decode(stored) == ("k12", b"\x00\xffsealed")
    assert key_id_of(stored) == "k12"


@pytest.mark.parametrize(
    "stored",
    ["ada@example.com", "pii1.k1", "pii2.k1.AAAA", "pii1.x1.AAAA", "pii1.k0.AAAA", "pii1.k1.A"],
)
def test_decode_when_not_the_stored_form_then_value_error(stored: str) -> None:
    with pytest.raises(ValueError):
        decode(stored)
    assert key_id_of(stored) is None


def test_encode_when_key_id_invalid_then_refused() -> None:
    with pytest.raises(ValueError):
        encode("k1.evil", b"x")


def test_field_ref_aad_binds_table_column_and_row() -> None:
    ref = FieldRef.parse("profiles|tax_id|3f0c")
    assert ref == FieldRef("profiles", "tax_id", "3f0c")
    assert ref.aad() == b"profiles|tax_id|3f0c"
    assert FieldRef("profiles", "tax_id", "other").aad() != ref.aad()
    assert FieldRef("profiles", "phone", "3f0c").aad() != ref.aad()


def test_index_form_trims_and_case_folds() -> None:
    assert index_form("  Ada@Example.COM \t") == "ada@example.com"
    assert index_form("STRASSE@example.com") == index_form("strasse@EXAMPLE.com")


def test_next_key_id_after_highest_version() -> None:
    assert next_key_id([]) == "k1"
    assert next_key_id(["k1", "k10", "k2"]) == "k11"
    assert is_key_id("k3") and not is_key_id("k03") and not is_key_id("identity")


def test_unreadable_error_message_names_no_value() -> None:
    err = PiiUnreadable(FieldRef("users", "email", "u1"), "authentication")
    assert err.code == "pii-unreadable"
    assert "u1" not in err.message and err.ref.row_id == "u1"
