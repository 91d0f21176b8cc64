"""``revsync backfill stripe`` imports history through the webhook path, once.

The Stripe history lives only in a fake Stripe API (no event was ever delivered);
the command runs as a real process against the test database and Redis, and the
events it queues are applied through the pipeline into an Odoo sandbox.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from tests.conftest import ROOT, sibling_redis
from tests.fakes.stripe import API_KEY, FakeStripe
from tests.ledger.stories import events_of, paying_customers, payout_of
from tests.lifecycle.harness import Books
from worker.backfill import (
    STRIPE_COLLECTIONS,
    BackfillReport,
    backfill_stripe,
    stripe_events,
)
from worker.scenarios import StripeStory
from worker.store import InboxEvent
from worker.stripe_api import StripeAPI

SINCE = "2025-12-01"
REVSYNC = str(Path(sys.executable).with_name("revsync"))


def history() -> tuple[list[StripeStory], list[dict[str, Any]]]:
    """Two customers' paid invoices, a refund, a canceled subscription, a payout."""
    stories = paying_customers(2, 3, 1, prefix="bf")
    stories[1].cancel(stories[1].objects()[1]["id"], at_period_end=False)
    payout, transactions, _ = payout_of(stories, "po_backfill")
    objects = [obj for story in stories for obj in story.objects()]
    return stories, [*objects, payout, *transactions]


def run_backfill(books: Books, fake: FakeStripe, redis_url: str) -> str:
    env = {
        **os.environ,
        "DATABASE_URL": books.store.url,
        "REDIS_URL": redis_url,
        "STRIPE_API_KEY": API_KEY,
        "STRIPE_API_BASE": fake.url,
        "REVSYNC_ENV": "sandbox",
    }
    done = subprocess.run(
        [REVSYNC, "backfill", "stripe", "--since", SINCE],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def snapshot(books: Books) -> dict[str, list[dict[str, Any]]]:
    """Every stored record of every model, archived ones included, all fields."""
    sandbox = books.sandbox
    return {
        name: sandbox.records(name, context={"active_test": False}, order="id")
        for name, model in sorted(sandbox.models.items())
        if not model._transient
    }


def inbox_count(books: Books) -> int:
    with books.store.session() as session:
        return int(session.scalar(select(func.count()).select_from(InboxEvent)) or 0)


class TestBackfillStripe:
    def test_a_second_run_leaves_odoo_and_the_inbox_unchanged(
        self,
        open_books: Callable[[], Books],
        fake_stripe: FakeStripe,
        redis_url: str,
    ) -> None:
        books = open_books()
        _, objects = history()
        fake_stripe.add(*objects)
        broker = sibling_redis(redis_url, 2)

        first = run_backfill(books, fake_stripe, broker)
        books.process(books.pending())
        assert books.failures() == []
        stored = inbox_count(books)
        before = snapshot(books)

        # What the history says landed: partners, orders, paid invoices, the
        # refund and the payout entry.
        assert {p["ref"] for p in before["res.partner"] if p["ref"]} == {
            "cus_bf0",
            "cus_bf1",
        }
        assert sorted(o["state"] for o in before["sale.order"]) == ["cancel", "sale"]
        invoices = [
            m for m in before["account.move"] if m["move_type"] == "out_invoice"
        ]
        assert [m["payment_state"] for m in invoices] == ["paid"] * 6
        assert len(before["account.payment"]) == 7
        entries = [
            m for m in before["account.move"] if m["ref"] == "Stripe payout po_backfill"
        ]
        assert [m["state"] for m in entries] == ["posted"]
        assert "stored" in first and "0 already stored" in first

        books.sandbox.reset_calls()
        second = run_backfill(books, fake_stripe, broker)
        books.process(books.pending())

        assert f"stored 0 new event(s), {stored} already stored" in second
        assert inbox_count(books) == stored
        assert snapshot(books) == before
        assert books.sandbox.call_counts() == {}

    def test_a_backfill_over_books_kept_by_webhooks_changes_nothing(
        self, open_books: Callable[[], Books], fake_stripe: FakeStripe
    ) -> None:
        books = open_books()
        stories, objects = history()
        fake_stripe.add(*objects)
        payout_event = payout_of(stories, "po_backfill")[2]
        books.process(books.deliver([*events_of(stories), payout_event]))
        before = snapshot(books)
        delivered = inbox_count(books)

        report = backfill_stripe(
            books.store,
            books.runtime.producer,
            StripeAPI(fake_stripe.url, API_KEY),
            datetime(2025, 12, 1, tzinfo=UTC),
        )
        books.process(books.pending())

        assert report.stored == inbox_count(books) - delivered > 0
        assert books.failures() == []
        assert snapshot(books) == before

    def test_each_object_becomes_the_event_of_its_current_state(
        self, fake_stripe: FakeStripe
    ) -> None:
        _, objects = history()
        fake_stripe.add(*objects)
        api = StripeAPI(fake_stripe.url, API_KEY)
        report = BackfillReport()

        events = stripe_events(
            api, datetime(2025, 12, 1, tzinfo=UTC), report, at=1_800_000_000
        )

        types = [event.type for event in events]
        # Dependency order: customers first, the payout last.
        assert types[:2] == ["customer.updated", "customer.updated"]
        assert types[-1] == "payout.paid"
        assert types.count("invoice.paid") == 6
        assert types.count("invoice_payment.paid") == 6
        assert types.count("refund.updated") == 1
        assert sorted(t for t in types if t.startswith("customer.subscription")) == [
            "customer.subscription.deleted",
            "customer.subscription.updated",
        ]
        assert report.listed["payouts"] == 1
        assert list(report.listed) == [c.name for c in STRIPE_COLLECTIONS]
        # Deterministic ids: listing again gives the same events.
        again = stripe_events(
            api, datetime(2025, 12, 1, tzinfo=UTC), BackfillReport(), at=1_900_000_000
        )
        assert [e.event_id for e in again] == [e.event_id for e in events]
        assert all(e.event_id.startswith("backfill:") for e in events)
        assert all(e.payload["created"] == 1_800_000_000 for e in events)

    def test_nothing_created_before_since_is_listed(
        self, fake_stripe: FakeStripe
    ) -> None:
        _, objects = history()
        fake_stripe.add(*objects)
        report = BackfillReport()

        events = stripe_events(
            StripeAPI(fake_stripe.url, API_KEY),
            datetime(2030, 1, 1, tzinfo=UTC),
            report,
            at=1_800_000_000,
        )

        assert events == []
        assert set(report.listed.values()) == {0}

    def test_an_unreachable_stripe_fails_clearly_and_stores_nothing(
        self, open_books: Callable[[], Books], redis_url: str
    ) -> None:
        books = open_books()
        env = {
            **os.environ,
            "DATABASE_URL": books.store.url,
            "REDIS_URL": sibling_redis(redis_url, 2),
            "STRIPE_API_KEY": "sk_test_wrong",
            "STRIPE_API_BASE": "http://127.0.0.1:9",
            "REVSYNC_ENV": "sandbox",
        }
        done = subprocess.run(
            [REVSYNC, "backfill", "stripe", "--since", SINCE],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

        assert done.returncode == 1
        assert "listing Stripe failed: stripe: unreachable" in done.stderr
        assert "sk_test_wrong" not in done.stderr + done.stdout
        assert inbox_count(books) == 0
