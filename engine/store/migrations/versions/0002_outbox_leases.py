"""Texts held under a lease: which engine holds a text, and until when.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, without a default: adding them rewrites no row, on SQLite or PostgreSQL;
    # a pending text without a holder is free for any engine to send.
    op.add_column("messages", sa.Column("claimed_by", sa.String(64)))
    op.add_column("messages", sa.Column("lease_until", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("claimed_by")
