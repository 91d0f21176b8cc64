"""Odoo goes away mid-stream and answers serialization errors at random."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.conftest import wait_until
from tests.reliability.driver import Sender, assert_applied_once
from worker.store import InboxEvent


def errors_like(rig, pattern: str) -> int:  # type: ignore[no-untyped-def]
    with rig.store.session() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(InboxEvent)
                .where(InboxEvent.last_error.like(pattern))
            )
            or 0
        )


@pytest.mark.timeout(600)
def test_odoo_stopped_and_failing_at_random_loses_and_doubles_nothing(
    make_rig, rig_redis_url, stream
) -> None:
    rig = make_rig(rig_redis_url)
    # One object call in twenty fails as a concurrent update would in Odoo.
    rig.sandbox.serialization_failure_rate = 0.05
    url = rig.start_receiver()
    rig.start_worker()
    rig.start_worker()
    rig.start_beat()
    total = len(stream.events)
    sender = Sender(lambda: url, stream.events, concurrency=4)

    for step in (1, 3):
        rig.wait_settled(step * total // 5, f"{step}/5 applied")
        before = errors_like(rig, "odoo: unreachable%")
        rig.odoo.stop()
        try:
            # The outage lasts until workers have met it on a dozen events.
            wait_until(
                lambda before=before: (
                    errors_like(rig, "odoo: unreachable%") >= before + 12
                ),
                240,
                "workers to find Odoo unreachable",
            )
        finally:
            rig.odoo.start()

    accepted = sender.join()
    assert_applied_once(rig, stream, accepted, sender)
    assert errors_like(rig, "odoo: concurrent%") > 0
