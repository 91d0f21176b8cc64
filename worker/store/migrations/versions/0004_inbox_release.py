"""An operator's release of a held event is recorded on the event.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.add_column(sa.Column("released_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("released_by", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.drop_column("released_by")
        batch.drop_column("released_at")
