"""Billing health written back to HubSpot and Zendesk, per account.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Payload = sa.JSON().with_variant(JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "writeback_state",
        sa.Column("account_id", BigId, nullable=False),
        sa.Column("system", sa.String(16), nullable=False),
        sa.Column("target_id", sa.String(64), nullable=False),
        sa.Column("values_hash", sa.String(64)),
        sa.Column("sent_values", Payload),
        sa.Column("sent_at", Stamp),
        sa.Column("last_error", sa.Text),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "system", name="pk_writeback_state"),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_writeback_state_account_id_accounts",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "payment_failures",
        sa.Column("account_id", BigId, nullable=False),
        sa.Column("failed_at", Stamp, nullable=False),
        sa.Column("reason", sa.String(64)),
        sa.Column("event_id", sa.String(255)),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("account_id", name="pk_payment_failures"),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_payment_failures_account_id_accounts",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "billing_snapshots",
        sa.Column("object_type", sa.String(32), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("account_id", BigId),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("facts", Payload, nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint(
            "object_type", "external_id", name="pk_billing_snapshots"
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_billing_snapshots_account_id_accounts",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_billing_snapshots_account", "billing_snapshots", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_billing_snapshots_account", table_name="billing_snapshots")
    op.drop_table("billing_snapshots")
    op.drop_table("payment_failures")
    op.drop_table("writeback_state")
