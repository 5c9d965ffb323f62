"""Reconciliation of fees (part of ``elson reconcile``, see ``invariants``).

- ``fill-fee``: the journal entry of every fill (``fill:<execution_id>``) posts the fill's
  fee (``fills.fee``) on the ``fees`` ledger account (no posting counts as 0).
- ``fees``: each account's ``fees`` balance equals the fees of its fills plus the
  ``fees`` postings of entries that are not fills (fee entries, and resets, which close
  the balance).

The cash leg of each fill, fee included, is ``invariants``' ``fill-booked`` check.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from cluster.orders.types import Difference

ZERO = Decimal(0)


def _rows(s: Session, sql: str, account_id: str | None) -> list[Any]:
    return list(s.execute(text(sql), {"account": account_id}).all())


def _fmt(value: Decimal) -> str:
    return "0" if value == 0 else format(value.normalize(), "f")


def check(s: Session, account_id: str | None) -> list[Difference]:
    return _fill_fees(s, account_id) + _balances(s, account_id)


def _fill_fees(s: Session, account_id: str | None) -> list[Difference]:
    return [
        Difference("fill-fee", str(acc), f"fill {eid} fee", _fmt(fee), _fmt(booked))
        for eid, acc, fee, booked in _rows(
            s,
            "SELECT f.execution_id, f.account_id, f.fee, coalesce(sum(p.amount), 0) "
            "FROM fills f LEFT JOIN postings p ON p.entry_id = 'fill:' || f.execution_id "
            "AND p.ledger_account = 'fees'"
            " WHERE (CAST(:account AS uuid) IS NULL OR f.account_id = CAST(:account AS uuid))"
            " GROUP BY 1, 2, 3 HAVING f.fee <> coalesce(sum(p.amount), 0) ORDER BY 1",
            account_id,
        )
    ]


def _balances(s: Session, account_id: str | None) -> list[Difference]:
    have: dict[str, Decimal] = defaultdict(Decimal)
    want: dict[str, Decimal] = defaultdict(Decimal)
    for acc, is_fill, total in _rows(
        s,
        "SELECT p.account_id, j.kind = 'fill', sum(p.amount) FROM postings p "
        "JOIN journal_entries j ON j.id = p.entry_id WHERE p.ledger_account = 'fees'"
        " AND (CAST(:account AS uuid) IS NULL OR p.account_id = CAST(:account AS uuid))"
        " GROUP BY 1, 2",
        account_id,
    ):
        have[str(acc)] += total
        if not is_fill:
            want[str(acc)] += total
    for acc, total in _rows(
        s,
        "SELECT account_id, sum(fee) FROM fills"
        " WHERE (CAST(:account AS uuid) IS NULL OR account_id = CAST(:account AS uuid))"
        " GROUP BY 1",
        account_id,
    ):
        want[str(acc)] += total
    return [
        Difference("fees", acc, "fees", _fmt(want.get(acc, ZERO)), _fmt(have.get(acc, ZERO)))
        for acc in sorted(set(have) | set(want))
        if have.get(acc, ZERO) != want.get(acc, ZERO)
    ]
