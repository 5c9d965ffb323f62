"""Reconciliation checks over what is stored: each returns ``Difference``s, never raises.

What must hold, and why each can break only through a bug or a hand edit (the writes
that keep them are single transactions, and constraints refuse most bad rows):

- ``entry-balanced``: every journal entry's postings sum to zero per unit.
- ``entry-has-postings`` / ``posting-account``: no empty entries; postings belong to the
  entry's account.
- ``cash``: cash equals minus the other USD ledger accounts (funding, trades, fees), and
  ``cash-non-negative``: it is never below zero (no margin in paper).
- ``fill-booked``: every fill has its ``fill:<execution_id>`` entry with the cash leg
  ``to_cents(qty x price)`` plus (buy) or minus (sell) the fill's fee.
- ``fill-fee`` / ``fees``: each fill's entry posts its fee on ``fees``, and each account's
  ``fees`` balance is the sum of its fills' fees and other fee postings (``fee_check``).
- ``position``: each position equals the signed sum of its fills plus reset entries.
- ``order-filled-qty``: an order's filled quantity equals the sum of its fills.
- ``order-status`` / ``event-transition``: each order's status is the last status its
  events reached, and every stored event is a move the transition table allows.
- ``reservations`` / ``reservation-price`` / ``reservations-sql`` / ``sell-reservations``:
  every open order's reservation, market buys priced at the latest quote or else at
  their ``reserve_price``, fits the cash or the shares held (see ``reserve_check``).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from cluster.orders import fee_check, reserve_check
from cluster.orders.types import Difference
from domain.ledger import to_cents
from domain.money import EXACT
from domain.orders import OrderEventKind, OrderStatus, transition_target

ZERO = Decimal(0)
AskLookup = reserve_check.AskLookup


def _rows(s: Session, sql: str, account_id: str | None) -> list[Any]:
    return list(s.execute(text(sql), {"account": account_id}).all())


def _fmt(value: Decimal) -> str:
    return "0" if value == 0 else format(value.normalize(), "f")


def check(
    s: Session, account_id: str | None, *, asks: AskLookup, buffer_bps: Decimal
) -> list[Difference]:
    out: list[Difference] = []
    for fn in (
        _entries,
        _cash,
        _fills,
        fee_check.check,
        _positions,
        _orders,
        _events,
        _materialized,
    ):
        out.extend(fn(s, account_id))
    out.extend(_reservations(s, account_id, asks, buffer_bps))
    return out


def _entries(s: Session, account_id: str | None) -> list[Difference]:
    out = [
        Difference("entry-balanced", str(acc), f"journal entry {eid} ({unit})", "0", _fmt(total))
        for eid, acc, unit, total in _rows(
            s,
            "SELECT entry_id, account_id, unit, sum(amount) FROM postings"
            " WHERE (CAST(:account AS uuid) IS NULL OR account_id = CAST(:account AS uuid))"
            " GROUP BY entry_id, account_id, unit HAVING sum(amount) <> 0 ORDER BY 1, 3",
            account_id,
        )
    ]
    out += [
        Difference("entry-has-postings", str(acc), f"journal entry {eid}", ">= 2 postings", "0")
        for eid, acc in _rows(
            s,
            "SELECT j.id, j.account_id FROM journal_entries j WHERE NOT EXISTS "
            "(SELECT 1 FROM postings p WHERE p.entry_id = j.id)"
            " AND (CAST(:account AS uuid) IS NULL OR j.account_id = CAST(:account AS uuid))",
            account_id,
        )
    ]
    out += [
        Difference("posting-account", str(acc), f"posting {eid}/{ledger}", str(acc), str(other))
        for eid, ledger, other, acc in _rows(
            s,
            "SELECT p.entry_id, p.ledger_account, p.account_id, j.account_id FROM postings p "
            "JOIN journal_entries j ON j.id = p.entry_id WHERE p.account_id <> j.account_id"
            " AND (CAST(:account AS uuid) IS NULL OR j.account_id = CAST(:account AS uuid))",
            account_id,
        )
    ]
    return out


def _materialized(s: Session, account_id: str | None) -> list[Difference]:
    """``balances`` (kept by a trigger) must equal the sums of the postings, row for row."""
    return [
        Difference("balance-materialized", str(acc), f"balance {ledger}", _fmt(posted), _fmt(kept))
        for acc, ledger, posted, kept in _rows(
            s,
            "SELECT coalesce(p.account_id, b.account_id), coalesce(p.ledger_account, "
            "b.ledger_account), coalesce(p.total, 0), coalesce(b.amount, 0) FROM "
            "(SELECT account_id, ledger_account, sum(amount) AS total FROM postings"
            " WHERE (CAST(:account AS uuid) IS NULL OR account_id = CAST(:account AS uuid))"
            " GROUP BY 1, 2) p FULL JOIN (SELECT * FROM balances"
            " WHERE (CAST(:account AS uuid) IS NULL OR account_id = CAST(:account AS uuid))) b"
            " ON b.account_id = p.account_id AND b.ledger_account = p.ledger_account"
            " WHERE coalesce(p.total, 0) <> coalesce(b.amount, 0) ORDER BY 1, 2",
            account_id,
        )
    ]


def _cash(s: Session, account_id: str | None) -> list[Difference]:
    usd: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for acc, ledger, total in _rows(
        s,
        "SELECT account_id, ledger_account, sum(amount) FROM postings WHERE unit = 'USD'"
        " AND (CAST(:account AS uuid) IS NULL OR account_id = CAST(:account AS uuid))"
        " GROUP BY 1, 2",
        account_id,
    ):
        usd[str(acc)][ledger] = total
    out = []
    for acc, totals in sorted(usd.items()):
        cash = totals.get("cash", ZERO)
        others = sum((v for k, v in totals.items() if k != "cash"), ZERO)
        if cash != -others:
            out.append(Difference("cash", acc, "cash", _fmt(-others), _fmt(cash)))
        if cash < 0:
            out.append(Difference("cash-non-negative", acc, "cash", ">= 0", _fmt(cash)))
    return out


def _fills(s: Session, account_id: str | None) -> list[Difference]:
    out = []
    for eid, acc, side, qty, price, fee, booked in _rows(
        s,
        "SELECT f.execution_id, f.account_id, f.side, f.qty, f.price, f.fee, p.amount "
        "FROM fills f "
        "LEFT JOIN postings p ON p.entry_id = 'fill:' || f.execution_id "
        "AND p.ledger_account = 'cash'"
        " WHERE (CAST(:account AS uuid) IS NULL OR f.account_id = CAST(:account AS uuid))",
        account_id,
    ):
        gross = to_cents(EXACT.multiply(qty, price))
        expected = -gross - fee if side == "buy" else gross - fee
        if booked is None or booked != expected:
            shown = "no entry" if booked is None else _fmt(booked)
            out.append(
                Difference("fill-booked", str(acc), f"fill {eid} cash", _fmt(expected), shown)
            )
    return out


def _positions(s: Session, account_id: str | None) -> list[Difference]:
    ledger: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    expected: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for acc, account, total in _rows(
        s,
        "SELECT account_id, ledger_account, sum(amount) FROM postings "
        "WHERE ledger_account LIKE 'position:%'"
        " AND (CAST(:account AS uuid) IS NULL OR account_id = CAST(:account AS uuid))"
        " GROUP BY 1, 2",
        account_id,
    ):
        ledger[(str(acc), account.split(":", 1)[1])] = total
    for acc, symbol, total in _rows(
        s,
        "SELECT account_id, symbol, sum(CASE side WHEN 'buy' THEN qty ELSE -qty END) "
        "FROM fills"
        " WHERE (CAST(:account AS uuid) IS NULL OR account_id = CAST(:account AS uuid))"
        + " GROUP BY 1, 2",
        account_id,
    ):
        expected[(str(acc), symbol)] += total
    for acc, account, total in _rows(
        s,
        "SELECT p.account_id, p.ledger_account, sum(p.amount) FROM postings p "
        "JOIN journal_entries j ON j.id = p.entry_id "
        "WHERE j.kind <> 'fill' AND p.ledger_account LIKE 'position:%'"
        " AND (CAST(:account AS uuid) IS NULL OR p.account_id = CAST(:account AS uuid))"
        " GROUP BY 1, 2",
        account_id,
    ):
        expected[(str(acc), account.split(":", 1)[1])] += total
    out = []
    for key in sorted(set(ledger) | set(expected)):
        have, want = ledger.get(key, ZERO), expected.get(key, ZERO)
        if have != want:
            out.append(Difference("position", key[0], f"position {key[1]}", _fmt(want), _fmt(have)))
    return out


def _orders(s: Session, account_id: str | None) -> list[Difference]:
    out = [
        Difference("order-filled-qty", str(acc), f"order {oid}", _fmt(fills), _fmt(filled))
        for oid, acc, filled, fills in _rows(
            s,
            "SELECT o.id, o.account_id, o.filled_qty, coalesce(sum(f.qty), 0) FROM orders o "
            "LEFT JOIN fills f ON f.order_id = o.id"
            " WHERE (CAST(:account AS uuid) IS NULL OR o.account_id = CAST(:account AS uuid))"
            " GROUP BY o.id HAVING o.filled_qty <> coalesce(sum(f.qty), 0)",
            account_id,
        )
    ]
    known = {st.value for st in OrderStatus}
    for oid, acc, status, last in _rows(
        s,
        "SELECT o.id, o.account_id, o.status, e.to_status FROM orders o LEFT JOIN LATERAL "
        "(SELECT to_status FROM order_events WHERE order_id = o.id ORDER BY id DESC LIMIT 1) e "
        "ON true"
        " WHERE (CAST(:account AS uuid) IS NULL OR o.account_id = CAST(:account AS uuid))",
        account_id,
    ):
        if status not in known:
            out.append(Difference("order-status", str(acc), f"order {oid}", "a status", status))
        elif last != status:
            out.append(Difference("order-status", str(acc), f"order {oid}", str(last), str(status)))
    return out


def _events(s: Session, account_id: str | None) -> list[Difference]:
    out = []
    for eid, oid, acc, kind, before, after in _rows(
        s,
        "SELECT e.id, e.order_id, o.account_id, e.kind, e.from_status, e.to_status "
        "FROM order_events e JOIN orders o ON o.id = e.order_id"
        " WHERE (CAST(:account AS uuid) IS NULL OR o.account_id = CAST(:account AS uuid))",
        account_id,
    ):
        if kind == "created":
            legal = before is None and after == OrderStatus.PENDING_NEW.value
        else:
            legal = (
                before is not None
                and transition_target(OrderStatus(before), OrderEventKind(kind)) is not None
            )
        if not legal:
            move = f"{before} -> {kind} -> {after}"
            out.append(
                Difference(
                    "event-transition", str(acc), f"order {oid} event {eid}", "a legal move", move
                )
            )
    return out


def _reservations(
    s: Session, account_id: str | None, asks: AskLookup, buffer_bps: Decimal
) -> list[Difference]:
    return reserve_check.check(s, account_id, asks=asks, buffer_bps=buffer_bps)
