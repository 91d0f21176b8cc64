"""Attempts cut off between a write to Odoo and revsync's record of it.

The next event of the same object often comes before the interrupted one is
retried, on its own first attempt. It must find what the cut-off attempt did in
Odoo (the record, its new state, the money registered) instead of doing it again,
and the audit log must still show one create per record.
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
from worker.sync.stripe import invoices


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
        # The finalization found the move by its external id: created once.
        assert [operation for operation, _ in rows].count("create") == 1
        assert statuses <= {InboxStatus.DONE, InboxStatus.SKIPPED}
    finally:
        books.close()


def cut_off_link(monkeypatch: pytest.MonkeyPatch, object_type: str, **when: object):
    """Make ``SyncContext.link`` die for ``object_type`` (with the given values)."""
    link = SyncContext.link

    def cut_off(ctx: SyncContext, system: str, kind: str, *a, **kw):  # type: ignore[no-untyped-def]
        if kind == object_type and all(kw.get(k) == v for k, v in when.items()):
            raise CutOff
        return link(ctx, system, kind, *a, **kw)

    monkeypatch.setattr(SyncContext, "link", cut_off)
    return lambda: monkeypatch.setattr(SyncContext, "link", link)


@pytest.fixture
def books(tmp_path: Path, redis_url: str):  # type: ignore[no-untyped-def]
    store = Store(f"sqlite:///{tmp_path}/books.db")
    store.upgrade()
    opened = Books(store, sibling_redis(redis_url, 2), write_mapping(tmp_path))
    yield opened
    opened.close()


def invoiced(books: Books, prefix: str) -> tuple[StripeStory, str]:
    story = StripeStory(f"cus_{prefix}", prefix=prefix)
    story.customer_created("Cut Off Ltd", "ap@cutoff.example", "US")
    sub = story.subscribe("price_pro_monthly", "prod_price_pro_monthly", 4900)
    invoice = story.invoice(sub)
    books.process(books.deliver(story.events))
    return story, invoice


def creates_of(books: Books, model: str, record_id: int) -> int:
    with books.store.session() as session:
        return len(
            session.scalars(
                select(AuditEntry.id).where(
                    AuditEntry.model == model,
                    AuditEntry.record_id == str(record_id),
                    AuditEntry.operation == "create",
                )
            ).all()
        )


def final_statuses(books: Books) -> dict[str, str | None]:
    with books.store.session() as session:
        return {
            event_type: status if status in InboxStatus.FINAL else f"{status}: {why}"
            for event_type, status, why in session.execute(
                select(InboxEvent.type, InboxEvent.status, InboxEvent.last_error)
            )
        }


def test_a_payment_after_a_posting_cut_off_before_its_record_is_registered(
    books: Books, monkeypatch: pytest.MonkeyPatch
) -> None:
    story, invoice = invoiced(books, "cutpost")
    applied = len(story.events)
    story.finalize(invoice)
    finalized = books.deliver(story.events[applied:])
    restore = cut_off_link(monkeypatch, "invoice", state="posted")
    with pytest.raises(CutOff):
        books.apply(finalized[0])
    restore()
    # Odoo posted the move; revsync's record of it says neither draft nor posted.
    applied = len(story.events)
    story.pay(invoice)

    books.process([*books.deliver(story.events[applied:]), *finalized])

    moves = books.sandbox.records(
        "account.move", domain=[("move_type", "=", "out_invoice")]
    )
    assert [(m["state"], m["payment_state"]) for m in moves] in (
        [("posted", "paid")],
        [("posted", "in_payment")],
    )
    assert len(books.sandbox.records("account.payment")) == 1
    statuses = final_statuses(books)
    assert set(statuses.values()) <= set(InboxStatus.FINAL), statuses


def test_money_registered_by_a_cut_off_attempt_is_found_and_audited_once(
    books: Books, monkeypatch: pytest.MonkeyPatch
) -> None:
    story, invoice = invoiced(books, "cutpay")
    story.finalize(invoice)
    books.process(books.deliver(story.events))
    applied = len(story.events)
    story.pay(invoice)
    paid = books.deliver(story.events[applied:])
    # Whichever event registers the money dies before recording it, and before
    # its audit row: the payment exists in Odoo and nowhere else.
    audit = SyncContext.audit

    def unaudited(ctx: SyncContext, **kw):  # type: ignore[no-untyped-def]
        if kw.get("model") == "account.payment":
            raise CutOff
        return audit(ctx, **kw)

    monkeypatch.setattr(SyncContext, "audit", unaudited)
    cut = None
    for inbox_id in paid:
        try:
            books.apply(inbox_id)
        except CutOff:
            cut = inbox_id
            break
    assert cut is not None
    monkeypatch.setattr(SyncContext, "audit", audit)

    # The others describe the same money, each on its first attempt.
    books.process([i for i in paid if i != cut] + [cut])

    payments = books.sandbox.records("account.payment")
    assert len(payments) == 1
    assert creates_of(books, "account.payment", payments[0]["id"]) == 1
    statuses = final_statuses(books)
    assert set(statuses.values()) <= set(InboxStatus.FINAL), statuses


def test_a_follow_up_scheduled_by_a_cut_off_attempt_is_still_closed(
    books: Books, monkeypatch: pytest.MonkeyPatch
) -> None:
    story = StripeStory("cus_cuttrial", prefix="cuttrial")
    story.customer_created("Cut Off Ltd", "ap@cutoff.example", "US")
    sub = story.subscribe("price_pro_monthly", "prod_price_pro_monthly", 4900, 1, True)
    books.process(books.deliver(story.events))
    applied = len(story.events)
    story.trial_will_end(sub)
    reminder = books.deliver(story.events[applied:])
    restore = cut_off_link(monkeypatch, "activity", state="open")
    with pytest.raises(CutOff):
        books.apply(reminder[0])
    restore()
    assert len(books.sandbox.records("mail.activity")) == 1

    # The trial ends before the reminder's retry: the follow-up goes with it.
    applied = len(story.events)
    story.activate(sub)
    books.process([*books.deliver(story.events[applied:]), *reminder])

    assert books.sandbox.records("mail.activity") == []
    statuses = final_statuses(books)
    assert set(statuses.values()) <= set(InboxStatus.FINAL), statuses


def test_the_dunning_tag_goes_when_the_attempt_that_closed_its_follow_up_was_cut(
    books: Books, monkeypatch: pytest.MonkeyPatch
) -> None:
    story, invoice = invoiced(books, "cutdun")
    story.finalize(invoice)
    story.fail_payment(invoice)
    books.process(books.deliver(story.events))
    partner = books.sandbox.records("res.partner", domain=[("ref", "=", "cus_cutdun")])
    tags = {
        row["id"]: row["name"] for row in books.sandbox.records("res.partner.category")
    }
    assert "revsync: dunning" in {tags[t] for t in partner[0]["category_id"]}

    applied = len(story.events)
    story.pay(invoice)
    paid = books.deliver(story.events[applied:])
    untag = invoices.set_dunning_tag

    def cut_off(ctx: SyncContext, partner_id: int, on: bool) -> None:
        if not on:
            raise CutOff
        untag(ctx, partner_id, on)

    monkeypatch.setattr(invoices, "set_dunning_tag", cut_off)
    for inbox_id in paid:
        try:
            books.apply(inbox_id)
        except CutOff:
            break
    else:
        raise AssertionError("no event cleared the dunning tag")
    monkeypatch.setattr(invoices, "set_dunning_tag", untag)

    books.process(paid)

    partner = books.sandbox.records("res.partner", domain=[("ref", "=", "cus_cutdun")])
    assert "revsync: dunning" not in {tags[t] for t in partner[0]["category_id"]}
    assert books.sandbox.records("mail.activity") == []
    statuses = final_statuses(books)
    assert set(statuses.values()) <= set(InboxStatus.FINAL), statuses
