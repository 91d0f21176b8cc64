"""The billing health rules, from Stripe snapshots to the values written out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import update

from tests.writeback.support import invoice, record, subscription
from worker.errors import PermanentError
from worker.mapping import BILLING_HEALTH_FIELDS, Mapping, parse
from worker.reconcile.retention import PRUNED
from worker.store import Account, InboxEvent, Store, utcnow
from worker.store.models import PaymentFailure
from worker.writeback.push import render
from worker.writeback.state import (
    Failure,
    compute,
    failure_reason,
    keep_snapshot,
    load_health,
    note_failure,
)

MAPPING = Mapping(products={"price_pro_monthly": "PRO-M"})


def health(
    subs: list[dict[str, Any]],
    invoices: list[dict[str, Any]] = (),  # type: ignore[assignment]
    *,
    dunning: bool = False,
    failure: Failure | None = None,
) -> dict[str, str | None]:
    result = compute(
        subs, list(invoices), dunning=dunning, failure=failure, mapping=MAPPING
    )
    assert result is not None
    return result.values()


class TestCompute:
    def test_an_active_monthly_subscription(self) -> None:
        values = health([subscription("sub_1", quantity=2)])
        assert values == {
            "billing_status": "active",
            "plan": "PRO-M",
            "mrr": "98.00",
            "currency": "USD",
            "next_renewal_date": "2026-02-01",
            "open_balance": "0.00",
            "last_payment_failed_at": None,
            "last_payment_failure_reason": None,
        }

    def test_a_yearly_price_is_twelve_months_and_a_nickname_names_the_plan(
        self,
    ) -> None:
        sub = subscription(
            "sub_1", price_id="price_y", nickname="Pro yearly", unit_amount=120000
        )
        sub["items"]["data"][0]["price"]["recurring"]["interval"] = "year"
        values = health([sub])
        assert (values["plan"], values["mrr"]) == ("Pro yearly", "100.00")

    def test_an_unmapped_price_is_named_by_its_product(self) -> None:
        values = health([subscription("sub_1", price_id="price_other")])
        assert values["plan"] == "prod_price_other"

    def test_the_subscription_needing_attention_speaks_for_the_account(self) -> None:
        subs = [
            subscription("sub_1", status="active"),
            subscription("sub_2", status="past_due", price_id="price_team"),
        ]
        values = health(subs)
        assert values["billing_status"] == "past_due"
        assert values["mrr"] == "98.00"
        assert values["plan"] == "prod_price_team, PRO-M"

    @pytest.mark.parametrize(
        ("stripe_status", "status"),
        [
            ("unpaid", "past_due"),
            ("incomplete", "past_due"),
            ("paused", "paused"),
            ("incomplete_expired", "cancelled"),
        ],
    )
    def test_stripe_statuses_map_to_five(self, stripe_status: str, status: str) -> None:
        assert health([subscription("s", status=stripe_status)])["billing_status"] == (
            status
        )

    def test_trials_and_pauses_bring_no_revenue(self) -> None:
        trial = health([subscription("sub_1", status="trialing")])
        paused = health([subscription("sub_1", status="paused")])
        assert (trial["mrr"], trial["next_renewal_date"]) == ("0.00", "2026-02-01")
        assert (paused["mrr"], paused["next_renewal_date"]) == ("0.00", None)

    def test_a_cancellation_at_period_end_has_no_renewal(self) -> None:
        values = health([subscription("sub_1", cancel_at_period_end=True)])
        assert (values["billing_status"], values["next_renewal_date"]) == (
            "active",
            None,
        )

    def test_a_churned_account_has_no_plan_and_no_revenue(self) -> None:
        values = health([subscription("sub_1", status="canceled")])
        assert values["billing_status"] == "cancelled"
        assert (values["plan"], values["mrr"], values["next_renewal_date"]) == (
            None,
            "0.00",
            None,
        )

    def test_a_failed_payment_makes_an_active_account_past_due(self) -> None:
        sub = subscription("sub_1")
        open_one = invoice("in_1", remaining=4900)
        assert health([sub], [open_one], dunning=True)["billing_status"] == "past_due"
        assert health([sub], [open_one])["billing_status"] == "active"
        churned = subscription("sub_1", status="canceled")
        assert health([churned], [open_one], dunning=True)["billing_status"] == (
            "cancelled"
        )

    def test_the_open_balance_sums_unpaid_invoices_in_the_billing_currency(
        self,
    ) -> None:
        invoices = [
            invoice("in_1", remaining=4900),
            invoice("in_2", remaining=1250),
            invoice("in_3", remaining=999, currency="eur"),
        ]
        assert health([subscription("sub_1")], invoices)["open_balance"] == "61.50"

    def test_zero_decimal_currencies_have_no_cents(self) -> None:
        sub = subscription("sub_1", currency="jpy", unit_amount=5000)
        values = health([sub], [invoice("in_1", remaining=5000, currency="jpy")])
        assert (values["mrr"], values["open_balance"], values["currency"]) == (
            "5000",
            "5000",
            "JPY",
        )

    def test_invoices_alone_give_a_balance_and_a_failure_past_due(self) -> None:
        values = health([], [invoice("in_1", remaining=700)], dunning=True)
        assert values["billing_status"] == "past_due"
        assert (values["open_balance"], values["mrr"]) == ("7.00", None)

    def test_the_last_failure_is_a_date_and_a_code(self) -> None:
        failure = Failure(datetime(2026, 1, 5, 23, 59, tzinfo=UTC), "card_declined")
        values = health([subscription("sub_1")], failure=failure)
        assert values["last_payment_failed_at"] == "2026-01-05"
        assert values["last_payment_failure_reason"] == "card_declined"

    def test_nothing_known_is_nothing_to_write(self) -> None:
        assert compute([], [], dunning=False, failure=None, mapping=MAPPING) is None

    def test_metered_usage_has_no_fixed_monthly_amount(self) -> None:
        seats = subscription("sub_1", quantity=2)
        usage = subscription("sub_2", price_id="price_api_calls", unit_amount=5)
        usage["items"]["data"][0]["price"]["recurring"]["usage_type"] = "metered"
        assert health([seats, usage])["mrr"] == "98.00"

    def test_mrr_is_rounded_to_the_currency(self) -> None:
        sub = subscription("sub_1", unit_amount=1000)
        sub["items"]["data"][0]["price"]["recurring"]["interval"] = "week"
        # 10.00 a week is 43.33 a month (52 weeks in 12 months).
        assert health([sub])["mrr"] == "43.33"


class TestFailureReason:
    def test_a_payment_intent_names_its_decline_code(self) -> None:
        intent = {
            "object": "payment_intent",
            "last_payment_error": {
                "code": "card_declined",
                "decline_code": "insufficient_funds",
                "message": "Your card has insufficient funds.",
            },
        }
        assert failure_reason(intent) == "insufficient_funds"

    def test_an_expanded_intent_on_an_invoice_is_read(self) -> None:
        obj = {
            "object": "invoice",
            "payment_intent": {"last_payment_error": {"code": "expired_card"}},
        }
        assert failure_reason(obj) == "expired_card"

    def test_free_text_is_never_taken_for_a_code(self) -> None:
        obj = {"last_payment_error": {"code": "Card of Jane Doe declined"}}
        assert failure_reason(obj) is None
        assert failure_reason({"object": "invoice", "payment_intent": "pi_1"}) is None


class TestMapping:
    def test_defaults_name_every_value(self) -> None:
        mapping = parse({})
        assert mapping.hubspot_properties == BILLING_HEALTH_FIELDS
        assert mapping.zendesk_fields == BILLING_HEALTH_FIELDS

    def test_sections_rename_and_leave_out_fields(self) -> None:
        mapping = parse(
            {
                "hubspot": {"properties": {"billing_status": "rs_status", "plan": ""}},
                "zendesk": {"fields": {"mrr": "monthly_revenue"}},
            }
        )
        runtime = SimpleNamespace(mapping=mapping)
        values = health([subscription("sub_1")])
        sent = render(runtime, "hubspot", values)  # type: ignore[arg-type]
        assert sent["rs_status"] == "active"
        assert "billing_status" not in sent and "billing_plan" not in sent
        zendesk = render(runtime, "zendesk", values)  # type: ignore[arg-type]
        assert zendesk["monthly_revenue"] == "49.00"
        assert zendesk["billing_plan"] == "PRO-M"

    def test_unknown_keys_are_refused_by_name(self) -> None:
        refused = r"\[zendesk\.fields\] has unknown keys: colour"
        with pytest.raises(PermanentError, match=refused):
            parse({"zendesk": {"fields": {"colour": "x"}}})


def new_account(store: Store) -> int:
    with store.session() as session:
        account = Account(created_at=utcnow())
        session.add(account)
        session.flush()
        return account.id


class TestFromTheStore:
    def test_the_latest_applied_snapshots_make_the_health(self, store: Store) -> None:
        account_id = new_account(store)
        record(
            store,
            account_id,
            subscription("sub_a1", status="trialing"),
            event_type="customer.subscription.created",
        )
        record(
            store,
            account_id,
            subscription("sub_a1", status="active", quantity=3),
            event_type="customer.subscription.updated",
        )
        record(store, account_id, invoice("in_a1"), event_type="invoice.finalized")
        record(
            store,
            account_id,
            invoice("in_a2", status="paid", remaining=0),
            event_type="invoice.paid",
        )
        with store.session() as session:
            result = load_health(session, account_id, MAPPING)
        assert result is not None
        assert result.billing_status == "active"
        assert result.mrr == Decimal("147")
        assert result.open_balance == Decimal("49")
        assert result.next_renewal_date == date(2026, 2, 1)

    def test_snapshots_outlive_pruned_payloads(self, store: Store) -> None:
        account_id = new_account(store)
        kept = subscription("sub_p1", quantity=2)
        kept_event = record(
            store, account_id, kept, event_type="customer.subscription.created"
        )
        with store.session() as session:
            keep_snapshot(session, account_id, kept_event, kept)
        bare = subscription("sub_p2", price_id="price_team")
        record(store, account_id, bare, event_type="customer.subscription.created")
        # The retention period passes: every raw payload of the account is blanked.
        with store.session() as session:
            session.execute(
                update(InboxEvent)
                .where(InboxEvent.account_id == account_id)
                .values(payload=PRUNED)
            )
            result = load_health(session, account_id, MAPPING)
        assert result is not None
        # sub_p2 had no snapshot: its status is all that is left of it.
        assert (result.plan, result.mrr) == ("PRO-M", Decimal("98"))
        assert result.billing_status == "active"

    def test_a_snapshot_behind_the_applied_event_gives_way_to_its_payload(
        self, store: Store
    ) -> None:
        account_id = new_account(store)
        first = subscription("sub_b1", status="trialing")
        first_event = record(
            store, account_id, first, event_type="customer.subscription.created"
        )
        with store.session() as session:
            keep_snapshot(session, account_id, first_event, first)
        # The next event was applied, but its hook never ran (a crash).
        later = subscription("sub_b1", status="active", quantity=5)
        record(store, account_id, later, event_type="customer.subscription.updated")
        with store.session() as session:
            # A stale event does not move the snapshot either.
            keep_snapshot(session, account_id, first_event, first)
            result = load_health(session, account_id, MAPPING)
        assert result is not None
        assert (result.billing_status, result.mrr) == ("active", Decimal("245"))

    def test_failures_keep_the_latest_whatever_the_order(self, store: Store) -> None:
        account_id = new_account(store)
        first = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
        later = first + timedelta(days=3)
        with store.session() as session:
            note_failure(
                session, account_id, at=later, reason=None, event_id="evt_invoice_2"
            )
        with store.session() as session:
            # An older failure delivered late changes nothing.
            note_failure(
                session, account_id, at=first, reason="expired_card", event_id="evt_1"
            )
        with store.session() as session:
            # The same attempt's PaymentIntent, a second earlier, brings the code.
            note_failure(
                session,
                account_id,
                at=later - timedelta(seconds=1),
                reason="card_declined",
                event_id="evt_intent_2",
            )
        with store.session() as session:
            row = session.get(PaymentFailure, account_id)
            assert row is not None
            assert (row.failed_at, row.reason) == (later, "card_declined")
