"""Every event delivered five times at once: stored once, applied once."""

from __future__ import annotations

import random

import pytest

from tests.reliability.driver import Sender, assert_applied_once

COPIES = 5


@pytest.mark.timeout(600)
def test_every_event_five_times_concurrently_is_applied_once(
    make_rig, rig_redis_url, stream
) -> None:
    rig = make_rig(rig_redis_url)
    url = rig.start_receiver()
    rig.start_worker()
    rig.start_worker()
    rig.start_beat()

    # The copies of an event sit next to each other, so that they are in flight
    # together on the sender's threads and race each other through the receiver.
    storm = [event for event in stream.events for _ in range(COPIES)]
    shuffled = random.Random(7)
    for start in range(0, len(storm), 40):
        window = storm[start : start + 40]
        shuffled.shuffle(window)
        storm[start : start + 40] = window
    sender = Sender(lambda: url, storm, concurrency=10)
    accepted = sender.join()

    assert sender.answered == len(storm)
    assert_applied_once(rig, stream, accepted, sender)
