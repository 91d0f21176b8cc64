"""/metrics counts what a scenario caused, summed across processes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.conftest import (
    load_fixture,
    stripe_customer,
    stripe_event,
    unique,
    wait_until,
)
from tests.observability.conftest import CUSTOMER_EMAIL, CUSTOMER_NAME, scrape, value
from worker.store import InboxEvent


def inbox_status(store: Any, event_id: str) -> str | None:
    with store.session() as session:
        row = session.query(InboxEvent).filter_by(event_id=event_id).one_or_none()
        return row.status if row is not None else None


def wait_status(store: Any, event_id: str, *statuses: str) -> None:
    wait_until(
        lambda: inbox_status(store, event_id) in statuses,
        30,
        f"event {event_id} to be {statuses}",
    )


class TestScenarioCounts:
    def test_received_processed_latency_and_odoo_calls(self, stack, store) -> None:
        receiver_before = scrape(f"{stack.receiver_url}/metrics")
        worker_before = scrape(stack.worker_metrics_url)
        events = [
            stripe_event(
                "customer.created",
                stripe_customer(name=CUSTOMER_NAME, email=CUSTOMER_EMAIL),
            )
            for _ in range(3)
        ]

        for event in events:
            assert stack.post_stripe(event).status_code == 200
        for event in events:
            wait_status(store, event["id"], "done")

        receiver = scrape(f"{stack.receiver_url}/metrics")
        labels = {"source": "stripe", "event_type": "customer.created"}
        received = "revsync_webhook_events_total"
        assert (
            value(receiver, received, **labels, outcome="received")
            - value(receiver_before, received, **labels, outcome="received")
            == 3
        )
        worker = wait_until(
            lambda: (
                sample
                if value(
                    sample := scrape(stack.worker_metrics_url),
                    "revsync_events_processed_total",
                    **labels,
                    outcome="done",
                )
                - value(
                    worker_before,
                    "revsync_events_processed_total",
                    **labels,
                    outcome="done",
                )
                >= 3
                else None
            ),
            10,
            "the worker to count three applied events",
        )
        processed = "revsync_events_processed_total"
        assert (
            value(worker, processed, **labels, outcome="done")
            - value(worker_before, processed, **labels, outcome="done")
            == 3
        )
        latency = "revsync_event_latency_seconds_count"
        assert (
            value(worker, latency, source="stripe")
            - value(worker_before, latency, source="stripe")
            == 3
        )
        odoo_ok = "revsync_external_calls_total"
        assert (
            value(worker, odoo_ok, system="odoo", outcome="ok")
            - value(worker_before, odoo_ok, system="odoo", outcome="ok")
            >= 3
        )
        # The store and Redis gauges are read at scrape time, by the receiver.
        assert value(receiver, "revsync_inbox_events", status="done") >= 3
        assert value(receiver, "revsync_metrics_source_up", source="store") == 1
        assert value(receiver, "revsync_metrics_source_up", source="redis") == 1
        assert ("revsync_queue_depth", (("queue", "realtime"),)) in receiver

    def test_failures_and_business_indicators(self, stack, store) -> None:
        worker_before = scrape(stack.worker_metrics_url)
        customer = stripe_event("customer.created", stripe_customer())
        assert stack.post_stripe(customer).status_code == 200
        wait_status(store, customer["id"], "done")
        # A live subscription whose price is not mapped goes to dead: its order is
        # never confirmed, so after REVSYNC_ACTIVATION_DELAY (1 s) it is delayed.
        subscription = load_fixture("stripe/subscription.json")
        subscription.update(
            id=unique("sub"),
            customer=customer["data"]["object"]["id"],
            status="active",
        )
        activation = stripe_event("customer.subscription.created", subscription)
        # A payment whose invoice never arrives cannot be matched: it waits.
        payment = stripe_event(
            "invoice_payment.paid",
            {
                "id": unique("inpay"),
                "object": "invoice_payment",
                "invoice": unique("in"),
                "status": "paid",
                "amount_paid": 1200,
                "currency": "usd",
                "payment": {"type": "payment_intent", "payment_intent": unique("pi")},
                "livemode": False,
            },
        )
        before = scrape(f"{stack.receiver_url}/metrics")

        assert stack.post_stripe(activation).status_code == 200
        assert stack.post_stripe(payment).status_code == 200
        wait_status(store, activation["id"], "dead")
        wait_status(store, payment["id"], "waiting")

        def delayed() -> dict[Any, float] | None:
            samples = scrape(f"{stack.receiver_url}/metrics")
            grew = value(samples, "revsync_activations_delayed") > value(
                before, "revsync_activations_delayed"
            )
            return samples if grew else None

        after = wait_until(delayed, 15, "the activation to count as delayed")
        unmatched = "revsync_payments_unmatched"
        assert value(after, unmatched, status="waiting") >= 1 + value(
            before, unmatched, status="waiting"
        )
        assert value(after, "revsync_inbox_oldest_age_seconds", status="dead") > 0
        assert value(after, "revsync_inbox_events", status="dead") >= 1 + value(
            before, "revsync_inbox_events", status="dead"
        )
        worker = scrape(stack.worker_metrics_url)
        failed = "revsync_events_failed_total"
        labels = {
            "source": "stripe",
            "event_type": "customer.subscription.created",
            "outcome": "dead",
        }
        assert (
            value(worker, failed, **labels) - value(worker_before, failed, **labels)
            == 1
        )


class TestMultiprocess:
    def test_two_gunicorn_workers_report_one_total(self, stack) -> None:
        url = f"{stack.receiver_url}/metrics"
        name = "revsync_webhook_requests_total"
        labels = {"source": "stripe", "outcome": "bad_signature"}
        before = value(scrape(url), name, **labels)
        requests_sent = 40

        def deliver(_: int) -> int:
            event = stripe_event("customer.created", stripe_customer())
            return stack.post_stripe(event, signature="t=1,v1=00").status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(deliver, range(requests_sent)))

        assert statuses == [401] * requests_sent
        # Each scrape is served by whichever worker accepts it; all must agree.
        totals = {value(scrape(url), name, **labels) - before for _ in range(8)}
        assert totals == {requests_sent}
        pids = {
            path.stem.rsplit("_", 1)[-1]
            for path in stack.receiver_metrics_dir.glob("counter_*.db")
        }
        assert len(pids) >= 2, "both gunicorn workers should have counted requests"
