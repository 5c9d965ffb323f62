"""Reconciliation checks over what is stored: each returns ``Difference``s, never raises.

What must hold, and why each can break only through a bug or a hand edit (the writes
that keep them are single transactions, and constraints refuse most bad rows):

- ``entry-balanced``: every journal entry's postings sum to zero per unit.
- ``entry-has-postings`` / ``posting-account``: no empty entries; postings belong to the
  entry's account.
- ``cash``: cash equals minus the other USD ledger accounts (funding, trades, fees), and
  ``cash-non-negative``: it is never below zero (no margin in paper).
- ``fill-booked``: every fill has its ``fill:<execution_id>`` entry with the cash leg
  ``to_cents(qty x price)``.
- ``position``: each position equals the signed sum of its fills plus reset entries.
- ``order-filled-qty``: an order's filled quantity equals the sum of its fills.
- ``order-status`` / ``event-transition``: each order's status is the last status its
  events reached, and every stored event is a move the transition table allows.
- ``reservations``: open buy orders never reserve more than the cash (market buys
  without a quote are left out: they cannot be valued).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from cluster.orders import repository as repo
from cluster.orders import risk
from cluster.orders.types import Difference
from domain.ledger import to_cents
from domain.money import EXACT
from domain.orders import Order, OrderEventKind, OrderStatus, transition_target

ZERO = Decimal(0)
AskLookup = Callable[[list[Order]], dict[str, Decimal]]


def _rows(s: Session, sql: str, account_id: str | None) -> list[Any]:
    return list(s.execute(text(sql), {"account": account_id}).all())


def _fmt(value: Decimal) -> str:
    return "0" if value == 0 else format(value.normalize(), "f")


def check(
    s: Session, account_id: str | None, *, asks: AskLookup, buffer_bps: Decimal
) -> list[Difference]:
    out: list[Difference] = []
    for fn in (_entries, _cash, _fills, _positions, _orders, _events):
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
    for eid, acc, side, qty, price, booked in _rows(
        s,
        "SELECT f.execution_id, f.account_id, f.side, f.qty, f.price, p.amount FROM fills f "
        "LEFT JOIN postings p ON p.entry_id = 'fill:' || f.execution_id "
        "AND p.ledger_account = 'cash'"
        " WHERE (CAST(:account AS uuid) IS NULL OR f.account_id = CAST(:account AS uuid))",
        account_id,
    ):
        gross = to_cents(EXACT.multiply(qty, price))
        expected = -gross if side == "buy" else gross
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
    by_account: dict[str, list[Order]] = defaultdict(list)
    for order in repo.open_orders(s, account_id=account_id):
        by_account[order.account_id].append(order)
    cash = {
        str(acc): total
        for acc, total in _rows(
            s,
            "SELECT account_id, sum(amount) FROM postings WHERE ledger_account = 'cash'"
            " AND (CAST(:account AS uuid) IS NULL OR account_id = CAST(:account AS uuid))"
            " GROUP BY 1",
            account_id,
        )
    }
    out = []
    for acc, opens in sorted(by_account.items()):
        prices = asks(opens)
        valued = [o for o in opens if not risk.needs_ask(o) or str(o.symbol) in prices]
        held = risk.reserved_cash(valued, prices, buffer_bps)
        have = cash.get(acc, ZERO)
        if held > have:
            out.append(
                Difference(
                    "reservations", acc, "open buy reservations", f"<= {_fmt(have)}", _fmt(held)
                )
            )
    return out
