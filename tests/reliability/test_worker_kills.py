"""Workers SIGKILLed in the middle of tasks, again and again, then restarted."""

from __future__ import annotations

import pytest

from tests.reliability.driver import (
    Sender,
    assert_applied_once,
    kill_children,
    kill_parent,
)


@pytest.mark.timeout(600)
def test_killed_workers_lose_and_double_nothing(
    make_rig, rig_redis_url, stream
) -> None:
    rig = make_rig(rig_redis_url)
    url = rig.start_receiver()
    first = rig.start_worker()
    second = rig.start_worker()
    rig.start_beat()
    total = len(stream.events)
    sender = Sender(lambda: url, stream.events, concurrency=4)

    # Kill the prefork children of one worker while they apply events, three
    # times; the parent starts new children and the tasks are delivered again.
    kills = 0
    for step in range(1, 4):
        rig.wait_settled(
            step * total // 8,
            f"{step}/8 of the stream applied with a task in flight",
            in_flight=True,
        )
        kills += kill_children(first)
    assert kills >= 3

    # Then the whole of a worker, parent and children, twice, restarting it.
    victim = second
    for step in (4, 5):
        rig.wait_settled(
            step * total // 8,
            f"{step}/8 of the stream applied with a task in flight",
            in_flight=True,
        )
        kill_parent(victim)
        victim = rig.start_worker()

    accepted = sender.join()
    assert_applied_once(rig, stream, accepted, sender)
