"""SQL for the ledger: journal entries and their postings, and the balances they add to.

The postings are the truth. Reading a balance as their sum grows with the account's
history (one row per fill for ``cash``), so balances are materialized in ``balances``: a
statement-level trigger on ``postings`` (migration ``0005_order_path``) adds every
inserted posting to its row in the same transaction, whatever code inserts it. A balance
read is then one primary-key lookup. ``posted_balances`` still sums the postings, for
``elson reconcile``, which checks that the two agree.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from cluster.orders import mappers
from cluster.orders.tables import balances as balance_rows
from cluster.orders.tables import fills, journal_entries, postings
from domain.ledger import CASH, JournalEntry, Posting, position_account

ZERO = Decimal(0)


def insert_entry(session: Session, entry: JournalEntry) -> bool:
    """Store an entry and its postings; False (and nothing written) if its id exists.

    Entry ids are deterministic (``fill:<execution_id>``), so a replayed fact is a no-op.
    """
    account = uuid.UUID(entry.account_id)
    inserted = session.execute(
        pg_insert(journal_entries)
        .values(
            id=entry.id, account_id=account, kind=entry.kind.value, at=entry.at, memo=entry.memo
        )
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(journal_entries.c.id)
    ).scalar_one_or_none()
    if inserted is None:
        return False
    session.execute(
        insert(postings),
        [
            {
                "entry_id": entry.id,
                "ledger_account": p.account,
                "account_id": account,
                "unit": p.unit,
                "amount": p.amount,
            }
            for p in entry.postings
        ],
    )
    return True


def balance(session: Session, account_id: str, ledger_account: str) -> Decimal:
    b = balance_rows.c
    total = session.execute(
        select(b.amount).where(
            b.account_id == uuid.UUID(account_id), b.ledger_account == ledger_account
        )
    ).scalar_one_or_none()
    return Decimal(total or 0)


def cash(session: Session, account_id: str) -> Decimal:
    return balance(session, account_id, CASH)


def position(session: Session, account_id: str, symbol: str) -> Decimal:
    return balance(session, account_id, position_account(symbol))


def balances(session: Session, account_id: str) -> dict[str, Decimal]:
    """Every materialized balance of the account (zero balances included)."""
    b = balance_rows.c
    rows = session.execute(
        select(b.ledger_account, b.amount).where(b.account_id == uuid.UUID(account_id))
    )
    return {account: Decimal(total) for account, total in rows}


def posted_balances(session: Session, account_id: str) -> dict[str, Decimal]:
    """The same, summed from the postings (the truth; for reconcile)."""
    rows = session.execute(
        select(postings.c.ledger_account, func.sum(postings.c.amount))
        .where(postings.c.account_id == uuid.UUID(account_id))
        .group_by(postings.c.ledger_account)
    )
    return {account: Decimal(total) for account, total in rows}


def balance_postings(session: Session, account_id: str) -> list[Posting]:
    """One posting per ledger account carrying its balance: what a reset must close."""
    return [Posting(a, amount) for a, amount in balances(session, account_id).items()]


def last_reset_seq(session: Session, account_id: str) -> int:
    found = session.execute(
        select(func.max(journal_entries.c.seq)).where(
            journal_entries.c.account_id == uuid.UUID(account_id),
            journal_entries.c.kind == "reset",
        )
    ).scalar_one()
    return int(found or 0)


def fills_since(session: Session, account_id: str, seq: int) -> list[Any]:
    """Fills booked after ledger sequence ``seq``, in booking order (for average cost)."""
    entry_id = "fill:" + fills.c.execution_id
    stmt = (
        select(fills.c.symbol, fills.c.side, fills.c.qty, fills.c.price, journal_entries.c.seq)
        .join(journal_entries, journal_entries.c.id == entry_id)
        .where(fills.c.account_id == uuid.UUID(account_id), journal_entries.c.seq > seq)
        .order_by(journal_entries.c.seq)
    )
    return list(session.execute(stmt).all())


def entries_page(
    session: Session, account_id: str, *, limit: int, before_seq: int | None
) -> tuple[list[JournalEntry], int | None]:
    """Entries newest first; returns the page and the seq to continue below, if any."""
    stmt = select(journal_entries).where(journal_entries.c.account_id == uuid.UUID(account_id))
    if before_seq is not None:
        stmt = stmt.where(journal_entries.c.seq < before_seq)
    heads = (
        session.execute(stmt.order_by(journal_entries.c.seq.desc()).limit(limit + 1))
        .mappings()
        .all()
    )
    page = heads[:limit]
    lines: dict[str, list[Any]] = {}
    if page:
        for row in (
            session.execute(
                select(postings)
                .where(postings.c.entry_id.in_([h["id"] for h in page]))
                .order_by(postings.c.entry_id, postings.c.ledger_account)
            )
            .mappings()
            .all()
        ):
            lines.setdefault(row["entry_id"], []).append(row)
    entries = [mappers.entry_from_rows(h, lines.get(h["id"], [])) for h in page]
    more = len(heads) > limit
    return entries, (int(page[-1]["seq"]) if more else None)
