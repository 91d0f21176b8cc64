"""Odoo stops for a minute in the middle of a stream: nothing is lost or doubled."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from tests.conftest import stripe_customer, stripe_event, wait_until
from worker.store import AuditEntry, InboxEvent

pytestmark = pytest.mark.usefixtures("celery_worker")
OUTAGE_SECONDS = 60


class TestOdooOutage:
    @pytest.mark.timeout(480)
    def test_a_minute_without_odoo_mid_stream_ends_with_every_event_done_once(
        self, odoo_server, idle_sandbox, post_stripe, store
    ) -> None:
        customers = [stripe_customer() for _ in range(500)]
        events = [stripe_event("customer.created", c) for c in customers]
        ids = [event["id"] for event in events]

        def statuses() -> dict[str, int]:
            with store.session() as session:
                return dict(
                    session.execute(
                        select(InboxEvent.status, func.count())
                        .where(InboxEvent.event_id.in_(ids))
                        .group_by(InboxEvent.status)
                    ).all()
                )

        def dead_reasons() -> list[str | None]:
            with store.session() as session:
                return list(
                    session.scalars(
                        select(InboxEvent.reason).where(
                            InboxEvent.event_id.in_(ids), InboxEvent.status == "dead"
                        )
                    )
                )

        for event in events[:150]:
            assert post_stripe(event).status_code == 200
        odoo_server.stop()
        stopped = time.monotonic()
        try:
            for event in events[150:]:
                assert post_stripe(event).status_code == 200
            # The outage lasts a minute, and the workers must have met it.
            wait_until(
                lambda: time.monotonic() - stopped >= OUTAGE_SECONDS,
                OUTAGE_SECONDS + 5,
                "the outage to last a minute",
            )
            with store.session() as session:
                failed_attempts = session.scalar(
                    select(func.count())
                    .select_from(InboxEvent)
                    .where(
                        InboxEvent.event_id.in_(ids),
                        InboxEvent.last_error.like("odoo: unreachable%"),
                    )
                )
            assert failed_attempts > 0
            assert dead_reasons() == []
        finally:
            odoo_server.start()

        try:
            wait_until(
                lambda: statuses() == {"done": 500},
                240,
                "all 500 events to be applied after Odoo returned",
            )
        except AssertionError:
            raise AssertionError(f"events by status: {statuses()}") from None
        refs = {c["id"] for c in customers}
        partners = idle_sandbox.records(
            "res.partner", domain=[("ref", "in", sorted(refs))]
        )
        assert len(partners) == 500
        assert {p["ref"] for p in partners} == refs
        with store.session() as session:
            creates = session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .join(InboxEvent, AuditEntry.inbox_id == InboxEvent.id)
                .where(InboxEvent.event_id.in_(ids), AuditEntry.operation == "create")
            )
        assert creates == 500
