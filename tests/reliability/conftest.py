"""Fixtures of the reliability suite: the stream and a deployment per scenario."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import sibling_redis
from tests.reliability.driver import Rig
from tests.reliability.stream import Stream, build_stream

# Sixteen customers make a stream of some three hundred and fifty events.
CUSTOMERS = 16
SEED = 20261203


@pytest.fixture(scope="session")
def stream(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Stream:
    """The stream every scenario sends, with the books it leaves applied in order
    (computed once; a database no worker listens to takes the locks)."""
    return build_stream(
        CUSTOMERS, SEED, tmp_path_factory.mktemp("ordered"), sibling_redis(redis_url, 5)
    )


@pytest.fixture
def rig_redis_url(redis_url: str) -> str:
    """A database of the suite's Redis that only this scenario's processes use."""
    return sibling_redis(redis_url, 4)


@pytest.fixture
def make_rig(
    tmp_path: Path, mapping_path: str, pg_url: str
) -> Iterator[Callable[[str], Rig]]:
    """Build a Rig on a given Redis URL; every rig is closed after the test."""
    rigs: list[Rig] = []

    def make(redis_url: str) -> Rig:
        rigs.append(Rig(tmp_path, redis_url, mapping_path))
        return rigs[-1]

    yield make
    for rig in rigs:
        rig.close()
