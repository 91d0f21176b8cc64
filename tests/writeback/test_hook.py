"""The pipeline's hook: it records what the event says and never fails the event."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import SecretStr

from tests.conftest import unique
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.zendesk import FakeZendesk
from tests.writeback.conftest import link_account
from tests.writeback.support import record, subscription
from worker.embedded import free_port
from worker.runtime import Runtime
from worker.settings import Settings
from worker.store import CrossReference, Store, utcnow
from worker.store.models import PaymentFailure
from worker.sync.context import Event


def failed_intent_event(customer: str, created: int) -> Event:
    intent = {
        "id": "pi_hook_1",
        "object": "payment_intent",
        "customer": customer,
        "status": "requires_payment_method",
        "last_payment_error": {
            "code": "card_declined",
            "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds.",
        },
    }
    return Event(
        inbox_id=0,
        source="stripe",
        event_id=unique("evt"),
        type="payment_intent.payment_failed",
        payload={"id": "evt_hook", "created": created, "data": {"object": intent}},
        occurred_at=datetime.fromtimestamp(created, UTC),
        livemode=False,
    )


class TestBillingChanged:
    def test_a_redis_outage_leaves_the_event_applied_and_the_failure_noted(
        self,
        store: Store,
        writeback_settings: Settings,
        hubspot_fake: FakeHubSpot,
        zendesk_fake: FakeZendesk,
    ) -> None:
        from worker.writeback.push import billing_changed

        linked = link_account(store, hubspot_fake, zendesk_fake)
        customer = f"cus_hook_{linked.account_id}"
        now = utcnow()
        with store.session() as session:
            session.add(
                CrossReference(
                    account_id=linked.account_id,
                    system="stripe",
                    object_type="customer",
                    external_id=customer,
                    created_at=now,
                    updated_at=now,
                )
            )
        record(
            store,
            linked.account_id,
            subscription(f"sub_hook_{linked.account_id}"),
            event_type="customer.subscription.created",
        )
        # Nothing listens on this port: scheduling the push fails.
        dead_redis = writeback_settings.model_copy(
            update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"}
        )
        assert isinstance(dead_redis.hubspot_access_token, SecretStr)
        runtime = Runtime(dead_redis)

        # The PaymentIntent names its customer, not the account: the hook finds it.
        billing_changed(runtime, failed_intent_event(customer, 1_767_600_000), None)

        with store.session() as session:
            failure = session.get(PaymentFailure, linked.account_id)
            assert failure is not None
            assert failure.reason == "insufficient_funds"
            assert failure.failed_at == datetime.fromtimestamp(1_767_600_000, UTC)

    def test_events_of_unknown_customers_are_left_alone(
        self, store: Store, writeback_settings: Settings
    ) -> None:
        from worker.writeback.push import billing_changed

        runtime = Runtime(writeback_settings)
        event = failed_intent_event("cus_nobody_knows", 1_767_600_000)
        billing_changed(runtime, event, None)
        with store.session() as session:
            assert (
                session.query(PaymentFailure)
                .filter(PaymentFailure.event_id == event.event_id)
                .count()
                == 0
            )
