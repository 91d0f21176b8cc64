"""Waiting inbox rows remember what they wait on, so its arrival wakes them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.add_column(sa.Column("wait_key", sa.String(255)))
        batch.create_index("ix_inbox_wait_key", ["wait_key"])


def downgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.drop_index("ix_inbox_wait_key")
        batch.drop_column("wait_key")
