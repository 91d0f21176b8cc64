"""A prerequisite revsync has not seen is read from the Stripe API and created.

A local HTTP fake of the Stripe API (``STRIPE_API_BASE``) serves the objects of a
story; the events that would have brought them are never delivered.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from tests.conftest import sibling_redis
from tests.fakes.stripe import API_KEY, FakeStripe
from tests.lifecycle.harness import Books, write_mapping
from worker.scenarios import StripeStory
from worker.store import InboxEvent, Store


def latest_objects(story: StripeStory) -> dict[str, dict[str, Any]]:
    objects: dict[str, dict[str, Any]] = {}
    for event in story.events:
        obj = event["data"]["object"]
        objects[obj["id"]] = obj
    return objects


@pytest.fixture
def books(tmp_path, redis_url: str) -> Iterator[tuple[Books, StripeStory, FakeStripe]]:
    story = StripeStory(customer_id="cus_apionly", shape="basil", prefix="api")
    story.customer_created("Read From Stripe AG", "ap@stripe-api.example", "CH")
    sub = story.subscribe("price_pro_monthly", "prod_price_pro_monthly", 4900)
    invoice = story.invoice(sub)
    story.finalize(invoice)
    story.pay(invoice)
    fake = FakeStripe(latest_objects(story).values())
    store = Store(f"sqlite:///{tmp_path}/api.db")
    store.upgrade()
    opened = Books(store, sibling_redis(redis_url, 2), write_mapping(tmp_path))
    opened.runtime.settings = opened.runtime.settings.model_copy(
        update={"stripe_api_key": SecretStr(API_KEY), "stripe_api_base": fake.url}
    )
    try:
        yield opened, story, fake
    finally:
        opened.close()
        fake.stop()


class TestStripeApiPrerequisites:
    def test_a_payment_alone_brings_its_customer_and_invoice_from_the_api(
        self, books
    ) -> None:
        target, story, fake = books
        payment = next(e for e in story.events if e["type"] == "invoice_payment.paid")

        target.process(target.deliver([payment]))

        invoice_id = payment["data"]["object"]["invoice"]
        assert f"/v1/invoices/{invoice_id}" in [r.path for r in fake.requests]
        assert "/v1/customers/cus_apionly" in [r.path for r in fake.requests]
        partners = target.sandbox.records(
            "res.partner", domain=[("ref", "=", "cus_apionly")]
        )
        assert [p["name"] for p in partners] == ["Read From Stripe AG"]
        moves = target.sandbox.records(
            "account.move", domain=[("payment_reference", "=", invoice_id)]
        )
        assert [(m["state"], m["payment_state"], m["amount_total"]) for m in moves] == [
            ("posted", "paid", 49.0)
        ]
        with target.store.session() as session:
            assert [row.status for row in session.query(InboxEvent)] == ["done"]
