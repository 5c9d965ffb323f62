"""Orders carry the strategy instance that placed them (issue 12, the runner).

Revision ID: 0010_order_strategy
Revises: 0009_billing
Create Date: 2026-12-07

Frozen: the schema is spelled out here, not imported from the table modules; the drift
test compares the two.

- ``orders.strategy_id``: the strategy instance whose runner placed the order (null for
  an order a person placed). The risk gate sees it (strategy scope); the runner finds its
  own latest order through ``ix_orders_strategy_id_created_at`` after a restart. No foreign
  key: an order outlives the instance that placed it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_order_strategy"
down_revision = "0009_billing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("strategy_id", sa.Text(), nullable=True))
    op.create_index(
        "ix_orders_strategy_id_created_at",
        "orders",
        ["strategy_id", "created_at"],
        postgresql_where=sa.text("strategy_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_orders_strategy_id_created_at", table_name="orders")
    op.drop_column("orders", "strategy_id")
