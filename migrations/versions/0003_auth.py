"""Auth: credentials, refresh-token families, sessions, profiles, idempotency.

Revision ID: 0003_auth
Revises: 0002_orders
Create Date: 2026-11-30
"""

from __future__ import annotations

revision = "0003_auth"
down_revision = "0002_orders"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
