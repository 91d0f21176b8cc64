"""The Odoo calls each Stripe event type costs stay within the declared budget."""

from __future__ import annotations

from bench.rpc_budget import BUDGET, DEFAULT_BUDGET, measure
from tests.conftest import sibling_redis


class TestRpcBudget:
    def test_every_event_type_stays_within_its_budget(self, redis_url: str) -> None:
        costs = measure(sibling_redis(redis_url, 2))

        over = {
            event_type: max(calls)
            for event_type, calls in costs.items()
            if max(calls) > BUDGET.get(event_type, DEFAULT_BUDGET)[0]
        }
        assert over == {}
        # The stories cover the lifecycle: these types must have been measured.
        assert {"invoice.finalized", "invoice_payment.paid", "refund.created"} <= set(
            costs
        )
