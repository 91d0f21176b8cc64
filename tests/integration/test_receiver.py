"""The receiver over HTTP: verified, durable, deduplicated, never a 500 on bad input."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from pydantic import SecretStr
from sqlalchemy import func, select

from tests.conftest import (
    FIXTURES,
    STRIPE_SECRET,
    load_fixture,
    stripe_customer,
    stripe_event,
    unique,
)
from worker.settings import Settings
from worker.store import InboxEvent
from worker.stripe_signing import post_signed, sign

VECTORS = load_fixture("signature_vectors.json")
YEAR = 365 * 24 * 3600


def vector_body(vector: dict[str, Any]) -> bytes:
    if "body_file" in vector:
        return (FIXTURES / vector["body_file"]).read_bytes()
    return str(vector["body"]).encode()


def inbox_count(store: Any, source: str, event_id: str | None = None) -> int:
    with store.session() as session:
        query = select(func.count()).select_from(InboxEvent).filter_by(source=source)
        if event_id is not None:
            query = query.filter_by(event_id=event_id)
        return int(session.scalar(query) or 0)


@pytest.fixture
def vector_settings(settings: Settings) -> Settings:
    """Settings whose secrets and tolerance fit the published test vectors."""
    return settings.model_copy(
        update={
            "hubspot_client_secret": SecretStr("3b8f1c2e-4d5a-4e6f-9a7b-1c2d3e4f5a6b"),
            "zendesk_webhook_secret": SecretStr(
                "Yk3vQ0bX9mJp2LwR7tHs5cNd8fGa1eZu4iOy6qWx0kE="
            ),
            "webhook_public_base_url": "https://hooks.example.com",
            # The vectors were signed at fixed moments; accept their age here only.
            "webhook_signature_tolerance": 100 * YEAR,
            "zendesk_signature_tolerance": 100 * YEAR,
            "hubspot_app_id": "1160452",
        }
    )


@pytest.fixture
def vector_app(serve_app: Any, vector_settings: Settings) -> Any:
    return serve_app(vector_settings)


class TestStripeSignatures:
    def test_any_of_several_v1_signatures_is_enough(self, post_stripe) -> None:
        event = stripe_event("customer.created", stripe_customer())
        body = json.dumps(event).encode()
        good = sign(body, STRIPE_SECRET)
        stamp, v1 = good.split(",")
        header = f"{stamp},v1={'0' * 64},{v1}"

        assert post_stripe(body, signature=header).status_code == 200

    def test_every_secret_in_rotation_is_accepted(
        self, serve_app, settings, store
    ) -> None:
        rotating = settings.model_copy(
            update={"stripe_webhook_secret": SecretStr(f"whsec_old,{STRIPE_SECRET}")}
        )
        app = serve_app(rotating)
        for secret in ("whsec_old", STRIPE_SECRET):
            event = stripe_event("customer.created", stripe_customer())
            response = post_signed(app.url, event, secret)
            assert response.status_code == 200
            assert inbox_count(store, "stripe", event["id"]) == 1

    def test_a_signature_older_than_five_minutes_is_refused(
        self, post_stripe, store
    ) -> None:
        event = stripe_event("customer.created", stripe_customer())
        body = json.dumps(event).encode()
        stale = sign(body, STRIPE_SECRET, timestamp=int(time.time()) - 301)

        assert post_stripe(body, signature=stale).status_code == 401
        assert inbox_count(store, "stripe", event["id"]) == 0


class TestHubSpotAndZendeskVectors:
    @pytest.mark.parametrize(
        "vector",
        # Vectors signed for the receiver's public URL (the others name another).
        [
            v
            for v in VECTORS["hubspot"]
            if v["version"] == "v3"
            and v["uri"].startswith("https://hooks.example.com/webhooks/hubspot")
        ],
        ids=lambda v: v["name"],
    )
    def test_hubspot_v3_vectors_are_accepted_over_http(
        self, vector_app, vector: dict[str, Any]
    ) -> None:
        path_and_query = vector["uri"].removeprefix("https://hooks.example.com")
        response = requests.post(
            vector_app.url + path_and_query,
            data=vector_body(vector),
            headers={
                "Content-Type": "application/json",
                "X-HubSpot-Signature-v3": vector["computed_signature"],
                "X-HubSpot-Request-Timestamp": vector["timestamp"],
            },
            timeout=10,
        )

        assert response.status_code == 200, response.text
        body = json.loads(vector_body(vector))
        assert response.json()["accepted"] + response.json()["duplicates"] == len(body)

    def test_a_hubspot_batch_becomes_one_inbox_row_per_event(
        self, vector_app, store
    ) -> None:
        vector = next(
            v for v in VECTORS["hubspot"] if v["name"] == "v3_closedwon_batch_file"
        )
        events = json.loads(vector_body(vector))
        headers = {
            "Content-Type": "application/json",
            "X-HubSpot-Signature-v3": vector["computed_signature"],
            "X-HubSpot-Request-Timestamp": vector["timestamp"],
        }

        first = requests.post(
            f"{vector_app.url}/webhooks/hubspot",
            data=vector_body(vector),
            headers=headers,
            timeout=10,
        )
        again = requests.post(
            f"{vector_app.url}/webhooks/hubspot",
            data=vector_body(vector),
            headers=headers,
            timeout=10,
        )

        assert first.status_code == again.status_code == 200
        assert first.json()["accepted"] + first.json()["duplicates"] == len(events)
        assert again.json() == {"accepted": 0, "duplicates": len(events)}
        # Other suites store HubSpot events of other shapes in the same inbox.
        with store.session() as session:
            ids = {
                row.payload.get("eventId")
                for row in session.scalars(
                    select(InboxEvent).filter_by(source="hubspot")
                )
                if row.payload
            }
        assert {event["eventId"] for event in events} <= ids

    @pytest.mark.parametrize(
        "vector",
        # Vectors signed with the receiver's secret at an ISO-8601 moment.
        [
            v
            for v in VECTORS["zendesk"]
            if v["timestamp"].endswith("Z")
            and v["secret"] == "Yk3vQ0bX9mJp2LwR7tHs5cNd8fGa1eZu4iOy6qWx0kE="
        ],
        ids=lambda v: v["name"],
    )
    def test_zendesk_vectors_are_accepted_over_http(
        self, vector_app, store, vector: dict[str, Any]
    ) -> None:
        response = requests.post(
            f"{vector_app.url}/webhooks/zendesk",
            data=vector_body(vector),
            headers={
                "Content-Type": "application/json",
                "X-Zendesk-Webhook-Signature": vector["computed_signature"],
                "X-Zendesk-Webhook-Signature-Timestamp": vector["timestamp"],
            },
            timeout=10,
        )

        assert response.status_code == 200, response.text
        assert response.json()["accepted"] + response.json()["duplicates"] == 1

    @pytest.mark.parametrize(
        "example", VECTORS["negative_examples"], ids=lambda e: e["mistake"][:40]
    )
    def test_negative_examples_are_401_and_store_nothing(
        self, vector_app, store, example: dict[str, Any]
    ) -> None:
        before = inbox_count(store, "hubspot") + inbox_count(store, "zendesk")
        if example["mistake"].startswith("zendesk"):
            vector = next(
                v for v in VECTORS["zendesk"] if v["name"] == "org_created_file"
            )
            response = requests.post(
                f"{vector_app.url}/webhooks/zendesk",
                data=vector_body(vector),
                headers={
                    "Content-Type": "application/json",
                    "X-Zendesk-Webhook-Signature": example["signature"],
                    "X-Zendesk-Webhook-Signature-Timestamp": vector["timestamp"],
                },
                timeout=10,
            )
        else:
            name = (
                "v3_uri_needs_decoding"
                if "uri_needs_decoding" in example["mistake"]
                else "v3_generic_compact_body"
            )
            vector = next(v for v in VECTORS["hubspot"] if v["name"] == name)
            response = requests.post(
                vector_app.url
                + vector["uri"].removeprefix("https://hooks.example.com"),
                data=vector_body(vector),
                headers={
                    "Content-Type": "application/json",
                    "X-HubSpot-Signature-v3": example["signature"],
                    "X-HubSpot-Request-Timestamp": vector["timestamp"],
                },
                timeout=10,
            )

        assert response.status_code == 401
        assert inbox_count(store, "hubspot") + inbox_count(store, "zendesk") == before

    def test_an_echo_of_our_own_write_back_is_stored_as_skipped(
        self, serve_app, vector_settings, store
    ) -> None:
        secret = "echo-test-secret"
        settings = vector_settings.model_copy(
            update={
                "hubspot_client_secret": SecretStr(secret),
                "webhook_signature_tolerance": 300,
                "hubspot_app_id": str(
                    load_fixture("hubspot/webhook_echo_of_own_writeback.json")[0][
                        "sourceId"
                    ]
                ).removeprefix("userId:"),
            }
        )
        app = serve_app(settings)
        body = (FIXTURES / "hubspot/webhook_echo_of_own_writeback.json").read_bytes()
        stamp = str(int(time.time() * 1000))
        message = (
            b"POST"
            + b"https://hooks.example.com/webhooks/hubspot"
            + body
            + stamp.encode()
        )
        signature = base64.b64encode(
            hmac.new(secret.encode(), message, hashlib.sha256).digest()
        ).decode()

        response = requests.post(
            f"{app.url}/webhooks/hubspot",
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-HubSpot-Signature-v3": signature,
                "X-HubSpot-Request-Timestamp": stamp,
            },
            timeout=10,
        )

        assert response.status_code == 200
        with store.session() as session:
            rows = session.scalars(
                select(InboxEvent).where(InboxEvent.reason.like("echo%"))
            ).all()
        assert rows
        assert all(row.status == "skipped" for row in rows)


class TestAnswers:
    def test_malformed_json_is_400_and_stores_nothing(self, post_stripe, store) -> None:
        before = inbox_count(store, "stripe")

        response = post_stripe(b'{"id": "evt_1", "type": ')

        assert response.status_code == 400
        assert inbox_count(store, "stripe") == before

    def test_missing_required_fields_is_400(self, post_stripe) -> None:
        response = post_stripe({"id": unique("evt"), "type": "customer.created"})

        assert response.status_code == 400
        assert "created" in response.json()["error"]

    def test_not_json_is_415(self, receiver_url) -> None:
        response = requests.post(
            f"{receiver_url}/webhooks/stripe",
            data=b"id=1",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=10,
        )

        assert response.status_code == 415

    def test_a_body_over_the_limit_is_413(self, receiver_url) -> None:
        body = b'{"pad": "' + b"x" * (1024 * 1024 + 10) + b'"}'

        response = requests.post(
            f"{receiver_url}/webhooks/stripe",
            data=body,
            headers={"Content-Type": "application/json"},
            timeout=10,
        )

        assert response.status_code == 413

    def test_wrong_method_is_405(self, receiver_url) -> None:
        assert (
            requests.get(f"{receiver_url}/webhooks/stripe", timeout=10).status_code
            == 405
        )

    def test_unknown_source_is_404(self, receiver_url) -> None:
        response = requests.post(
            f"{receiver_url}/webhooks/paypal",
            json={},
            timeout=10,
        )

        assert response.status_code == 404

    def test_store_unreachable_is_503(self, serve_app, settings) -> None:
        broken = settings.model_copy(
            update={"database_url": "postgresql+psycopg://postgres@127.0.0.1:1/none"}
        )
        app = serve_app(broken)
        event = stripe_event("customer.created", stripe_customer())

        response = post_signed(app.url, event, STRIPE_SECRET, timeout=30)

        assert response.status_code == 503

    def test_readyz_checks_store_and_redis(
        self, receiver_url, serve_app, settings
    ) -> None:
        assert requests.get(f"{receiver_url}/readyz", timeout=10).status_code == 200

        no_redis = serve_app(
            settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
        )
        response = requests.get(f"{no_redis.url}/readyz", timeout=10)
        assert response.status_code == 503
        assert response.json()["checks"] == {"store": True, "redis": False}


@pytest.mark.usefixtures("celery_worker")
class TestConcurrentDeliveries:
    def test_fifty_concurrent_deliveries_give_one_row_and_one_processing(
        self, post_stripe, store, idle_sandbox, wait_for_status
    ) -> None:
        customer = stripe_customer()
        event = stripe_event("customer.created", customer)

        with ThreadPoolExecutor(max_workers=50) as pool:
            responses = list(pool.map(lambda _: post_stripe(event), range(50)))

        assert all(r.status_code == 200 for r in responses)
        assert sum(r.json()["accepted"] for r in responses) == 1
        assert sum(r.json()["duplicates"] for r in responses) == 49
        row = wait_for_status("stripe", event["id"])
        assert row.attempts == 1
        assert inbox_count(store, "stripe", event["id"]) == 1
        assert idle_sandbox.calls[("res.partner", "load")] == 1
