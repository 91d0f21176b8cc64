"""Reconciliation finds exactly the planted discrepancies, heals the healable,
and reads Odoo in a few batched calls."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.reconcile.books import Ledger
from tests.reconcile.seed import stripe_invoice
from worker.errors import RetryableError, WaitingError
from worker.pipeline import process_inbox_event
from worker.reconcile import Window, reconcile
from worker.reconcile.stripe_source import StripeSource
from worker.store import InboxEvent, InboxStatus, ReconcileItem, ReconcileRun
from worker.stripe_api import StripeAPI

PLANTED = 20


def window_now() -> Window:
    now = datetime.now(UTC)
    return Window(now - timedelta(hours=3), now + timedelta(hours=1), "test")


def heal(ledger: Ledger) -> None:
    """Apply the queued re-sync events in this process, as a worker would."""
    with ledger.store.session() as session:
        ids = list(
            session.scalars(
                select(InboxEvent.id).where(InboxEvent.status.in_(InboxStatus.PENDING))
            )
        )
    for _ in range(3):
        for inbox_id in ids:
            try:
                process_inbox_event(ledger.runtime, inbox_id)
            except WaitingError:
                pass


class TestTenThousandInvoices:
    def test_finds_exactly_the_planted_mismatches_and_heals(
        self, ledger: Ledger
    ) -> None:
        created = ledger.now - 600
        invoices = [
            stripe_invoice(n, paid=n >= 60 and n % 2 == 0, created=created - n % 500)
            for n in range(10_000)
        ]
        # Paid in Stripe, unpaid in Odoo (its payment never booked).
        for n in range(60, 80):
            invoices[n] = stripe_invoice(n, paid=True, created=created)
        # Open, so that only the invoice is duplicated, not a payment too.
        for n in range(80, 100):
            invoices[n] = stripe_invoice(n, paid=False, created=created)
        ledger.stripe.add(*invoices)
        missing = invoices[:PLANTED]
        amount = invoices[20:40]
        currency = invoices[40:60]
        unpaid = invoices[60:80]
        duplicated = invoices[80:100]
        ledger.book(invoices[100:])
        ledger.book(amount, factor=1.05)
        ledger.book(currency, currency="EUR")
        ledger.book(unpaid, pay=False)
        ledger.book(duplicated)
        ledger.book(duplicated, xrefs=False, xmlid=False)
        orphans = [
            stripe_invoice(90_000 + n, paid=False, created=created)
            for n in range(PLANTED)
        ]
        ledger.book(orphans)
        ledger.sandbox.reset_calls()

        result = reconcile(ledger.runtime, window_now())

        assert dict(result.counts) == {
            "missing_in_odoo": PLANTED,
            "amount": PLANTED,
            "currency": PLANTED,
            "state": PLANTED,
            "orphan_in_odoo": PLANTED,
            "duplicate": PLANTED,
        }
        by_kind: dict[str, set[str]] = {}
        for m in result.mismatches:
            by_kind.setdefault(m.kind, set()).add(m.stripe_id)
        assert by_kind["missing_in_odoo"] == {i["id"] for i in missing}
        assert by_kind["amount"] == {i["id"] for i in amount}
        assert by_kind["currency"] == {i["id"] for i in currency}
        assert by_kind["state"] == {i["id"] for i in unpaid}
        assert by_kind["duplicate"] == {i["id"] for i in duplicated}
        assert by_kind["orphan_in_odoo"] == {i["id"] for i in orphans}
        assert result.healed == 2 * PLANTED
        assert result.exceptions == 4 * PLANTED
        object_calls = sum(
            n
            for key, n in ledger.sandbox.call_counts().items()
            if not key.startswith(("common.", "db."))
        )
        assert object_calls <= 30
        assert result.odoo_calls == object_calls
        assert result.compared["invoice"] == 10_000

        heal(ledger)
        again = reconcile(ledger.runtime, window_now())

        assert again.counts["missing_in_odoo"] == 0
        assert again.counts["state"] == 0
        assert again.healed == 0
        assert again.exceptions == 4 * PLANTED
        assert again.resolved == 2 * PLANTED
        with ledger.store.session() as session:
            runs = session.scalars(select(ReconcileRun).order_by(ReconcileRun.id)).all()
            assert [r.status for r in runs] == ["done", "done"]
            open_healed = session.scalars(
                select(ReconcileItem).where(
                    ReconcileItem.action == "healed",
                    ReconcileItem.resolved_at.is_(None),
                )
            ).all()
            assert open_healed == []
        report = json.loads(Path(str(again.report_json)).read_text())
        assert report["mismatches"]["duplicate"] == PLANTED


class TestStripeReading:
    def test_a_429_is_waited_out_within_the_run(self, ledger: Ledger) -> None:
        ledger.stripe.add(stripe_invoice(1, paid=False, created=ledger.now))
        ledger.stripe.throttle_next(2, retry_after=0.01)
        waits: list[float] = []
        source = StripeSource(
            StripeAPI(ledger.stripe.url, "sk_test_revsync_fake"), sleep=waits.append
        )

        found = list(source.objects("/v1/invoices"))

        assert [obj["id"] for obj in found] == ["in_r1"]
        assert waits == [0.01, 0.01]
        assert source.calls == 3

    def test_pages_are_followed_to_the_end(self, ledger: Ledger) -> None:
        ledger.stripe.add(
            *(stripe_invoice(n, paid=False, created=ledger.now - n) for n in range(250))
        )
        source = StripeSource(StripeAPI(ledger.stripe.url, "sk_test_revsync_fake"))

        found = [obj["id"] for obj in source.objects("/v1/invoices")]

        assert len(found) == 250 == len(set(found))
        assert source.calls == 3


class TestOpenItems:
    def test_an_invoice_still_open_from_an_earlier_day_is_compared(
        self, ledger: Ledger
    ) -> None:
        week_ago = ledger.now - 7 * 86400
        still_open = stripe_invoice(1, paid=False, created=week_ago)
        settled = stripe_invoice(2, paid=True, created=week_ago)
        ledger.stripe.add(still_open, settled)

        result = reconcile(ledger.runtime, window_now())

        assert [(m.kind, m.stripe_id) for m in result.mismatches] == [
            ("missing_in_odoo", "in_r1")
        ]
        assert result.compared["invoice"] == 1

    def test_an_unresolved_item_is_read_again_and_resolved_once_it_agrees(
        self, ledger: Ledger
    ) -> None:
        week_ago = ledger.now - 7 * 86400
        invoice = stripe_invoice(1, paid=False, created=ledger.now - 60)
        ledger.stripe.add(invoice)
        first = reconcile(ledger.runtime, window_now())
        assert first.counts["missing_in_odoo"] == 1

        # Paid since, so no list of the next window shows it any more.
        paid = stripe_invoice(1, paid=True, created=week_ago)
        ledger.stripe.add(paid)
        ledger.book([paid])
        second = reconcile(ledger.runtime, window_now())

        assert second.total == 0
        assert second.resolved == 1
        assert second.compared["invoice"] == 1


class TestFailure:
    def test_a_run_that_cannot_read_stripe_is_recorded_as_failed(
        self, ledger: Ledger
    ) -> None:
        ledger.stripe.add(stripe_invoice(1, paid=False, created=ledger.now))
        ledger.stripe.throttle_next(3, retry_after=0.01)
        source = StripeSource(
            StripeAPI(ledger.stripe.url, "sk_test_revsync_fake"),
            retries=2,
            sleep=lambda _: None,
        )

        with pytest.raises(RetryableError):
            reconcile(ledger.runtime, window_now(), stripe=source)

        with ledger.store.session() as session:
            (run,) = session.scalars(select(ReconcileRun)).all()
            assert run.status == "failed"
            assert run.error == "RetryableError: stripe: HTTP 429"
            assert session.scalars(select(ReconcileItem)).all() == []
        assert source.calls == 3


class TestWhatNoResyncCanHeal:
    def test_a_draft_stripe_lists_is_no_orphan_and_an_unknown_one_is(
        self, ledger: Ledger
    ) -> None:
        draft = {**stripe_invoice(1, paid=False, created=ledger.now), "status": "draft"}
        unknown = stripe_invoice(2, paid=False, created=ledger.now)
        ledger.stripe.add(draft)
        ledger.book([draft, unknown])

        result = reconcile(ledger.runtime, window_now())

        assert [(m.kind, m.stripe_id, m.action) for m in result.mismatches] == [
            ("orphan_in_odoo", "in_r2", "exception")
        ]
        assert ledger.stripe.calls("/v1/invoices/") == 1

    def test_a_record_deleted_under_its_cross_reference_is_an_exception(
        self, ledger: Ledger
    ) -> None:
        invoice = stripe_invoice(1, paid=False, created=ledger.now)
        ledger.stripe.add(invoice)
        (move,) = ledger.book([invoice])
        ledger.sandbox.execute_kw("account.move", "button_draft", [[move]])
        ledger.sandbox.execute_kw("account.move", "unlink", [[move]])

        result = reconcile(ledger.runtime, window_now())

        (found,) = result.mismatches
        assert (found.kind, found.action) == ("missing_in_odoo", "exception")
        assert found.detail["linked_odoo_id"] == move
        assert result.healed == 0
