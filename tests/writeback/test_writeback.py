"""Billing health reaches HubSpot and Zendesk: coalesced, rate-limited, retried.

A real Celery worker (``writeback_worker``) applies Stripe events and runs the push
tasks against the two fakes; the test process changes billing state the way the
Stripe handlers record it and calls the same hook the pipeline calls.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import requests
from sqlalchemy import func, select

from tests.conftest import STRIPE_SECRET, WorkerProcess, unique, wait_until
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.zendesk import FakeZendesk
from tests.writeback.conftest import RATE, RATE_COUNT, RATE_WINDOW, Linked, link_account
from tests.writeback.support import record, subscription
from worker.runtime import Runtime
from worker.scenarios import StripeStory
from worker.store import AuditEntry, CrossReference, InboxEvent, Store
from worker.store.models import BillingSnapshot, WritebackState
from worker.stripe_signing import sign
from worker.writeback.budget import NAMESPACE, Budget, OverBudget
from worker.writeback.push import dirty_key, schedule, sweep

pytestmark = pytest.mark.usefixtures("writeback_worker")


def settled(runtime: Runtime) -> None:
    """Wait until no push is pending and no change is left unsent."""

    def idle() -> bool:
        return not any(runtime.redis.scan_iter("revsync:writeback:*"))

    wait_until(idle, 30, "the write-back to settle")


def company_writes(hubspot: FakeHubSpot, linked: Linked) -> list[dict[str, str]]:
    with hubspot.lock:
        return list(hubspot.company_writes.get(linked.company_id, []))


def audit_rows(store: Store, system: str, record_id: str) -> list[AuditEntry]:
    with store.session() as session:
        return list(
            session.scalars(
                select(AuditEntry).where(
                    AuditEntry.system == system, AuditEntry.record_id == record_id
                )
            )
        )


class TestFailedPayment:
    def test_shows_as_past_due_in_hubspot_and_zendesk(
        self,
        store: Store,
        runtime: Runtime,
        writeback_receiver: str,
        hubspot_fake: FakeHubSpot,
        zendesk_fake: FakeZendesk,
    ) -> None:
        def post(event: dict[str, object]) -> None:
            body = json.dumps(event).encode()
            response = requests.post(
                f"{writeback_receiver}/webhooks/stripe",
                data=body,
                headers={
                    "Content-Type": "application/json",
                    "Stripe-Signature": sign(body, STRIPE_SECRET),
                },
                timeout=10,
            )
            assert response.status_code == 200

        def applied(count: int) -> bool:
            with store.session() as session:
                finished = session.scalar(
                    select(func.count())
                    .select_from(InboxEvent)
                    .where(
                        InboxEvent.event_id.in_(ids),
                        InboxEvent.status.in_(["done", "skipped"]),
                    )
                )
            return finished == count

        customer = unique("cus")
        story = StripeStory(customer, prefix=uuid.uuid4().hex[:10])
        story.customer_created("Example Customer Ltd", "billing@customer.example")
        ids = [story.events[0]["id"]]
        post(story.events[0])
        wait_until(lambda: applied(1), 30, "the customer to be applied")
        with store.session() as session:
            account_id = session.scalar(
                select(CrossReference.account_id).where(
                    CrossReference.external_id == customer
                )
            )
        assert account_id is not None
        linked = link_account(store, hubspot_fake, zendesk_fake, account_id)

        sub = story.subscribe("price_pro_monthly", "prod_pro", 4900)
        invoice = story.invoice(sub)
        story.finalize(invoice)
        story.fail_payment(invoice)
        # Leave out Stripe's customer.subscription.updated (past_due): the failed
        # payment alone must say the account is past due.
        events = [
            event
            for event in story.events[1:]
            if event["type"] != "customer.subscription.updated"
        ]
        assert "invoice.payment_failed" in [event["type"] for event in events]
        for event in events:
            ids.append(event["id"])
            post(event)
        wait_until(lambda: applied(len(ids)), 60, "the Stripe events to be applied")

        def past_due() -> bool:
            company = hubspot_fake.company(linked.company_id)
            fields = zendesk_fake.fields(linked.organization_id)
            return (
                company.get("billing_status") == "past_due"
                and fields.get("billing_status") == "past_due"
            )

        wait_until(past_due, 30, "past due in HubSpot and Zendesk")
        settled(runtime)
        company = hubspot_fake.company(linked.company_id)
        fields = zendesk_fake.fields(linked.organization_id)
        expected = {
            "billing_plan": "PRO-M",
            "mrr": "49.00",
            "billing_currency": "USD",
            "open_balance": "49.00",
            "last_payment_failure_reason": "generic_decline",
        }
        assert {name: company[name] for name in expected} == expected
        assert {name: fields[name] for name in expected} == expected
        assert company["last_payment_failed_at"] == fields["last_payment_failed_at"]
        assert company["next_renewal_date"] == fields["next_renewal_date"]

        # The hook kept the billing facts of what was applied, for after pruning.
        with store.session() as session:
            kept = set(
                session.execute(
                    select(
                        BillingSnapshot.object_type, BillingSnapshot.external_id
                    ).where(BillingSnapshot.account_id == account_id)
                ).all()
            )
        assert {("subscription", sub), ("invoice", invoice)} <= kept

        hubspot_audit = audit_rows(store, "hubspot", linked.company_id)
        zendesk_audit = audit_rows(store, "zendesk", linked.organization_id)
        assert hubspot_audit and zendesk_audit
        assert {row.model for row in hubspot_audit} == {"company"}
        assert {row.model for row in zendesk_audit} == {"organization"}
        assert "billing_status" in (hubspot_audit[-1].fields or [])
        # Field names only: no value of the state is in the audit log.
        for row in hubspot_audit + zendesk_audit:
            assert "past_due" not in json.dumps(row.fields)
            assert row.note == "billing health"


class TestCoalescing:
    def test_a_hundred_changes_in_a_second_make_at_most_two_writes(
        self,
        store: Store,
        runtime: Runtime,
        hubspot_fake: FakeHubSpot,
        zendesk_fake: FakeZendesk,
    ) -> None:
        settled(runtime)
        linked = link_account(store, hubspot_fake, zendesk_fake)
        sub_id = unique("sub")
        base = int(time.time())
        queued: list[str] = []
        for quantity in range(1, 101):
            record(
                store,
                linked.account_id,
                subscription(sub_id, quantity=quantity),
                event_type="customer.subscription.updated",
                created=base + quantity,
            )
            queued += schedule(runtime, linked.account_id)
        # One pending task per system gathers the changes (a second one only if
        # the first ran before the last change).
        assert 1 <= queued.count("hubspot") <= 2
        assert 1 <= queued.count("zendesk") <= 2

        def final_state_sent() -> bool:
            writes = company_writes(hubspot_fake, linked)
            puts = zendesk_fake.writes(linked.organization_id)
            return bool(
                writes
                and puts
                and writes[-1]["mrr"] == "4900.00"
                and puts[-1]["mrr"] == "4900.00"
            )

        wait_until(final_state_sent, 30, "the final state in both systems")
        settled(runtime)
        writes = company_writes(hubspot_fake, linked)
        puts = zendesk_fake.writes(linked.organization_id)
        assert 1 <= len(writes) <= 2
        assert 1 <= len(puts) <= 2
        assert writes[-1]["billing_status"] == puts[-1]["billing_status"] == "active"

    def test_an_unchanged_state_is_not_written_again(
        self,
        store: Store,
        runtime: Runtime,
        hubspot_fake: FakeHubSpot,
        zendesk_fake: FakeZendesk,
    ) -> None:
        settled(runtime)
        linked = link_account(store, hubspot_fake, zendesk_fake)
        record(
            store,
            linked.account_id,
            subscription(unique("sub"), status="trialing"),
            event_type="customer.subscription.created",
        )
        schedule(runtime, linked.account_id)
        wait_until(
            lambda: (
                zendesk_fake.writes(linked.organization_id)
                and company_writes(hubspot_fake, linked)
            ),
            30,
            "the first write",
        )
        settled(runtime)
        audited = len(audit_rows(store, "zendesk", linked.organization_id))

        # The same state again (a duplicate event, an echo): the push task runs,
        # finds the hash of what it sent last, and writes nothing.
        assert schedule(runtime, linked.account_id) == ["hubspot", "zendesk"]
        settled(runtime)
        assert len(zendesk_fake.writes(linked.organization_id)) == 1
        assert len(company_writes(hubspot_fake, linked)) == 1
        assert len(audit_rows(store, "zendesk", linked.organization_id)) == audited


class TestSweep:
    def test_a_change_whose_push_was_never_queued_is_sent_by_the_sweep(
        self,
        store: Store,
        runtime: Runtime,
        hubspot_fake: FakeHubSpot,
        zendesk_fake: FakeZendesk,
    ) -> None:
        settled(runtime)
        linked = link_account(store, hubspot_fake, zendesk_fake)
        record(
            store,
            linked.account_id,
            subscription(unique("sub"), status="trialing"),
            event_type="customer.subscription.created",
        )
        # The event was applied, the marker set, then the broker went away before
        # a push task was queued: only the marker is left.
        for system in ("hubspot", "zendesk"):
            runtime.redis.incr(dirty_key(linked.account_id, system))

        assert sweep(runtime) == 2

        wait_until(
            lambda: (
                zendesk_fake.writes(linked.organization_id)
                and company_writes(hubspot_fake, linked)
            ),
            30,
            "the swept state in both systems",
        )
        settled(runtime)
        # Written once per system, and nothing left for a later sweep. (A sweep
        # racing the push may queue a second one; it finds the state unchanged.)
        assert sweep(runtime) == 0
        writes = company_writes(hubspot_fake, linked)
        assert [w["billing_status"] for w in writes] == ["trialing"]
        assert len(zendesk_fake.writes(linked.organization_id)) == 1

    def test_a_recent_refusal_is_not_swept_again(
        self,
        store: Store,
        runtime: Runtime,
        hubspot_fake: FakeHubSpot,
        zendesk_fake: FakeZendesk,
    ) -> None:
        settled(runtime)
        linked = link_account(store, hubspot_fake, zendesk_fake)
        with store.session() as session:
            session.add(
                WritebackState(
                    account_id=linked.account_id,
                    system="hubspot",
                    target_id=linked.company_id,
                    last_error="hubspot: HTTP 400",
                    updated_at=datetime.now(UTC),
                )
            )
        marker = dirty_key(linked.account_id, "hubspot")
        runtime.redis.incr(marker)
        try:
            assert sweep(runtime) == 0
            assert sweep(runtime, quiet_after_failure=0) == 1
        finally:
            settled(runtime)


class TestRateLimits:
    def test_a_429_is_retried_after_retry_after_and_the_state_arrives(
        self,
        store: Store,
        runtime: Runtime,
        hubspot_fake: FakeHubSpot,
        zendesk_fake: FakeZendesk,
        external_calls: Callable[[str, str], float],
    ) -> None:
        settled(runtime)
        linked = link_account(store, hubspot_fake, zendesk_fake)
        record(
            store,
            linked.account_id,
            subscription(unique("sub"), status="past_due"),
            event_type="customer.subscription.updated",
        )
        retryable = external_calls("zendesk", "retryable")
        hubspot_refused = external_calls("hubspot", "retryable")
        puts_before = len(zendesk_fake.put_log)
        hubspot_fake.throttle_next(1, retry_after=1)
        zendesk_fake.throttle_next(1, retry_after=2)
        schedule(runtime, linked.account_id)

        def arrived() -> bool:
            fields = zendesk_fake.fields(linked.organization_id)
            company = hubspot_fake.company(linked.company_id)
            return (
                fields.get("billing_status") == "past_due"
                and company.get("billing_status") == "past_due"
            )

        wait_until(arrived, 30, "the state after the 429s")
        settled(runtime)
        answers = zendesk_fake.put_log[puts_before:]
        assert [status for _, status in answers] == [429, 200]
        # The retry waited for the Retry-After the fake gave.
        assert answers[1][0] - answers[0][0] >= 2
        assert external_calls("zendesk", "retryable") == retryable + 1
        assert external_calls("hubspot", "retryable") == hubspot_refused + 1
        assert len(company_writes(hubspot_fake, linked)) == 1

    def test_the_budget_is_shared_by_every_process(
        self,
        store: Store,
        runtime: Runtime,
        hubspot_fake: FakeHubSpot,
        zendesk_fake: FakeZendesk,
    ) -> None:
        settled(runtime)
        assert runtime.settings.redis_url
        budget = Budget(runtime.settings.redis_url)
        from limits import parse

        item = parse(RATE)
        wait_until(
            lambda: (
                budget.limiter.get_window_stats(item, NAMESPACE, "zendesk")[1]
                == RATE_COUNT
            ),
            RATE_WINDOW + 10,
            "a full Zendesk budget",
        )
        # This process spends the whole Zendesk budget; the worker must wait for
        # the window to pass before it writes.
        spent_at = time.time()
        with pytest.raises(OverBudget):
            for _ in range(RATE_COUNT + 1):
                budget.spend("zendesk", RATE)

        linked = link_account(store, hubspot_fake, zendesk_fake)
        record(
            store,
            linked.account_id,
            subscription(unique("sub")),
            event_type="customer.subscription.created",
        )
        puts_before = len(zendesk_fake.put_log)
        schedule(runtime, linked.account_id)
        wait_until(
            lambda: zendesk_fake.writes(linked.organization_id), 30, "the Zendesk write"
        )
        settled(runtime)
        answers = zendesk_fake.put_log[puts_before:]
        assert [status for _, status in answers] == [200]
        assert answers[0][0] >= spent_at + RATE_WINDOW

    def test_a_system_over_its_own_budget_gets_the_final_state_anyway(
        self,
        store: Store,
        runtime: Runtime,
        hubspot_fake: FakeHubSpot,
        zendesk_fake: FakeZendesk,
    ) -> None:
        settled(runtime)
        zendesk_fake.limit_writes(1, window=3)
        try:
            accounts = [link_account(store, hubspot_fake, zendesk_fake) for _ in "ab"]
            for linked in accounts:
                record(
                    store,
                    linked.account_id,
                    subscription(unique("sub"), status="paused"),
                    event_type="customer.subscription.paused",
                )
                schedule(runtime, linked.account_id)

            def all_paused() -> bool:
                return all(
                    zendesk_fake.fields(linked.organization_id).get("billing_status")
                    == "paused"
                    for linked in accounts
                )

            wait_until(all_paused, 40, "both organizations to be paused")
            settled(runtime)
        finally:
            zendesk_fake.limit_writes(None)
        assert zendesk_fake.over_budget >= 1
        for linked in accounts:
            assert len(zendesk_fake.writes(linked.organization_id)) == 1


def test_the_worker_logs_no_personal_data(writeback_worker: WorkerProcess) -> None:
    log = writeback_worker.log()
    assert "billing@customer.example" not in log
    assert "Example Customer Ltd" not in log
