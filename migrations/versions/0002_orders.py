"""Orders, fills, order events, journal entries and postings.

Revision ID: 0002_orders
Revises: 0001_foundation
Create Date: 2026-11-30
"""

from __future__ import annotations

revision = "0002_orders"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
