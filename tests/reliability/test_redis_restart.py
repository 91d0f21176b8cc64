"""Redis stopped and restarted mid-stream, twice: the receiver keeps accepting,
queued messages and locks are lost with it, and the sweeper re-queues the rest."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from tests.conftest import wait_until
from tests.reliability.driver import Sender, assert_applied_once
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


def restart(servers: list[EmbeddedRedis]) -> None:
    servers.append(EmbeddedRedis(port=servers[-1].port).start())


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
    third = total // 3
    first, second, last = (
        stream.events[:third],
        stream.events[third : 2 * third],
        stream.events[2 * third :],
    )
    accepted = Sender(lambda: url, first).join()

    # Redis goes down while the first third is being applied; the second third
    # arrives meanwhile and is accepted into the inbox, queued nowhere.
    rig.wait_settled(third // 3, "a ninth applied")
    own_redis[-1].stop()
    sender = Sender(lambda: url, second)
    accepted |= sender.join()
    assert sender.gave_up == []
    with rig.store.session() as session:
        statuses = set(
            session.scalars(
                select(InboxEvent.status).where(
                    InboxEvent.event_id.in_([event["id"] for event in second])
                )
            )
        )
    assert statuses == {InboxStatus.RECEIVED}
    restart(own_redis)

    # Again with the last third in flight, and tasks running on the workers.
    sender = Sender(lambda: url, last)
    rig.wait_settled(
        2 * third, "two thirds applied with a task in flight", in_flight=True
    )
    own_redis[-1].stop()
    wait_until(
        lambda: rig.statuses().get(InboxStatus.RECEIVED, 0) > 0,
        240,
        "an event accepted while Redis is down",
    )
    restart(own_redis)
    accepted |= sender.join()

    assert_applied_once(rig, stream, accepted, sender)
