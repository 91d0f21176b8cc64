"""A paid Stripe payout is booked in the bank journal and clears the Stripe money.

Payments and refunds are applied through the pipeline into an Odoo sandbox; the
payout and its balance transactions are served by a fake Stripe API; the books are
read back over XML-RPC, as finance would read them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from tests.fakes.stripe import FakeStripe
from tests.ledger.stories import events_of, paying_customers, payout_of
from tests.lifecycle.harness import Books
from worker.errors import PermanentError
from worker.odoo.client import OdooClient
from worker.scenarios import StripeStory
from worker.store import CrossReference, InboxEvent, InboxStatus

RECEIPTS, PAYMENTS, BANK, FEES = "101403", "101404", "101401", "620000"


def balances(odoo: OdooClient) -> dict[str, float]:
    """The posted balance of each account revsync's payouts touch, by code."""
    accounts = {
        row["code"]: row["id"]
        for row in odoo.search_read(
            "account.account",
            [("code", "in", [RECEIPTS, PAYMENTS, BANK, FEES])],
            ["code"],
        )
    }
    lines = odoo.search_read(
        "account.move.line",
        [
            ("account_id", "in", list(accounts.values())),
            ("parent_state", "=", "posted"),
        ],
        ["account_id", "balance"],
    )
    return {
        code: round(
            sum(line["balance"] for line in lines if line["account_id"][0] == id_), 2
        )
        + 0.0
        for code, id_ in accounts.items()
    }


def payout_entries(odoo: OdooClient) -> list[dict[str, Any]]:
    return odoo.search_read(
        "account.move",
        [("move_type", "=", "entry"), ("ref", "=like", "Stripe payout %")],
        ["ref", "state", "journal_id", "line_ids"],
    )


def statuses(books: Books, event_type: str) -> list[str]:
    with books.store.session() as session:
        return list(
            session.scalars(
                select(InboxEvent.status)
                .where(InboxEvent.type == event_type)
                .order_by(InboxEvent.id)
            )
        )


def settle(
    books: Books, fake: FakeStripe, stories: list[StripeStory], payout_id: str
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """Apply the stories, then serve their payout from the fake API."""
    books.process(books.deliver(events_of(stories)))
    payout, transactions, event = payout_of(stories, payout_id)
    fake.add(*(obj for story in stories for obj in story.objects()))
    fake.add(payout, *transactions)
    return payout, transactions, event


class TestPaidPayout:
    def test_fifty_payments_three_refunds_and_fees_leave_stripe_money_at_zero(
        self, open_books: Callable[[], Books], fake_stripe: FakeStripe
    ) -> None:
        books = open_books()
        stories = paying_customers(5, 10, 3)
        payout, transactions, event = settle(books, fake_stripe, stories, "po_fifty")
        kinds = [txn["type"] for txn in transactions]
        assert (kinds.count("charge"), kinds.count("refund")) == (50, 3)
        odoo = books.runtime.odoo
        before = balances(odoo)
        assert before[RECEIPTS] > 0 and before[PAYMENTS] < 0

        books.process(books.deliver([event]))

        fees = sum(txn["fee"] for txn in transactions)
        assert fees > 0
        assert balances(odoo) == {
            RECEIPTS: 0.0,
            PAYMENTS: 0.0,
            FEES: fees / 100,
            BANK: payout["amount"] / 100,
        }
        (entry,) = payout_entries(odoo)
        assert entry["state"] == "posted"
        assert entry["journal_id"][1] == "Bank"
        assert entry["ref"] == "Stripe payout po_fifty"
        assert odoo.ref("revsync.stripe_payout_po_fifty") is not None
        payments = odoo.search_read(
            "account.payment", [], ["is_matched", "payment_type"]
        )
        assert len(payments) == 53
        assert all(payment["is_matched"] for payment in payments)
        assert books.failures() == []
        with books.store.session() as session:
            xref = session.scalars(
                select(CrossReference).where(CrossReference.object_type == "payout")
            ).one()
            # A payout belongs to no customer account.
            assert (xref.external_id, xref.state, xref.account_id) == (
                "po_fifty",
                "reconciled",
                None,
            )

    def test_a_payout_delivered_twice_and_retried_books_one_entry(
        self, open_books: Callable[[], Books], fake_stripe: FakeStripe
    ) -> None:
        books = open_books()
        stories = paying_customers(2, 2, 1, prefix="dup")
        payout, _, event = settle(books, fake_stripe, stories, "po_twice")
        completed = dict(
            event, id="evt_po_twice_reconciled", type="payout.reconciliation_completed"
        )

        books.process(books.deliver([event, event, completed]))
        odoo = books.runtime.odoo
        after_first = balances(odoo)
        assert statuses(books, "payout.paid") == [InboxStatus.DONE]
        assert statuses(books, "payout.reconciliation_completed") == [
            InboxStatus.SKIPPED
        ]

        # A retry whose first attempt booked the entry but died before recording
        # it: the entry is found again under its external id.
        with books.store.session() as session:
            session.execute(
                delete(CrossReference).where(
                    CrossReference.object_type == "payout",
                    CrossReference.external_id == "po_twice",
                )
            )
            session.execute(
                update(InboxEvent)
                .where(InboxEvent.type == "payout.paid")
                .values(status=InboxStatus.RECEIVED)
            )
        books.process(books.pending())

        assert len(payout_entries(odoo)) == 1
        assert balances(odoo) == after_first
        assert after_first[BANK] == payout["amount"] / 100
        assert (after_first[RECEIPTS], after_first[PAYMENTS]) == (0.0, 0.0)

    def test_a_payout_waits_for_a_payment_not_yet_booked(
        self, open_books: Callable[[], Books], fake_stripe: FakeStripe
    ) -> None:
        books = open_books()
        early, late = paying_customers(2, 2, 0, prefix="wait")
        books.process(books.deliver(early.events))
        payout, transactions, event = payout_of([early, late], "po_waits")
        fake_stripe.add(*early.objects(), *late.objects(), payout, *transactions)

        (payout_event,) = books.deliver([event])
        books.apply(payout_event)
        assert statuses(books, "payout.paid") == [InboxStatus.WAITING]
        assert payout_entries(books.runtime.odoo) == []

        books.process(books.deliver(late.events))
        books.process(books.pending())

        assert statuses(books, "payout.paid") == [InboxStatus.DONE]
        final = balances(books.runtime.odoo)
        assert (final[RECEIPTS], final[PAYMENTS]) == (0.0, 0.0)

    def test_disputes_in_a_payout_leave_stripe_money_at_zero(
        self, open_books: Callable[[], Books], fake_stripe: FakeStripe
    ) -> None:
        books = open_books()
        (story,) = paying_customers(1, 3, 0, prefix="disp")
        intents = [e["data"]["object"]["id"] for e in story.events]
        intents = [i for i in dict.fromkeys(intents) if i.startswith("pi_")]
        lost = story.dispute(intents[0], "lost")
        story.dispute(intents[1], "won")
        payout, transactions, event = settle(books, fake_stripe, [story], "po_disp")
        assert [t["type"] for t in transactions].count("adjustment") == 3

        books.process(books.deliver([event]))

        final = balances(books.runtime.odoo)
        assert (final[RECEIPTS], final[PAYMENTS]) == (0.0, 0.0)
        assert final[BANK] == payout["amount"] / 100
        # The lost dispute's payment back is matched with its withdrawal.
        matched = books.runtime.odoo.search_read(
            "account.payment", [("memo", "=", lost)], ["is_matched"]
        )
        assert matched == [{"id": matched[0]["id"], "is_matched": True}]

    def test_a_payout_its_transactions_do_not_add_up_to_is_refused(
        self, open_books: Callable[[], Books], fake_stripe: FakeStripe
    ) -> None:
        books = open_books()
        stories = paying_customers(1, 2, 0, prefix="sum")
        payout, _, event = settle(books, fake_stripe, stories, "po_sum")
        event["data"]["object"]["amount"] = payout["amount"] + 1
        (inbox_id,) = books.deliver([event])

        with pytest.raises(PermanentError, match=r"come to .*not the payout's"):
            books.apply(inbox_id)

        assert payout_entries(books.runtime.odoo) == []

    @pytest.mark.parametrize(
        ("in_stripe", "expected"),
        [("completed", InboxStatus.DONE), ("in_progress", InboxStatus.WAITING)],
    )
    def test_a_payout_still_reconciling_in_stripe_waits_until_it_is_done(
        self,
        open_books: Callable[[], Books],
        fake_stripe: FakeStripe,
        in_stripe: str,
        expected: str,
    ) -> None:
        books = open_books()
        stories = paying_customers(1, 1, 0, prefix="rec")
        payout, _, event = settle(books, fake_stripe, stories, "po_rec")
        event["data"]["object"]["reconciliation_status"] = "in_progress"
        fake_stripe.add(dict(payout, reconciliation_status=in_stripe))
        (inbox_id,) = books.deliver([event])

        books.apply(inbox_id)

        assert statuses(books, "payout.paid") == [expected]
        assert len(payout_entries(books.runtime.odoo)) == (
            1 if expected == InboxStatus.DONE else 0
        )

    def test_a_manual_payout_is_skipped(
        self, open_books: Callable[[], Books], fake_stripe: FakeStripe
    ) -> None:
        books = open_books()
        stories = paying_customers(1, 1, 0, prefix="man")
        _, _, event = settle(books, fake_stripe, stories, "po_manual")
        event["data"]["object"]["automatic"] = False

        books.process(books.deliver([event]))

        assert statuses(books, "payout.paid") == [InboxStatus.SKIPPED]
        assert payout_entries(books.runtime.odoo) == []


class TestFailedPayout:
    def test_a_payout_that_fails_after_it_was_paid_has_its_entry_cancelled(
        self, open_books: Callable[[], Books], fake_stripe: FakeStripe
    ) -> None:
        books = open_books()
        stories = paying_customers(1, 3, 1, prefix="fail")
        _, _, event = settle(books, fake_stripe, stories, "po_fails")
        odoo = books.runtime.odoo
        before = balances(odoo)
        books.process(books.deliver([event]))
        assert balances(odoo)[RECEIPTS] == 0.0

        failed = dict(
            event,
            id="evt_po_fails_failed",
            type="payout.failed",
            created=event["created"] + 60,
            data={"object": dict(event["data"]["object"], status="failed")},
        )
        books.process(books.deliver([failed]))

        assert [entry["state"] for entry in payout_entries(odoo)] == ["cancel"]
        assert balances(odoo) == before
        assert not any(
            payment["is_matched"]
            for payment in odoo.search_read("account.payment", [], ["is_matched"])
        )

    @pytest.mark.parametrize("event_type", ["payout.failed", "payout.canceled"])
    def test_a_payout_that_never_paid_books_nothing_even_if_paid_arrives_late(
        self,
        open_books: Callable[[], Books],
        fake_stripe: FakeStripe,
        event_type: str,
    ) -> None:
        books = open_books()
        stories = paying_customers(1, 1, 0, prefix="late")
        _, _, event = settle(books, fake_stripe, stories, "po_late")
        ended = dict(event, id="evt_po_late_end", type=event_type)
        ended["created"] = event["created"] + 60

        books.process(books.deliver([ended, event]))

        assert statuses(books, event_type) == [InboxStatus.SKIPPED]
        assert statuses(books, "payout.paid") == [InboxStatus.SKIPPED]
        assert payout_entries(books.runtime.odoo) == []
