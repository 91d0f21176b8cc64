"""An attempt cut off between creating an Odoo record and linking it.

The next event of the same invoice may come before the interrupted one is
retried. It finds no cross-reference, writes the record again by its external
id (Odoo keeps one), and the audit log must still show one create for it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import sibling_redis
from tests.lifecycle.harness import Books, write_mapping
from worker.scenarios import StripeStory
from worker.store import AuditEntry, InboxEvent, InboxStatus, Store
from worker.sync.context import SyncContext


class CutOff(Exception):
    """The worker died here."""


def test_a_record_written_again_after_a_cut_off_create_is_audited_once(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(f"sqlite:///{tmp_path}/books.db")
    store.upgrade()
    books = Books(store, sibling_redis(redis_url, 2), write_mapping(tmp_path))
    try:
        story = StripeStory("cus_cut", prefix="cut")
        story.customer_created("Cut Off Ltd", "ap@cutoff.example", "US")
        sub = story.subscribe("price_pro_monthly", "prod_price_pro_monthly", 4900)
        books.process(books.deliver(story.events))
        applied = len(story.events)
        invoice = story.invoice(sub)
        story.finalize(invoice)
        created, finalized = books.deliver(story.events[applied:])[:2]

        # invoice.created creates the move, then dies before linking it.
        link = SyncContext.link

        def cut_off(ctx: SyncContext, system: str, object_type: str, *a, **kw):  # type: ignore[no-untyped-def]
            if object_type == "invoice":
                raise CutOff
            return link(ctx, system, object_type, *a, **kw)

        monkeypatch.setattr(SyncContext, "link", cut_off)
        with pytest.raises(CutOff):
            books.apply(created)
        monkeypatch.setattr(SyncContext, "link", link)

        # The finalization comes first, on its first attempt; then the retry.
        books.process([finalized, created])

        moves = books.sandbox.records(
            "account.move", domain=[("move_type", "=", "out_invoice")]
        )
        assert len(moves) == 1
        assert moves[0]["state"] == "posted"
        with store.session() as session:
            rows = session.execute(
                select(AuditEntry.operation, AuditEntry.note).where(
                    AuditEntry.model == "account.move",
                    AuditEntry.record_id == str(moves[0]["id"]),
                )
            ).all()
            statuses = set(session.scalars(select(InboxEvent.status)))
        operations = [operation for operation, _ in rows]
        assert operations.count("create") == 1
        assert any(
            operation == "update" and note and "interrupted attempt" in note
            for operation, note in rows
        )
        assert statuses <= {InboxStatus.DONE, InboxStatus.SKIPPED}
    finally:
        books.close()
