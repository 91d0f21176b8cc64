"""The receiver under bad input and a Redis outage: no 5xx, nothing lost."""

from __future__ import annotations

import base64
import json
import string

import redis
import requests
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy import delete, func, select

from tests.conftest import (
    STRIPE_SECRET,
    WorkerProcess,
    sibling_redis,
    stripe_customer,
    stripe_event,
    wait_until,
)
from worker.celery_app import make_producer
from worker.embedded import EmbeddedRedis
from worker.inbox import sweep
from worker.store import InboxEvent, InboxStatus
from worker.stripe_signing import post_signed

ENDPOINTS = ["stripe", "hubspot", "zendesk", "nowhere"]
SIGNATURE_HEADERS = [
    "Stripe-Signature",
    "X-HubSpot-Signature",
    "X-HubSpot-Signature-v3",
    "X-HubSpot-Signature-Version",
    "X-HubSpot-Request-Timestamp",
    "X-Zendesk-Webhook-Signature",
    "X-Zendesk-Webhook-Signature-Timestamp",
]
header_text = st.text(
    alphabet=string.ascii_letters + string.digits + "=,.+/:-_", max_size=120
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
bodies = st.one_of(
    st.binary(max_size=400),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.builds(
        lambda event_id, kind: json.dumps(
            {"id": event_id, "type": kind, "created": 1, "data": {"object": {}}}
        ).encode(),
        st.text(max_size=12),
        st.text(max_size=12),
    ),
)


def inbox_total(store) -> int:  # type: ignore[no-untyped-def]
    with store.session() as session:
        return int(session.scalar(select(func.count()).select_from(InboxEvent)) or 0)


class TestRandomInput:
    def test_random_bodies_headers_and_signatures_never_5xx_nor_stored(
        self, serve_app, settings, store
    ) -> None:
        app = serve_app(
            settings.model_copy(
                update={
                    "hubspot_client_secret": SecretStr("fuzz-hubspot"),
                    "zendesk_webhook_secret": SecretStr("fuzz-zendesk"),
                    "hubspot_signature_versions": "v3,v2,v1",
                }
            )
        )
        http = requests.Session()

        @hypothesis_settings(
            max_examples=150,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
        )
        @given(
            endpoint=st.sampled_from(ENDPOINTS),
            method=st.sampled_from(["POST", "POST", "POST", "GET", "PUT"]),
            content_type=st.sampled_from(
                ["application/json", "text/plain", "application/json; charset=utf-8"]
            ),
            body=bodies,
            headers=st.dictionaries(
                st.sampled_from(SIGNATURE_HEADERS), header_text, max_size=4
            ),
        )
        def check(endpoint, method, content_type, body, headers) -> None:  # type: ignore[no-untyped-def]
            before = inbox_total(store)
            response = http.request(
                method,
                f"{app.url}/webhooks/{endpoint}",
                data=body,
                headers={"Content-Type": content_type, **headers},
                timeout=10,
            )
            assert response.status_code < 500, response.text
            assert inbox_total(store) == before

        check()


class TestRedisOutage:
    def test_events_accepted_while_redis_is_down_are_swept_and_processed(
        self, serve_app, settings, service_env, store, sandbox, tmp_path
    ) -> None:
        broker = EmbeddedRedis().start()
        app = serve_app(settings.model_copy(update={"redis_url": broker.url}))
        events = [stripe_event("customer.created", stripe_customer()) for _ in range(5)]
        broker.stop()
        worker = None
        try:
            for event in events:
                response = post_signed(app.url, event, STRIPE_SECRET, timeout=30)
                assert response.status_code == 200
            with store.session() as session:
                statuses = session.scalars(
                    select(InboxEvent.status).where(
                        InboxEvent.event_id.in_([e["id"] for e in events])
                    )
                ).all()
            assert statuses == ["received"] * 5

            broker = EmbeddedRedis(port=broker.port).start()
            worker = WorkerProcess(
                dict(service_env, REDIS_URL=broker.url),
                tmp_path / "worker.log",
                [
                    "-Q",
                    "realtime,default",
                    "-P",
                    "solo",
                    "-l",
                    "INFO",
                    "--without-gossip",
                    "--without-mingle",
                    "-n",
                    "outage@%h",
                ],
            )
            worker.wait_ready()

            sent = sweep(
                store, make_producer(broker.url), received_before=0, stuck_after=3600
            )

            assert sent >= 5

            def all_done() -> bool:
                with store.session() as session:
                    rows = session.scalars(
                        select(InboxEvent.status).where(
                            InboxEvent.event_id.in_([e["id"] for e in events])
                        )
                    ).all()
                return rows == ["done"] * 5

            wait_until(all_done, 60, "the swept events to be processed")
            for event in events:
                ref = event["data"]["object"]["id"]
                assert (
                    len(sandbox.records("res.partner", domain=[("ref", "=", ref)])) == 1
                )
        finally:
            if worker is not None:
                worker.stop()
            broker.stop()


def queued_inbox_ids(client: redis.Redis, queue: str) -> list[int]:
    """The inbox ids of the process tasks waiting in one queue (Celery over kombu)."""
    ids = []
    for raw in client.lrange(queue, 0, -1):
        message = json.loads(raw)
        args, _, _ = json.loads(base64.b64decode(message["body"]))
        ids.append(int(args[0]))
    return ids


class TestBursts:
    def test_an_account_past_its_burst_limit_goes_to_bulk_and_others_stay_realtime(
        self, serve_app, settings, store, redis_url
    ) -> None:
        # A Redis database no worker consumes, so the queues can be read.
        broker_url = sibling_redis(redis_url, 9)
        broker = redis.Redis.from_url(broker_url)
        broker.flushdb()
        app = serve_app(
            settings.model_copy(
                update={"redis_url": broker_url, "burst_limit": 3, "burst_window": 60}
            )
        )
        hot = [
            stripe_event(
                "customer.updated", stripe_customer("cus_burst_hot", name=f"v{n}")
            )
            for n in range(6)
        ]
        calm = stripe_event("customer.updated", stripe_customer("cus_burst_calm"))
        try:
            for event in [*hot[:4], calm, *hot[4:]]:
                response = post_signed(app.url, event, STRIPE_SECRET, timeout=30)
                assert response.status_code == 200
            with store.session() as session:
                rows = dict(
                    session.execute(
                        select(InboxEvent.event_id, InboxEvent.id).where(
                            InboxEvent.event_id.in_([e["id"] for e in [*hot, calm]])
                        )
                    ).all()
                )
                statuses = set(
                    session.scalars(
                        select(InboxEvent.status).where(
                            InboxEvent.id.in_(list(rows.values()))
                        )
                    )
                )
            # Stored as queued in the one transaction: no second write per delivery.
            assert statuses == {InboxStatus.QUEUED}
            bulk = queued_inbox_ids(broker, "bulk")
            assert sorted(bulk) == sorted(rows[e["id"]] for e in hot[3:])
            realtime = queued_inbox_ids(broker, "realtime")
            assert sorted(realtime) == sorted(
                [rows[e["id"]] for e in hot[:3]] + [rows[calm["id"]]]
            )
        finally:
            broker.flushdb()
            # No worker will apply them: out of the shared inbox.
            with store.session() as session:
                session.execute(
                    delete(InboxEvent).where(
                        InboxEvent.event_id.in_([e["id"] for e in [*hot, calm]])
                    )
                )
