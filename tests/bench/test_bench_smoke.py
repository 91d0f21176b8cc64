"""The benchmarks run end to end at a tiny size and print every figure they promise.

Only that they work is checked here, never how fast: speed targets live in the
benchmarks' own output, as ratios against a baseline measured in the same run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.conftest import ROOT, sibling_redis

NUMBER = r"[0-9]+(?:\.[0-9]+)?"


def run_bench(module: str, redis_url: str, *args: str) -> str:
    completed = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env={**os.environ, "REDIS_URL": redis_url},
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-4000:]
    return completed.stdout


def figure(pattern: str, output: str) -> float:
    found = re.search(pattern, output)
    assert found, f"no match for {pattern!r} in:\n{output}"
    return float(found.group(1))


class TestIngestBench:
    def test_prints_throughput_latency_and_verdicts(
        self, pg_url: str, redis_url: str
    ) -> None:
        output = run_bench(
            "bench.ingest",
            sibling_redis(redis_url, 3),
            "--duration",
            "1",
            "--warmup",
            "0.5",
            "--rate-duration",
            "1",
            "--connections",
            "8",
            "--workers",
            "2",
        )

        bare = figure(rf"bare endpoint.*?({NUMBER}) req/s", output)
        receiver = figure(rf"receiver, as fast as it can\s+({NUMBER}) req/s", output)
        assert bare > 0 and receiver > 0
        assert figure(rf"receiver at 200 req/s\s+({NUMBER}) req/s", output) > 0
        assert re.search(rf"p50 +{NUMBER} ms +p99 +{NUMBER} ms", output)
        ratio = figure(rf"throughput / bare endpoint: ({NUMBER})", output)
        assert abs(ratio - receiver / bare) < 0.02
        assert re.search(r"target at least 0\.50\)  (PASS|MISS)", output)
        assert re.search(r"target under 50 ms\)  (PASS|MISS)", output)


class TestPipelineBench:
    def test_applies_every_event_and_prints_the_figures(
        self, pg_url: str, redis_url: str
    ) -> None:
        output = run_bench(
            "bench.pipeline",
            sibling_redis(redis_url, 3),
            "--events",
            "100",
            "--hot-events",
            "20",
            "--others",
            "10",
            "--receiver-workers",
            "2",
        )

        assert figure(rf"end to end: ({NUMBER}) events/s", output) > 0
        assert re.search(
            rf"received -> done\): p50 +{NUMBER} s +p99 +{NUMBER} s", output
        )
        statuses = dict(
            (status, int(count))
            for status, count in re.findall(
                r"(\w+) (\d+)", output.split("statuses: ", 1)[1].splitlines()[0]
            )
        )
        assert set(statuses) <= {"done", "skipped"}
        assert sum(statuses.values()) == 100 and statuses["done"] > 50
        assert figure(rf"Odoo calls per event: ({NUMBER})", output) > 0
        assert re.search(r"budget for this mix [0-9.]+\)  (PASS|MISS)", output)
        assert re.search(
            r"worker peak memory \(RSS\): main \d+ MB, child \d+ MB", output
        )
        assert re.search(r"backlog does not slow other accounts: .*(PASS|MISS)", output)
        assert re.search(r"nor does its burst .*: p99 [0-9.]+ s  (PASS|MISS)", output)
        # warm-up, main, alone, queued backlog, behind it, burst, beside it
        assert "all 171 events applied (done or skipped)" in output
