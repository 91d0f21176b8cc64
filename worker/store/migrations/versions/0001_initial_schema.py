"""The initial schema: inbox, accounts, cross-references, entity versions, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
PAYLOAD = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
STAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("created_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
    )
    op.create_table(
        "entity_versions",
        sa.Column("system", sa.String(16), nullable=False),
        sa.Column("object_type", sa.String(32), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("source_ts", sa.BigInteger(), nullable=False),
        sa.Column("status_rank", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(32)),
        sa.Column("event_id", sa.String(255)),
        sa.Column("values_hash", sa.String(64)),
        sa.Column("updated_at", STAMP, nullable=False),
        sa.PrimaryKeyConstraint(
            "system", "object_type", "external_id", name="pk_entity_versions"
        ),
    )
    op.create_table(
        "inbox",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("received_at", STAMP, nullable=False),
        sa.Column("occurred_at", STAMP),
        sa.Column("livemode", sa.Boolean()),
        sa.Column("payload", PAYLOAD, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("account_id", BIG_ID),
        sa.Column("next_attempt_at", STAMP),
        sa.Column("updated_at", STAMP, nullable=False),
        sa.Column("done_at", STAMP),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_inbox_account_id_accounts",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_inbox"),
        sa.UniqueConstraint("source", "event_id", name="uq_inbox_source_event"),
    )
    op.create_index("ix_inbox_account", "inbox", ["account_id"])
    op.create_index(
        "ix_inbox_status_next_attempt", "inbox", ["status", "next_attempt_at"]
    )
    op.create_table(
        "xrefs",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("account_id", BIG_ID),
        sa.Column("system", sa.String(16), nullable=False),
        sa.Column("object_type", sa.String(32), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("odoo_model", sa.String(64)),
        sa.Column("odoo_id", sa.Integer()),
        sa.Column("created_at", STAMP, nullable=False),
        sa.Column("updated_at", STAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_xrefs_account_id_accounts",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_xrefs"),
        sa.UniqueConstraint("odoo_model", "odoo_id", name="uq_xrefs_odoo"),
        sa.UniqueConstraint(
            "system", "object_type", "external_id", name="uq_xrefs_key"
        ),
    )
    op.create_index("ix_xrefs_account", "xrefs", ["account_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("at", STAMP, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("system", sa.String(16), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("record_id", sa.String(64)),
        sa.Column("operation", sa.String(32), nullable=False),
        sa.Column("fields", PAYLOAD),
        sa.Column("inbox_id", BIG_ID),
        sa.Column("note", sa.Text()),
        sa.ForeignKeyConstraint(
            ["inbox_id"],
            ["inbox.id"],
            name="fk_audit_log_inbox_id_inbox",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_inbox", "audit_log", ["inbox_id"])
    op.create_index(
        "ix_audit_log_record", "audit_log", ["system", "model", "record_id"]
    )


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("xrefs")
    op.drop_table("inbox")
    op.drop_table("entity_versions")
    op.drop_table("accounts")
