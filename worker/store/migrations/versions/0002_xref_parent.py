"""Cross-references can name the object they belong to (a payment's invoice).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("xrefs") as batch:
        batch.add_column(sa.Column("parent_id", sa.String(255)))
        batch.add_column(sa.Column("state", sa.String(32)))


def downgrade() -> None:
    with op.batch_alter_table("xrefs") as batch:
        batch.drop_column("state")
        batch.drop_column("parent_id")
