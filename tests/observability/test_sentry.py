"""Errors reach Sentry, scrubbed of payloads, e-mail addresses, names and secrets."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import (
    ODOO_CREDENTIALS,
    OPERATOR_TOKEN,
    STRIPE_SECRET,
    stripe_customer,
    stripe_event,
    wait_until,
)
from tests.observability.conftest import (
    CUSTOMER_EMAIL,
    CUSTOMER_NAME,
    STREET,
    post_stripe,
    start_receiver,
)
from worker.store import InboxEvent
from worker.telemetry import REDACTED, remember_secrets, scrub_breadcrumb, scrub_event

FORBIDDEN = (
    CUSTOMER_EMAIL,
    CUSTOMER_NAME,
    STREET,
    "Lanternwick",
    STRIPE_SECRET,
    ODOO_CREDENTIALS["password"],
    OPERATOR_TOKEN,
)


def personal_customer(**fields: Any) -> dict[str, Any]:
    return stripe_customer(
        name=CUSTOMER_NAME,
        email=CUSTOMER_EMAIL,
        phone="+1 555 0100",
        description=f"{CUSTOMER_NAME} <{CUSTOMER_EMAIL}>",
        **fields,
    )


def tagged(events: list[dict[str, Any]], **tags: str) -> list[dict[str, Any]]:
    def matches(event: dict[str, Any]) -> bool:
        found = dict(event.get("tags") or {})
        return all(found.get(name) == wanted for name, wanted in tags.items())

    return [event for event in events if matches(event)]


def exception_types(event: dict[str, Any]) -> list[str]:
    return [value["type"] for value in event["exception"]["values"]]


class TestReports:
    def test_an_unexpected_task_error_is_reported_without_personal_data(
        self, stack, store
    ) -> None:
        # An address Stripe would never send as a string makes the handler crash.
        customer = personal_customer(address=f"{STREET}, {CUSTOMER_EMAIL}")
        event = stripe_event("customer.created", customer)

        assert stack.post_stripe(event).status_code == 200

        def dead() -> InboxEvent | None:
            with store.session() as session:
                row = session.query(InboxEvent).filter_by(event_id=event["id"]).one()
                return row if row.status == "dead" else None

        row = wait_until(dead, 30, "the crashing event to be dead")
        reports = wait_until(
            lambda: tagged(stack.sentry.errors(), inbox_id=str(row.id)),
            20,
            "the task's error report",
        )
        report = reports[0]
        assert "AttributeError" in exception_types(report)
        assert report["tags"]["component"] == "worker"
        assert report["environment"] == "sandbox"
        assert report["release"].startswith("revsync@")
        frames = report["exception"]["values"][-1]["stacktrace"]["frames"]
        assert frames and all("vars" not in frame for frame in frames)
        raw = stack.sentry.raw()
        for secret in FORBIDDEN:
            assert secret not in raw

    def test_a_store_failure_in_the_receiver_is_reported_without_the_body(
        self, stack, sentry, tmp_path
    ) -> None:
        base, _, _ = stack.env["DATABASE_URL"].rpartition("/")
        broken = dict(
            stack.env,
            DATABASE_URL=f"{base}/revsync_missing_{uuid.uuid4().hex[:8]}",
        )
        receiver, url = start_receiver(broken, tmp_path / "broken", workers=1)
        try:
            event = stripe_event("customer.created", personal_customer())
            response = post_stripe(url, event)

            assert response.status_code == 503
            reports = wait_until(
                lambda: [
                    report
                    for report in tagged(sentry.errors(), source="stripe")
                    if "OperationalError" in exception_types(report)
                ],
                20,
                "the receiver's error report",
            )
        finally:
            receiver.stop()
        report = reports[0]
        assert report["environment"] == "sandbox"
        assert report["tags"]["component"] == "receiver"
        assert "data" not in report.get("request", {})
        headers = report.get("request", {}).get("headers", {})
        assert headers.get("Stripe-Signature") in (None, REDACTED)
        raw = sentry.raw()
        for secret in FORBIDDEN:
            assert secret not in raw


class TestScrubber:
    def test_masks_every_place_personal_data_can_hide(self) -> None:
        remember_secrets(["super-secret-odoo-password"])
        event = {
            "user": {"email": CUSTOMER_EMAIL},
            "request": {
                "url": f"https://revsync.example/webhooks/stripe?email={CUSTOMER_EMAIL}",
                "data": {"name": CUSTOMER_NAME},
                "cookies": {"session": "abc"},
                "headers": {
                    "Authorization": "Bearer operator-token",
                    "Stripe-Signature": "t=1,v1=abc",
                    "User-Agent": "Stripe/1.0",
                },
            },
            "exception": {
                "values": [
                    {
                        "type": "IntegrityError",
                        "module": "psycopg.errors",
                        "value": f"Key (name)=({CUSTOMER_NAME}) already exists",
                        "stacktrace": {
                            "frames": [{"function": "f", "vars": {"c": CUSTOMER_NAME}}]
                        },
                    },
                    {
                        "type": "PermanentError",
                        "module": "worker.errors",
                        "value": f"odoo: refused {CUSTOMER_EMAIL} "
                        "with super-secret-odoo-password",
                    },
                ]
            },
            "logentry": {"message": "customer %s", "params": [CUSTOMER_NAME]},
            "extra": {"payload": {"id": "evt_1"}, "inbox_id": 7, "name": "x"},
            "contexts": {"runtime": {"name": "CPython"}, "app": {"token": "t0k3n"}},
            "breadcrumbs": {
                "values": [
                    {
                        "message": f"mail to {CUSTOMER_EMAIL}",
                        "data": {"url": "https://api.stripe.com/v1/x?email=a"},
                    }
                ]
            },
        }

        scrubbed = scrub_event(event)
        text = repr(scrubbed)

        for secret in (
            CUSTOMER_EMAIL,
            CUSTOMER_NAME,
            "super-secret-odoo-password",
            "operator-token",
            "t0k3n",
            "v1=abc",
            "evt_1",
        ):
            assert secret not in text
        assert "user" not in scrubbed
        assert "data" not in scrubbed["request"]
        assert scrubbed["request"]["url"] == "https://revsync.example/webhooks/stripe"
        assert scrubbed["request"]["headers"]["User-Agent"] == "Stripe/1.0"
        values = scrubbed["exception"]["values"]
        assert values[0]["value"] == REDACTED
        assert "vars" not in values[0]["stacktrace"]["frames"][0]
        assert values[1]["value"].startswith("odoo: refused [email] with")
        assert scrubbed["logentry"]["formatted"] == "customer %s"
        assert scrubbed["extra"]["inbox_id"] == 7
        assert scrubbed["contexts"]["runtime"]["name"] == "CPython"
        crumb = scrubbed["breadcrumbs"]["values"][0]
        assert crumb["data"]["url"] == "https://api.stripe.com/v1/x"

    def test_breadcrumbs_lose_query_strings_and_addresses(self) -> None:
        crumb = scrub_breadcrumb(
            {
                "category": "httplib",
                "message": f"GET for {CUSTOMER_EMAIL}",
                "data": {"url": "http://odoo/xmlrpc?db=x", "http.query": "db=x"},
            }
        )

        assert crumb is not None
        assert crumb["data"] == {"url": "http://odoo/xmlrpc"}
        assert CUSTOMER_EMAIL not in crumb["message"]
