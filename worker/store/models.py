"""The state revsync owns: inbox, accounts and cross-references, versions, audit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Constraint names are fixed so that migrations read the same on every database.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Payload = JSON().with_variant(JSONB(), "postgresql")
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class InboxStatus:
    """The life of an inbox row; ``PENDING`` are those a worker may still pick up."""

    RECEIVED = "received"
    QUEUED = "queued"
    PROCESSING = "processing"
    DONE = "done"
    SKIPPED = "skipped"
    WAITING = "waiting"
    HELD = "held"
    DEAD = "dead"

    ALL = (RECEIVED, QUEUED, PROCESSING, DONE, SKIPPED, WAITING, HELD, DEAD)
    PENDING = (RECEIVED, QUEUED, PROCESSING, WAITING)
    FINAL = (DONE, SKIPPED)


class InboxEvent(Base):
    """One accepted webhook event, kept until it is applied and long after."""

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("source", "event_id", name="uq_inbox_source_event"),
        Index("ix_inbox_status_next_attempt", "status", "next_attempt_at"),
        Index("ix_inbox_account", "account_id"),
        Index("ix_inbox_wait_key", "wait_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    occurred_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    livemode: Mapped[bool | None] = mapped_column(Boolean)
    payload: Mapped[dict[str, Any]] = mapped_column(Payload)
    status: Mapped[str] = mapped_column(String(16), default=InboxStatus.RECEIVED)
    # Why the row is skipped, waiting, held or dead, in words an operator can act on.
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    account_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("accounts.id", ondelete="SET NULL")
    )
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The account lock key of a waiting event: work under that key may wake it.
    wait_key: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # An operator let a held event through its gate.
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    released_by: Mapped[str | None] = mapped_column(String(64))


class Account(Base):
    """One customer, whatever systems know it."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CrossReference(Base):
    """One object of one system, the account it belongs to and its Odoo record."""

    __tablename__ = "xrefs"
    __table_args__ = (
        UniqueConstraint("system", "object_type", "external_id", name="uq_xrefs_key"),
        UniqueConstraint("odoo_model", "odoo_id", name="uq_xrefs_odoo"),
        Index("ix_xrefs_account", "account_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("accounts.id", ondelete="SET NULL")
    )
    system: Mapped[str] = mapped_column(String(16))
    object_type: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(255))
    odoo_model: Mapped[str | None] = mapped_column(String(64))
    odoo_id: Mapped[int | None] = mapped_column(Integer)
    # The source object this one hangs off (a payment's invoice, a refund's payment).
    parent_id: Mapped[str | None] = mapped_column(String(255))
    # What revsync last did to the Odoo record (e.g. "posted", "paid", "cancelled").
    state: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class EntityVersion(Base):
    """What revsync last applied for one external object, to refuse stale events."""

    __tablename__ = "entity_versions"

    system: Mapped[str] = mapped_column(String(16), primary_key=True)
    object_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    source_ts: Mapped[int] = mapped_column(BigInteger)
    status_rank: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str | None] = mapped_column(String(32))
    event_id: Mapped[str | None] = mapped_column(String(255))
    # A digest of the values last written to Odoo: an unchanged event writes nothing.
    values_hash: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """Every write revsync makes to another system, and every operator action."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_inbox", "inbox_id"),
        Index("ix_audit_log_record", "system", "model", "record_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(64), default="revsync")
    system: Mapped[str] = mapped_column(String(16))
    model: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[str | None] = mapped_column(String(64))
    operation: Mapped[str] = mapped_column(String(32))
    fields: Mapped[list[str] | None] = mapped_column(Payload)
    inbox_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("inbox.id", ondelete="SET NULL")
    )
    note: Mapped[str | None] = mapped_column(Text)


class ReconcileRun(Base):
    """One reconciliation of Stripe against Odoo over a window of time."""

    __tablename__ = "reconcile_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # running, done or failed
    status: Mapped[str] = mapped_column(String(16))
    # How many Stripe objects of each type were compared.
    compared: Mapped[dict[str, Any] | None] = mapped_column(Payload)
    # Mismatches by kind.
    counts: Mapped[dict[str, Any] | None] = mapped_column(Payload)
    healed: Mapped[int] = mapped_column(Integer, default=0)
    exceptions: Mapped[int] = mapped_column(Integer, default=0)
    odoo_calls: Mapped[int] = mapped_column(Integer, default=0)
    stripe_calls: Mapped[int] = mapped_column(Integer, default=0)
    report_json: Mapped[str | None] = mapped_column(Text)
    report_csv: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)


class ReconcileItem(Base):
    """One mismatch a run found, and what became of it."""

    __tablename__ = "reconcile_items"
    __table_args__ = (
        Index("ix_reconcile_items_run", "run_id"),
        Index("ix_reconcile_items_open", "resolved_at", "object_type"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("reconcile_runs.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(32))
    object_type: Mapped[str] = mapped_column(String(32))
    stripe_id: Mapped[str] = mapped_column(String(255))
    odoo_model: Mapped[str | None] = mapped_column(String(64))
    odoo_ids: Mapped[list[int] | None] = mapped_column(Payload)
    # Amounts, currencies and states on both sides; never customer data.
    detail: Mapped[dict[str, Any] | None] = mapped_column(Payload)
    # healed (a re-sync event was queued) or exception (an operator decides).
    action: Mapped[str] = mapped_column(String(16))
    inbox_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("inbox.id", ondelete="SET NULL")
    )
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by_run: Mapped[int | None] = mapped_column(BigId)


class WritebackState(Base):
    """What revsync last sent one system about an account's billing health.

    A write whose values hash the same as the last one sent is skipped, so repeated
    events (and the echoes of revsync's own writes) cost no call.
    """

    __tablename__ = "writeback_state"

    account_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    system: Mapped[str] = mapped_column(String(16), primary_key=True)
    # The HubSpot company or Zendesk organization written to.
    target_id: Mapped[str] = mapped_column(String(64))
    values_hash: Mapped[str | None] = mapped_column(String(64))
    # The property or field values sent (billing facts, never personal data).
    sent_values: Mapped[dict[str, Any] | None] = mapped_column(Payload)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Why the latest attempt failed for good, until a later write succeeds.
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PaymentFailure(Base):
    """The latest failed payment of an account, kept after the invoice is paid.

    Filled from ``invoice.payment_failed`` (the date) and
    ``payment_intent.payment_failed`` (the decline code) as they are applied.
    """

    __tablename__ = "payment_failures"

    account_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # A Stripe decline or error code (card_declined, insufficient_funds ...).
    reason: Mapped[str | None] = mapped_column(String(64))
    event_id: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class BillingSnapshot(Base):
    """The billing facts of a Stripe subscription or invoice as last applied.

    Kept by the write-back hook from the event that set the object's entity
    version, so billing health survives the pruning of old inbox payloads. Prices,
    quantities, periods and amounts only; nothing about the customer.
    """

    __tablename__ = "billing_snapshots"
    __table_args__ = (Index("ix_billing_snapshots_account", "account_id"),)

    object_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    account_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("accounts.id", ondelete="CASCADE")
    )
    event_id: Mapped[str] = mapped_column(String(255))
    facts: Mapped[dict[str, Any]] = mapped_column(Payload)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
