"""Redis stopped and restarted mid-stream, twice: the receiver keeps accepting,
queued messages and locks are lost with it, and the sweeper re-queues the rest."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from tests.reliability.driver import Rig, Sender, assert_applied_once
from worker.embedded import EmbeddedRedis
from worker.store import InboxEvent, InboxStatus


@pytest.fixture
def own_redis() -> Iterator[list[EmbeddedRedis]]:
    """A redis-server of this scenario's own (the suite's is shared), persisting
    nothing: a restart loses every queued message and every lock."""
    servers = [EmbeddedRedis().start()]
    yield servers
    for server in servers:
        server.stop()


def accept_while_down(rig: Rig, url: str, events: list[dict[str, Any]]) -> set[str]:
    """Deliver ``events`` while Redis is down: each is accepted and stays in the
    inbox as received, queued nowhere."""
    sender = Sender(lambda: url, events)
    accepted = sender.join()
    assert sender.gave_up == []
    with rig.store.session() as session:
        statuses = set(
            session.scalars(
                select(InboxEvent.status).where(
                    InboxEvent.event_id.in_([event["id"] for event in events])
                )
            )
        )
    assert statuses == {InboxStatus.RECEIVED}
    return accepted


@pytest.mark.timeout(600)
def test_events_accepted_while_redis_restarts_are_all_applied_once(
    make_rig, own_redis, stream
) -> None:
    rig = make_rig(own_redis[0].url)
    url = rig.start_receiver()
    rig.start_worker()
    rig.start_worker()
    rig.start_beat()
    total = len(stream.events)
    quarter = total // 4
    parts = [stream.events[i * quarter : (i + 1) * quarter] for i in range(3)]
    parts.append(stream.events[3 * quarter :])

    # Down while the first quarter is being applied; the second arrives meanwhile.
    accepted = Sender(lambda: url, parts[0]).join()
    rig.wait_settled(quarter // 3, "a twelfth applied")
    port = own_redis[-1].port
    own_redis[-1].stop()
    accepted |= accept_while_down(rig, url, parts[1])
    own_redis.append(EmbeddedRedis(port=port).start())

    # Again with the third quarter in flight and tasks running on the workers;
    # the last quarter arrives while Redis is down.
    sender = Sender(lambda: url, parts[2])
    rig.wait_settled(
        2 * quarter, "half the stream applied with a task in flight", in_flight=True
    )
    own_redis[-1].stop()
    accepted |= sender.join()
    accepted |= accept_while_down(rig, url, parts[3])
    own_redis.append(EmbeddedRedis(port=port).start())

    assert_applied_once(rig, stream, accepted, sender)
