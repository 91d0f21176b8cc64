"""Reconciliation runs and the mismatches each one found.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Payload = sa.JSON().with_variant(JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "reconcile_runs",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("started_at", Stamp, nullable=False),
        sa.Column("finished_at", Stamp),
        sa.Column("window_start", Stamp, nullable=False),
        sa.Column("window_end", Stamp, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("compared", Payload),
        sa.Column("counts", Payload),
        sa.Column("healed", sa.Integer, nullable=False),
        sa.Column("exceptions", sa.Integer, nullable=False),
        sa.Column("odoo_calls", sa.Integer, nullable=False),
        sa.Column("stripe_calls", sa.Integer, nullable=False),
        sa.Column("report_json", sa.Text),
        sa.Column("report_csv", sa.Text),
        sa.Column("error", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_reconcile_runs"),
    )
    op.create_table(
        "reconcile_items",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("run_id", BigId, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("object_type", sa.String(32), nullable=False),
        sa.Column("stripe_id", sa.String(255), nullable=False),
        sa.Column("odoo_model", sa.String(64)),
        sa.Column("odoo_ids", Payload),
        sa.Column("detail", Payload),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("inbox_id", BigId),
        sa.Column("resolved_at", Stamp),
        sa.Column("resolved_by_run", BigId),
        sa.PrimaryKeyConstraint("id", name="pk_reconcile_items"),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["reconcile_runs.id"],
            name="fk_reconcile_items_run_id_reconcile_runs",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["inbox_id"],
            ["inbox.id"],
            name="fk_reconcile_items_inbox_id_inbox",
            ondelete="SET NULL",
        ),
    )
    op.create_index("ix_reconcile_items_run", "reconcile_items", ["run_id"])
    op.create_index(
        "ix_reconcile_items_open", "reconcile_items", ["resolved_at", "object_type"]
    )


def downgrade() -> None:
    op.drop_index("ix_reconcile_items_open", table_name="reconcile_items")
    op.drop_index("ix_reconcile_items_run", table_name="reconcile_items")
    op.drop_table("reconcile_items")
    op.drop_table("reconcile_runs")
