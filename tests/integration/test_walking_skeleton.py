"""A signed Stripe customer event, from HTTP to Odoo, through the real services."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import stripe_customer, stripe_event, unique
from worker.store import AuditEntry, CrossReference, InboxEvent

pytestmark = pytest.mark.usefixtures("celery_worker")


def partners_with_ref(sandbox: Any, ref: str) -> list[dict[str, Any]]:
    return sandbox.records("res.partner", domain=[("ref", "=", ref)])


class TestCustomerCreated:
    def test_becomes_one_partner_under_its_external_id(
        self, sandbox, post_stripe, wait_for_status, store
    ) -> None:
        customer = stripe_customer(name="Initech Ltd", email="ap@initech.example")
        event = stripe_event("customer.created", customer)

        response = post_stripe(event)

        assert response.status_code == 200
        assert response.json() == {"accepted": 1, "duplicates": 0}
        row = wait_for_status("stripe", event["id"])
        partners = partners_with_ref(sandbox, customer["id"])
        assert len(partners) == 1
        partner = partners[0]
        assert partner["name"] == "Initech Ltd"
        assert partner["email"] == "ap@initech.example"
        assert partner["is_company"] is True
        assert partner["city"] == "Springfield"
        assert partner["country_id"][0] == sandbox.xmlid("base.us")[1]
        assert sandbox.xmlid(f"revsync.stripe_customer_{customer['id']}") == (
            "res.partner",
            partner["id"],
        )
        with store.session() as session:
            xref = session.scalars(
                select(CrossReference).filter_by(
                    system="stripe", object_type="customer", external_id=customer["id"]
                )
            ).one()
            audit = session.scalars(select(AuditEntry).filter_by(inbox_id=row.id)).all()
        assert (xref.odoo_model, xref.odoo_id) == ("res.partner", partner["id"])
        assert xref.account_id == row.account_id
        assert [(a.system, a.model, a.record_id, a.operation) for a in audit] == [
            ("odoo", "res.partner", str(partner["id"]), "create")
        ]

    def test_delivered_twice_gives_one_partner(
        self, idle_sandbox, post_stripe, wait_for_status, store
    ) -> None:
        sandbox = idle_sandbox
        customer = stripe_customer()
        event = stripe_event("customer.created", customer)

        first = post_stripe(event)
        second = post_stripe(event)

        assert first.json() == {"accepted": 1, "duplicates": 0}
        assert second.json() == {"accepted": 0, "duplicates": 1}
        wait_for_status("stripe", event["id"])
        assert len(partners_with_ref(sandbox, customer["id"])) == 1
        assert sandbox.calls[("res.partner", "load")] == 1
        with store.session() as session:
            rows = session.scalars(
                select(InboxEvent).filter_by(source="stripe", event_id=event["id"])
            ).all()
        assert len(rows) == 1

    def test_update_changes_the_same_partner(
        self, sandbox, post_stripe, wait_for_status
    ) -> None:
        customer = stripe_customer(name="Old Name GmbH")
        created = stripe_event("customer.created", customer, created=1_700_000_000)
        renamed = dict(customer, name="New Name GmbH")
        updated = stripe_event("customer.updated", renamed, created=1_700_000_100)

        post_stripe(created)
        wait_for_status("stripe", created["id"])
        post_stripe(updated)
        wait_for_status("stripe", updated["id"])

        partners = partners_with_ref(sandbox, customer["id"])
        assert [p["name"] for p in partners] == ["New Name GmbH"]

    def test_an_older_snapshot_arriving_late_is_skipped(
        self, sandbox, post_stripe, wait_for_status
    ) -> None:
        customer = stripe_customer(name="Newest Name")
        newer = stripe_event("customer.updated", customer, created=1_700_000_200)
        older = stripe_event(
            "customer.created", dict(customer, name="Stale Name"), created=1_700_000_100
        )

        post_stripe(newer)
        wait_for_status("stripe", newer["id"])
        post_stripe(older)
        row = wait_for_status("stripe", older["id"], ("skipped",))

        assert row.reason.startswith("stale")
        assert [p["name"] for p in partners_with_ref(sandbox, customer["id"])] == [
            "Newest Name"
        ]


class TestRejectedDeliveries:
    def test_bad_signature_is_401_and_stores_nothing(
        self, post_stripe, inbox_row
    ) -> None:
        event = stripe_event("customer.created", stripe_customer())

        response = post_stripe(event, secret="whsec_wrong")

        assert response.status_code == 401
        assert inbox_row("stripe", event["id"]) is None

    def test_missing_signature_is_401_and_stores_nothing(
        self, post_stripe, inbox_row
    ) -> None:
        event = stripe_event("customer.created", stripe_customer())

        response = post_stripe(event, signature="")

        assert response.status_code == 401
        assert inbox_row("stripe", event["id"]) is None

    def test_unknown_event_type_is_stored_and_skipped(
        self, post_stripe, wait_for_status
    ) -> None:
        event = stripe_event("plan.created", {"id": unique("plan"), "object": "plan"})

        assert post_stripe(event).status_code == 200

        row = wait_for_status("stripe", event["id"], ("skipped",))
        assert row.reason == "no handler for stripe event type plan.created"
