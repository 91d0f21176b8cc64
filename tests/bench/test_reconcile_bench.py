"""The reconciliation benchmark runs end to end at a tiny size.

Only that it works and prints every figure it promises is checked, never how fast:
the speed and memory targets live in its own output as PASS or MISS.
"""

from __future__ import annotations

import re

from tests.bench.test_bench_smoke import NUMBER, figure, run_bench
from tests.conftest import sibling_redis

# A Redis database no other suite's worker uses; the benchmark empties it.
REDIS_OFFSET = 8


class TestReconcileBench:
    def test_agreeing_books_give_no_mismatch_and_every_figure_is_printed(
        self, pg_url: str, redis_url: str
    ) -> None:
        output = run_bench(
            "bench.reconcile",
            sibling_redis(redis_url, REDIS_OFFSET),
            "--invoices",
            "2000",
            "--naive-sample",
            "300",
        )

        # Every other invoice is paid: 2,000 invoices and 1,000 payments.
        assert (
            "compared             2,000 invoices, 3,000 records "
            "(invoices and payments), 0 mismatches" in output
        )
        assert figure(rf"wall time +({NUMBER}) s", output) > 0
        assert re.search(r"target under 60 s per 100,000\)  (PASS|MISS)", output)
        # The login and one search_read each for the invoices and the payments
        # (the default batch of 2,500 holds them): the budget does not depend on
        # the machine.
        assert figure(r"Odoo calls +([0-9]+) \(", output) == 3
        assert re.search(r"at most 1 per 1,000 records\)  PASS", output)
        assert figure(rf"peak memory +({NUMBER}) MB peak RSS", output) > 0
        assert re.search(r"target under 500 MB\)  (PASS|MISS)", output)

        # The naive comparison reads Odoo once per record (the 300 invoices
        # Stripe lists first, and the payments of those paid), and logs in once.
        records = int(figure(r"measured on 300 invoices \(([0-9]+) records\)", output))
        assert 300 < records < 600
        assert re.search(
            rf"measured +{NUMBER} s, {records + 1} Odoo calls, 0 mismatches", output
        ), output
        assert "EXTRAPOLATED to 2,000 invoices from 300:" in output
        assert figure(rf"naive / batched: wall time ({NUMBER})x", output) > 0
        assert "ERROR" not in output
