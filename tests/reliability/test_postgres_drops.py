"""The receiver's and the workers' PostgreSQL connections dropped mid-stream."""

from __future__ import annotations

import pytest

from tests.reliability.driver import Sender, assert_applied_once

DROPS = 5


@pytest.mark.timeout(600)
def test_dropped_database_connections_lose_and_double_nothing(
    make_rig, rig_redis_url, stream
) -> None:
    rig = make_rig(rig_redis_url)
    url = rig.start_receiver()
    rig.start_worker()
    rig.start_worker()
    rig.start_beat()
    total = len(stream.events)
    sender = Sender(lambda: url, stream.events, concurrency=4)

    dropped = 0
    for step in range(1, DROPS + 1):
        rig.wait_settled(
            step * total // (DROPS + 2),
            f"{step}/{DROPS + 2} of the stream applied with a task in flight",
            in_flight=True,
        )
        dropped += rig.terminate_connections()
    # Receiver and both workers held connections each time.
    assert dropped >= DROPS * 3

    accepted = sender.join()
    assert_applied_once(rig, stream, accepted, sender)
