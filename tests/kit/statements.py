"""Count the SQL statements an engine sends (SQLAlchemy's ``before_cursor_execute``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event


@contextmanager
def recorded(engine: Engine) -> Iterator[list[str]]:
    """Every statement ``engine`` executes inside the block, in order."""
    seen: list[str] = []

    def on_execute(*args: Any) -> None:
        seen.append(str(args[2]))  # (conn, cursor, statement, parameters, context, many)

    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)


def touching(statements: list[str], *words: str) -> list[str]:
    """The statements that mention any of ``words`` (case-insensitive)."""
    return [s for s in statements if any(w.lower() in s.lower() for w in words)]
