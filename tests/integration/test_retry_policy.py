"""The base task's policy, observed through a real worker: retry, dead, wait."""

from __future__ import annotations

import pytest

from tests.conftest import stripe_customer, stripe_event, wait_until
from worker.locks import lock_name

pytestmark = pytest.mark.usefixtures("celery_worker")


class TestRetryableErrors:
    def test_odoo_serialization_failures_are_retried_until_applied(
        self, sandbox, post_stripe, wait_for_status
    ) -> None:
        customer = stripe_customer()
        event = stripe_event("customer.created", customer)
        sandbox.fail_next(2)

        post_stripe(event)

        row = wait_for_status("stripe", event["id"], timeout=60)
        assert row.attempts == 3
        assert "concurrent update" in row.last_error
        assert (
            len(sandbox.records("res.partner", domain=[("ref", "=", customer["id"])]))
            == 1
        )


class TestPermanentErrors:
    def test_a_record_odoo_refuses_goes_to_dead_with_the_reason(
        self, sandbox, post_stripe, wait_for_status
    ) -> None:
        customer = stripe_customer()
        customer["address"]["country"] = "QQ"
        event = stripe_event("customer.created", customer)

        post_stripe(event)

        row = wait_for_status("stripe", event["id"], ("dead",))
        assert row.attempts == 1
        assert "res.partner refused the load of country_id" in row.reason
        assert (
            sandbox.records("res.partner", domain=[("ref", "=", customer["id"])]) == []
        )


class TestWaiting:
    def test_a_held_account_lock_never_spends_the_retry_budget(
        self,
        sandbox,
        post_stripe,
        wait_for_status,
        inbox_row,
        redis_client,
        celery_worker,
    ) -> None:
        customer = stripe_customer()
        event = stripe_event("customer.created", customer)
        lock = redis_client.lock(
            lock_name(f"stripe:customer:{customer['id']}"), timeout=60
        )
        assert lock.acquire(blocking=False)
        retries_before = celery_worker.log().count("retry: Retry in")
        try:
            post_stripe(event)
            wait_until(
                lambda: (
                    celery_worker.log().count("retry: Retry in") >= retries_before + 3
                ),
                30,
                "the worker to find the lock busy three times",
            )
            row = inbox_row("stripe", event["id"])
            assert row.status == "queued"
            assert row.attempts == 0
        finally:
            lock.release()

        row = wait_for_status("stripe", event["id"])
        assert row.attempts == 1
        assert row.last_error is None
