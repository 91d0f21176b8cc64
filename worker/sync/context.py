"""What a handler works with: the event, the connections, and the record keeping."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select, update

from worker.mapping import Mapping
from worker.odoo.catalog import Catalog
from worker.odoo.client import OdooClient
from worker.runtime import Runtime
from worker.store import (
    Account,
    AuditEntry,
    CrossReference,
    EntityVersion,
    InboxEvent,
    utcnow,
)

log = structlog.get_logger(__name__)

# A cross-reference's state while a state change in Odoo may or may not have
# happened (see ``SyncContext.unsettle``).
UNSETTLED = "unsettled"


class Skip(Exception):
    """The event needs no work (stale, or nothing to do); stored as skipped."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Event:
    """An inbox row as a handler sees it; detached from any database session."""

    inbox_id: int
    source: str
    event_id: str
    type: str
    payload: dict[str, Any]
    occurred_at: datetime | None
    livemode: bool | None

    @classmethod
    def from_row(cls, row: InboxEvent) -> Event:
        return cls(
            row.id,
            row.source,
            row.event_id,
            row.type,
            row.payload,
            row.occurred_at,
            row.livemode,
        )

    @property
    def object(self) -> dict[str, Any]:
        """The Stripe object the event carries (``data.object``)."""
        obj: dict[str, Any] = self.payload["data"]["object"]
        return obj

    @property
    def created(self) -> int:
        return int(self.payload.get("created") or 0)


def digest(values: dict[str, Any]) -> str:
    raw = json.dumps(values, sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()


class SyncContext:
    """The connections of the worker plus the bookkeeping every write needs."""

    def __init__(self, runtime: Runtime, event: Event, attempt: int = 1) -> None:
        self.runtime = runtime
        self.event = event
        self.attempt = attempt
        self.account_id: int | None = None
        # What this event made exist, as wait keys: events waiting on them wake up.
        self.landed: set[str] = set()

    @property
    def odoo(self) -> OdooClient:
        return self.runtime.odoo

    @property
    def catalog(self) -> Catalog:
        return self.runtime.catalog

    @property
    def mapping(self) -> Mapping:
        return self.runtime.mapping

    @property
    def is_retry(self) -> bool:
        """True when an earlier attempt of this event may have reached Odoo."""
        return self.attempt > 1

    def xref(
        self, system: str, object_type: str, external_id: str
    ) -> CrossReference | None:
        with self.runtime.store.session() as session:
            return session.scalars(
                select(CrossReference).where(
                    CrossReference.system == system,
                    CrossReference.object_type == object_type,
                    CrossReference.external_id == external_id,
                )
            ).one_or_none()

    def recover(self, model: str, xmlid: str) -> tuple[int | None, str | None]:
        """The record an earlier, failed attempt may have created, and its state.

        Asked whenever revsync has no cross-reference for the record, not only on
        a retry of the same event: an attempt cut off after the Odoo write but
        before the link (a worker killed, the database connection dropped) is
        often followed by another event of the same object on its first attempt,
        which must not write the record as new (a posted move would refuse it).
        The record is looked up by its external id, which ``load`` wrote in the
        same transaction as the record itself.
        """
        record_id = self.odoo.ref(xmlid)
        if record_id is None:
            return None, None
        self.adopt(model, record_id, f"found by its external id {xmlid}")
        rows = self.odoo.read(model, [record_id], ["state"])
        return record_id, (rows[0]["state"] if rows else None)

    def adopt(self, model: str, record_id: int, found: str) -> None:
        """Audit the create of a record an interrupted attempt made, if it was cut
        off before it could: the audit log accounts for every record revsync made."""
        with self.runtime.store.session() as session:
            audited = session.scalar(
                select(AuditEntry.id)
                .where(
                    AuditEntry.system == "odoo",
                    AuditEntry.model == model,
                    AuditEntry.record_id == str(record_id),
                    AuditEntry.operation == "create",
                )
                .limit(1)
            )
        if audited is None:
            self.audit(
                system="odoo",
                model=model,
                record_id=record_id,
                operation="create",
                note=f"made by an interrupted attempt; {found}",
            )

    def unsettle(self, system: str, object_type: str, external_id: str) -> None:
        """Mark the Odoo state known for an object as unknown, before changing it.

        A state change (post, confirm, cancel) and recording it are two systems'
        writes; an attempt cut off between them leaves the cross-reference with
        the old state. Until the new one is recorded, the next event reads it from
        Odoo instead (``settled_state``).
        """
        with self.runtime.store.session() as session:
            session.execute(
                update(CrossReference)
                .where(
                    CrossReference.system == system,
                    CrossReference.object_type == object_type,
                    CrossReference.external_id == external_id,
                )
                .values(state=UNSETTLED, updated_at=utcnow())
            )

    def settled_state(
        self, xref: CrossReference | None, states: dict[str, str]
    ) -> str | None:
        """The state recorded for ``xref``, read from Odoo when it is unsettled
        (and recorded again); ``states`` names Odoo's states in revsync's words."""
        if xref is None:
            return None
        if xref.state != UNSETTLED or not xref.odoo_id or not xref.odoo_model:
            return xref.state
        rows = self.odoo.read(xref.odoo_model, [int(xref.odoo_id)], ["state"])
        state = states.get(rows[0]["state"], rows[0]["state"]) if rows else None
        self.link(
            xref.system,
            xref.object_type,
            xref.external_id,
            odoo_model=xref.odoo_model,
            odoo_id=xref.odoo_id,
            account_id=xref.account_id,
            state=state,
        )
        return state

    def xref_by_odoo(self, odoo_model: str, odoo_id: int) -> CrossReference | None:
        with self.runtime.store.session() as session:
            return session.scalars(
                select(CrossReference).where(
                    CrossReference.odoo_model == odoo_model,
                    CrossReference.odoo_id == odoo_id,
                )
            ).one_or_none()

    def xref_of_account(self, system: str, object_type: str) -> CrossReference | None:
        """The first object of that kind linked to the current account."""
        if self.account_id is None:
            return None
        with self.runtime.store.session() as session:
            return session.scalars(
                select(CrossReference)
                .where(
                    CrossReference.account_id == self.account_id,
                    CrossReference.system == system,
                    CrossReference.object_type == object_type,
                )
                .order_by(CrossReference.id)
                .limit(1)
            ).one_or_none()

    def open_activities(self, prefix: str) -> list[str]:
        """Keys of the current account's open follow-ups starting with ``prefix``."""
        if self.account_id is None:
            return []
        with self.runtime.store.session() as session:
            return list(
                session.scalars(
                    select(CrossReference.external_id).where(
                        CrossReference.account_id == self.account_id,
                        CrossReference.object_type == "activity",
                        # "opening": scheduled by an attempt cut off since.
                        CrossReference.state.in_(["open", "opening"]),
                        CrossReference.external_id.startswith(prefix),
                    )
                )
            )

    def version(
        self, system: str, object_type: str, external_id: str
    ) -> EntityVersion | None:
        with self.runtime.store.session() as session:
            return session.get(EntityVersion, (system, object_type, external_id))

    def is_stale(
        self,
        system: str,
        object_type: str,
        external_id: str,
        source_ts: int,
        rank: int = 0,
    ) -> bool:
        """True when a newer state of this object was applied already.

        Stripe's ``created`` is in whole seconds and one change emits several events
        in the same second, so a tie is broken by how far the status has progressed
        (``rank``), never by arrival order.
        """
        current = self.version(system, object_type, external_id)
        if current is None:
            return False
        return (current.source_ts, current.status_rank) > (source_ts, rank)

    def link(
        self,
        system: str,
        object_type: str,
        external_id: str,
        *,
        odoo_model: str | None,
        odoo_id: int | None,
        account_id: int | None = None,
        parent_id: str | None = None,
        state: str | None = None,
    ) -> CrossReference:
        """Create or update the cross-reference of one source object.

        A new object gets a new account unless ``account_id`` names the one it
        belongs to; the inbox row is tagged with the account either way.
        """
        now = utcnow()
        with self.runtime.store.session() as session:
            xref = session.scalars(
                select(CrossReference).where(
                    CrossReference.system == system,
                    CrossReference.object_type == object_type,
                    CrossReference.external_id == external_id,
                )
            ).one_or_none()
            if xref is None:
                if account_id is None:
                    account = Account(created_at=now)
                    session.add(account)
                    session.flush()
                    account_id = account.id
                xref = CrossReference(
                    system=system,
                    object_type=object_type,
                    external_id=external_id,
                    created_at=now,
                )
                session.add(xref)
            if account_id is not None:
                xref.account_id = account_id
            if odoo_model is not None:
                xref.odoo_model = odoo_model
                xref.odoo_id = odoo_id
            if parent_id is not None:
                xref.parent_id = parent_id
            if state is not None:
                xref.state = state
            xref.updated_at = now
            session.flush()
            self.account_id = xref.account_id
            inbox = session.get(InboxEvent, self.event.inbox_id)
            if inbox is not None and inbox.account_id is None:
                inbox.account_id = xref.account_id
            session.expunge(xref)
            return xref

    def set_version(
        self,
        system: str,
        object_type: str,
        external_id: str,
        *,
        source_ts: int,
        rank: int = 0,
        status: str | None = None,
        values_hash: str | None = None,
    ) -> None:
        """Remember the state of the object that was just applied."""
        with self.runtime.store.session() as session:
            version = session.get(EntityVersion, (system, object_type, external_id))
            if version is None:
                version = EntityVersion(
                    system=system, object_type=object_type, external_id=external_id
                )
                session.add(version)
            version.source_ts = source_ts
            version.status_rank = rank
            version.status = status
            version.event_id = self.event.event_id
            version.values_hash = values_hash
            version.updated_at = utcnow()

    def audit(
        self,
        *,
        system: str,
        model: str,
        record_id: int | str | None,
        operation: str,
        fields: list[str] | None = None,
        note: str | None = None,
    ) -> None:
        """Write one audit row for a write revsync made to another system.

        A create of a record that was created before becomes an update: an
        attempt that created it and was cut off before linking it leaves the next
        event of the object to write it again (``load`` by external id finds it,
        so Odoo holds one record), and the log must then say one create.
        """
        with self.runtime.store.session() as session:
            if operation == "create" and record_id is not None:
                created = session.scalar(
                    select(AuditEntry.id)
                    .where(
                        AuditEntry.system == system,
                        AuditEntry.model == model,
                        AuditEntry.record_id == str(record_id),
                        AuditEntry.operation == "create",
                    )
                    .limit(1)
                )
                if created is not None:
                    operation = "update"
                    note = note or (
                        f"written again: created by an interrupted attempt "
                        f"(audit row {created})"
                    )
            session.add(
                AuditEntry(
                    at=utcnow(),
                    actor="revsync",
                    system=system,
                    model=model,
                    record_id=None if record_id is None else str(record_id),
                    operation=operation,
                    fields=sorted(fields) if fields else None,
                    inbox_id=self.event.inbox_id,
                    note=note,
                )
            )
        log.info(
            "sync.write",
            system=system,
            model=model,
            operation=operation,
            record_id=record_id,
            inbox_id=self.event.inbox_id,
        )
