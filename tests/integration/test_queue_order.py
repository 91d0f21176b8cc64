"""A worker takes its queues in the order ``-Q`` lists them, not in turn.

Tasks wait in Redis before a worker starts: five on ``realtime`` and twenty on
``bulk``. With kombu's default round robin the worker would alternate between
the two queues; with the priority order revsync configures, every realtime task
is taken before the first bulk one.
"""

from __future__ import annotations

import re
from pathlib import Path

import redis

from tests.conftest import WorkerProcess, sibling_redis, wait_until
from worker.celery_app import make_producer

PROCESS_EVENT = "revsync.inbox.process_event"
RECEIVED = re.compile(r"Task revsync\.inbox\.process_event\[(\w+-\d+)\] received")


def test_realtime_tasks_are_taken_before_bulk_ones(
    service_env: dict[str, str], redis_url: str, tmp_path: Path
) -> None:
    # A Redis database of its own: no other worker takes these tasks.
    broker_url = sibling_redis(redis_url, 7)
    broker = redis.Redis.from_url(broker_url)
    broker.flushdb()
    producer = make_producer(broker_url)
    # Inbox ids no row has: each task finds nothing to do and ends at once.
    for number in range(20):
        producer.send_task(
            PROCESS_EVENT, args=[-1], queue="bulk", task_id=f"bulk-{number}"
        )
    for number in range(5):
        producer.send_task(
            PROCESS_EVENT, args=[-1], queue="realtime", task_id=f"realtime-{number}"
        )

    worker = WorkerProcess(
        {**service_env, "REDIS_URL": broker_url},
        tmp_path / "worker.log",
        [
            *("-Q", "realtime,default,bulk", "-c", "1", "-l", "INFO"),
            *("--without-gossip", "--without-mingle", "-n", "queue-order@%h"),
        ],
    )
    try:
        worker.wait_ready()
        wait_until(
            lambda: len(RECEIVED.findall(worker.log())) == 25,
            60,
            "the worker to take all 25 tasks",
        )
    finally:
        worker.stop()
        broker.flushdb()

    taken = RECEIVED.findall(worker.log())
    assert taken[:5] == [f"realtime-{n}" for n in range(5)], taken
    assert sorted(taken[5:]) == sorted(f"bulk-{n}" for n in range(20))
