"""The story builder emits Stripe events true to Stripe's shapes and to itself."""

from __future__ import annotations

import itertools
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from worker.scenarios import OMITTED_KEYS, Shape, StripeStory, TaxRate

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "stripe"
LEGACY_EVENTS = FIXTURES / "events_legacy_2020-03-02"
SHAPES: tuple[Shape, ...] = ("basil", "legacy")
START = 1_767_225_600
PRORATIONS = [(-2450, "Unused time on Pro"), (4900, "Remaining time on Pro x2")]

# Keys of Stripe's examples the module says it leaves out, restated here so that a
# new omission has to be made on purpose in both places.
DOCUMENTED_OMISSIONS = {
    ("basil", "invoice"): frozenset({"subscription"}),
    ("basil", "charge"): frozenset({"refunds"}),
}
BASIL_TYPES = [
    "customer",
    "subscription",
    "invoice",
    "invoice_payment",
    "charge",
    "payment_intent",
    "refund",
    "dispute",
    "credit_note",
]
# The legacy event payload whose object is the reference for each object type.
LEGACY_REFERENCE = {
    "customer": "customer_updated",
    "subscription": "subscription_created",
    "invoice": "invoice_paid",
    "charge": "charge_succeeded",
    "payment_intent": "payment_intent_succeeded",
    "refund": "refund_created",
    "dispute": "charge_dispute_created",
    "credit_note": "credit_note_created",
}

Obj = dict[str, Any]


def load(path: Path) -> Any:
    return json.loads(path.read_text())


def full_story(shape: Shape, currency: str = "usd") -> StripeStory:
    """A lifecycle that makes the story emit every object type it knows."""
    story = StripeStory("cus_T1", shape=shape, currency=currency, start=START)
    story.customer_created(
        name="Acme GmbH",
        email="billing@acme.example",
        country="DE",
        tax_id="DE123456789",
    )
    story.customer_updated(name="Acme AG")
    sub = story.subscribe("price_pro_monthly", "prod_pro", 4900, trial=True)
    story.trial_will_end(sub)
    story.activate(sub)
    first = story.invoice(sub, tax_rate=19)
    story.finalize(first)
    story.fail_payment(first)
    first_payment = story.pay(first)
    story.recover(sub)
    story.change_plan(sub, quantity=2, unit_amount=5900)
    second = story.invoice(sub, proration_lines=PRORATIONS)
    story.finalize(second)
    second_payment = story.pay(second)
    refund = story.refund(first_payment, 1000)
    story.credit_note(first, 1000, refund_id=refund)
    story.dispute(second_payment, "lost")
    third = story.invoice(sub)
    story.finalize(third)
    story.void(third)
    story.cancel(sub)
    return story


def paid_story(shape: Shape, currency: str = "usd") -> tuple[StripeStory, str, str]:
    """A customer, an active subscription and one finalized invoice, unpaid."""
    story = StripeStory("cus_T1", shape=shape, currency=currency, start=START)
    story.customer_created(name="Acme", email="billing@acme.example", country="DE")
    sub = story.subscribe("price_pro_monthly", "prod_pro", 4900)
    invoice = story.invoice(sub)
    story.finalize(invoice)
    return story, sub, invoice


def objects(story: StripeStory, object_type: str) -> list[Obj]:
    return [
        event["data"]["object"]
        for event in story.events
        if event["data"]["object"]["object"] == object_type
    ]


def event_objects(story: StripeStory, event_type: str) -> list[Obj]:
    return [
        event["data"]["object"] for event in story.events if event["type"] == event_type
    ]


def last_object(story: StripeStory, event_type: str) -> Obj:
    return event_objects(story, event_type)[-1]


class TestFixtureKeys:
    def test_omitted_keys_are_exactly_the_documented_ones(self) -> None:
        assert OMITTED_KEYS == DOCUMENTED_OMISSIONS

    @pytest.mark.parametrize("object_type", BASIL_TYPES)
    def test_basil_object_has_every_key_of_stripes_example(
        self, object_type: str
    ) -> None:
        reference = set(load(FIXTURES / f"{object_type}.json"))
        required = reference - DOCUMENTED_OMISSIONS.get(("basil", object_type), set())
        emitted = objects(full_story("basil"), object_type)

        assert emitted, f"the story emitted no {object_type}"
        for obj in emitted:
            assert required - set(obj) == set(), obj["id"]

    @pytest.mark.parametrize("object_type", sorted(LEGACY_REFERENCE))
    def test_legacy_object_has_every_key_of_the_legacy_payload(
        self, object_type: str
    ) -> None:
        event = load(LEGACY_EVENTS / f"{LEGACY_REFERENCE[object_type]}.json")
        required = set(event["data"]["object"])
        emitted = objects(full_story("legacy"), object_type)

        assert emitted, f"the story emitted no {object_type}"
        for obj in emitted:
            assert required - set(obj) == set(), obj["id"]

    def test_basil_invoice_lines_have_every_key_of_stripes_example_line(
        self,
    ) -> None:
        reference = set(load(FIXTURES / "invoice.json")["lines"]["data"][0])
        invoice = last_object(full_story("basil"), "invoice.created")

        for line in invoice["lines"]["data"]:
            assert reference - set(line) == set()

    def test_legacy_invoice_lines_have_every_key_of_the_legacy_line(self) -> None:
        event = load(LEGACY_EVENTS / "invoice_paid.json")
        reference = set(event["data"]["object"]["lines"]["data"][0])
        invoice = last_object(full_story("legacy"), "invoice.created")

        for line in invoice["lines"]["data"]:
            assert reference - set(line) == set()

    def test_basil_subscription_items_have_every_key_of_stripes_example(
        self,
    ) -> None:
        reference = set(load(FIXTURES / "subscription_item.json"))
        subscription = last_object(full_story("basil"), "customer.subscription.created")

        assert reference - set(subscription["items"]["data"][0]) == set()


class TestInvoiceShape:
    def test_basil_invoice_has_parent_and_no_legacy_payment_keys(self) -> None:
        story = full_story("basil")
        sub = next(iter(story.expected["subscriptions"]))

        for invoice in objects(story, "invoice"):
            assert invoice.keys().isdisjoint(
                {"subscription", "charge", "payment_intent", "paid"}
            )
            assert invoice["parent"]["type"] == "subscription_details"
            assert invoice["parent"]["subscription_details"]["subscription"] == sub

    def test_legacy_invoice_has_subscription_and_charge_and_no_parent(self) -> None:
        story = full_story("legacy")
        sub = next(iter(story.expected["subscriptions"]))

        for invoice in objects(story, "invoice"):
            assert "parent" not in invoice
            assert invoice["subscription"] == sub
            assert {"charge", "payment_intent", "paid"} <= invoice.keys()

    def test_basil_line_names_price_and_item_under_pricing_and_parent(self) -> None:
        story, sub, _ = paid_story("basil")
        line = last_object(story, "invoice.finalized")["lines"]["data"][0]
        item_id = last_object(story, "customer.subscription.created")["items"]["data"][
            0
        ]["id"]

        assert line["pricing"]["price_details"] == {
            "price": "price_pro_monthly",
            "product": "prod_pro",
        }
        assert line["pricing"]["unit_amount_decimal"] == "4900"
        assert line["parent"]["type"] == "subscription_item_details"
        details = line["parent"]["subscription_item_details"]
        assert (details["subscription"], details["subscription_item"]) == (
            sub,
            item_id,
        )
        assert details["proration"] is False
        assert line.keys().isdisjoint({"price", "plan", "proration", "type"})

    def test_legacy_line_carries_price_plan_and_proration(self) -> None:
        story, sub, _ = paid_story("legacy")
        line = last_object(story, "invoice.finalized")["lines"]["data"][0]

        assert line["price"]["id"] == line["plan"]["id"] == "price_pro_monthly"
        assert line["price"]["unit_amount"] == 4900
        assert (line["proration"], line["type"], line["subscription"]) == (
            False,
            "subscription",
            sub,
        )
        assert "parent" not in line and "pricing" not in line

    @pytest.mark.parametrize("shape", SHAPES)
    def test_proration_lines_are_flagged_after_the_subscription_line(
        self, shape: Shape
    ) -> None:
        story = StripeStory("cus_T1", shape=shape, start=START)
        sub = story.subscribe("price_pro_monthly", "prod_pro", 4900)
        story.invoice(sub, proration_lines=PRORATIONS)
        lines = last_object(story, "invoice.created")["lines"]["data"]

        if shape == "basil":
            flags = [
                line["parent"]["subscription_item_details"]["proration"]
                for line in lines
            ]
        else:
            flags = [line["proration"] for line in lines]
        assert flags == [False, True, True]
        assert [line["amount"] for line in lines] == [4900, -2450, 4900]

    def test_legacy_paid_invoice_names_its_charge_and_payment_intent(self) -> None:
        story, _, invoice = paid_story("legacy")
        intent = story.pay(invoice)
        paid = last_object(story, "invoice.paid")
        charge = last_object(story, "charge.succeeded")

        assert (paid["payment_intent"], paid["charge"]) == (intent, charge["id"])
        assert paid["paid"] is True


class TestPaymentShape:
    def test_basil_charge_and_payment_intent_name_no_invoice(self) -> None:
        story = full_story("basil")

        for obj in objects(story, "charge") + objects(story, "payment_intent"):
            assert "invoice" not in obj

    def test_legacy_charge_and_payment_intent_name_their_invoice(self) -> None:
        story, _, invoice = paid_story("legacy")
        story.pay(invoice)

        assert last_object(story, "charge.succeeded")["invoice"] == invoice
        assert last_object(story, "payment_intent.succeeded")["invoice"] == invoice

    def test_basil_payment_is_an_invoice_payment_linking_invoice_and_intent(
        self,
    ) -> None:
        story, _, invoice = paid_story("basil")
        intent = story.pay(invoice)
        payment = last_object(story, "invoice_payment.paid")

        assert payment["invoice"] == invoice
        assert payment["payment"] == {
            "type": "payment_intent",
            "payment_intent": intent,
        }
        assert (payment["status"], payment["amount_paid"]) == ("paid", 4900)

    def test_legacy_story_emits_no_invoice_payment(self) -> None:
        story = full_story("legacy")

        assert objects(story, "invoice_payment") == []

    def test_legacy_charge_lists_its_refunds(self) -> None:
        story, _, invoice = paid_story("legacy")
        refund = story.refund(story.pay(invoice), 1000)
        charge = last_object(story, "charge.refunded")

        assert [item["id"] for item in charge["refunds"]["data"]] == [refund]
        assert (charge["amount_refunded"], charge["refunded"]) == (1000, False)

    def test_basil_charge_shows_the_refunded_amount_without_a_list(self) -> None:
        story, _, invoice = paid_story("basil")
        story.refund(story.pay(invoice))
        charge = last_object(story, "charge.refunded")

        assert "refunds" not in charge
        assert (charge["amount_refunded"], charge["refunded"]) == (4900, True)

    def test_basil_credit_note_lists_the_refunds_behind_it(self) -> None:
        story, _, invoice = paid_story("basil")
        refund = story.refund(story.pay(invoice), 1000)
        story.credit_note(invoice, 1000, refund_id=refund)
        note = last_object(story, "credit_note.created")

        assert [(r["refund"], r["amount_refunded"]) for r in note["refunds"]] == [
            (refund, 1000)
        ]
        assert "refund" not in note

    def test_legacy_credit_note_names_its_refund(self) -> None:
        story, _, invoice = paid_story("legacy")
        refund = story.refund(story.pay(invoice), 1000)
        story.credit_note(invoice, 1000, refund_id=refund)
        note = last_object(story, "credit_note.created")

        assert note["refund"] == refund
        assert "refunds" not in note

    def test_basil_subscription_keeps_its_period_on_the_item(self) -> None:
        story, _, _ = paid_story("basil")
        sub = last_object(story, "customer.subscription.created")
        item = sub["items"]["data"][0]

        assert "current_period_start" not in sub
        assert item["current_period_start"] < item["current_period_end"]

    def test_legacy_subscription_keeps_its_period_plan_and_quantity_on_top(
        self,
    ) -> None:
        story, _, _ = paid_story("legacy")
        sub = last_object(story, "customer.subscription.created")

        assert sub["current_period_start"] < sub["current_period_end"]
        assert (sub["plan"]["id"], sub["quantity"]) == ("price_pro_monthly", 1)
        assert "current_period_start" not in sub["items"]["data"][0]


class TestEvents:
    @pytest.mark.parametrize("shape", SHAPES)
    def test_event_ids_are_unique(self, shape: Shape) -> None:
        ids = [event["id"] for event in full_story(shape).events]

        assert len(ids) == len(set(ids))

    @pytest.mark.parametrize("shape", SHAPES)
    def test_timestamps_never_decrease(self, shape: Shape) -> None:
        stamps = [event["created"] for event in full_story(shape).events]

        assert stamps == sorted(stamps)

    def test_clock_starts_at_start_and_moves_at_most_three_seconds(self) -> None:
        stamps = [event["created"] for event in full_story("basil").events]
        gaps = {later - earlier for earlier, later in itertools.pairwise(stamps)}

        assert stamps[0] == START
        assert gaps <= {0, 1, 2, 3}
        assert {1, 2, 3} <= gaps

    def test_advance_moves_the_clock_on(self) -> None:
        story = StripeStory("cus_T1", start=START)
        story.customer_created(name="Acme", email="billing@acme.example")
        story.advance(86_400)
        story.customer_updated(name="Acme AG")

        assert story.events[-1]["created"] - story.events[0]["created"] > 86_400

    @pytest.mark.parametrize("shape", SHAPES)
    def test_events_of_one_action_share_a_second(self, shape: Shape) -> None:
        story, _, invoice = paid_story(shape)
        story.pay(invoice)
        created = {event["type"]: event["created"] for event in story.events}

        assert created["charge.succeeded"] == created["payment_intent.succeeded"]
        assert created["invoice.paid"] == created["invoice.payment_succeeded"]
        assert created["invoice.paid"] > created["charge.succeeded"]

    @pytest.mark.parametrize(
        ("shape", "version"),
        [("basil", "2025-03-31.basil"), ("legacy", "2020-03-02")],
    )
    def test_envelopes_name_the_api_version_of_the_shape(
        self, shape: Shape, version: str
    ) -> None:
        events = full_story(shape).events

        assert {event["api_version"] for event in events} == {version}
        assert all(event["object"] == "event" for event in events)

    @pytest.mark.parametrize("shape", SHAPES)
    def test_every_event_type_is_catalogued_with_its_object(self, shape: Shape) -> None:
        catalog = {
            entry["type"]: entry["data_object"].split()[0]
            for entry in load(FIXTURES / "event_catalog.json")["events"]
        }

        for event in full_story(shape).events:
            assert catalog.get(event["type"]) == event["data"]["object"]["object"]

    def test_the_same_script_gives_the_same_events(self) -> None:
        assert full_story("basil").events == full_story("basil").events

    def test_prefix_keeps_two_stories_ids_apart(self) -> None:
        first = StripeStory("cus_A", prefix="a1")
        second = StripeStory("cus_B", prefix="b2")
        for story in (first, second):
            story.subscribe("price_pro_monthly", "prod_pro", 4900)

        ids = [
            {e["id"], e["data"]["object"]["id"]} for e in first.events + second.events
        ]
        assert ids[0].isdisjoint(ids[1])

    def test_object_ids_are_kind_prefix_and_counter(self) -> None:
        story = full_story("basil")
        seen: dict[str, set[str]] = {}
        for event in story.events:
            seen.setdefault("evt", set()).add(event["id"])
            obj = event["data"]["object"]
            seen.setdefault(obj["object"], set()).add(obj["id"])
            for line in obj.get("lines", {}).get("data", []):
                seen.setdefault(line["object"], set()).add(line["id"])
        kinds = {
            "evt": "evt",
            "subscription": "sub",
            "invoice": "in",
            "line_item": "il",
            "payment_intent": "pi",
            "charge": "ch",
            "invoice_payment": "inpay",
            "refund": "re",
            "dispute": "dp",
            "credit_note": "cn",
        }

        for object_type, kind in kinds.items():
            assert seen[object_type], object_type
            for object_id in seen[object_type]:
                assert re.fullmatch(rf"{kind}_t1_\d+", object_id), object_id
        item_ids = {
            item["id"]
            for sub in objects(story, "subscription")
            for item in sub["items"]["data"]
        }
        assert all(re.fullmatch(r"si_t1_\d+", item) for item in item_ids)

    def test_customer_update_carries_previous_attributes(self) -> None:
        story = StripeStory("cus_T1")
        story.customer_created(name="Acme GmbH", email="billing@acme.example")
        story.customer_updated(name="Acme AG")
        data = story.events[-1]["data"]

        assert data["previous_attributes"] == {"name": "Acme GmbH"}
        assert data["object"]["name"] == "Acme AG"

    @pytest.mark.parametrize("shape", SHAPES)
    def test_plan_change_carries_the_old_items(self, shape: Shape) -> None:
        story, sub, _ = paid_story(shape)
        story.change_plan(sub, quantity=2)
        event = story.events[-1]
        old_item = event["data"]["previous_attributes"]["items"]["data"][0]

        assert event["type"] == "customer.subscription.updated"
        assert old_item["quantity"] == 1
        assert event["data"]["object"]["items"]["data"][0]["quantity"] == 2


class TestSnapshots:
    def test_mutating_an_event_changes_no_later_snapshot(self) -> None:
        story = StripeStory("cus_T1")
        sub = story.subscribe("price_pro_monthly", "prod_pro", 4900)
        invoice = story.invoice(sub)
        draft = story.events[-1]["data"]["object"]
        draft["status"] = "tampered"
        draft["lines"]["data"][0]["amount"] = -1
        story.finalize(invoice)
        finalized = story.events[-1]["data"]["object"]

        assert finalized["status"] == "open"
        assert finalized["lines"]["data"][0]["amount"] == 4900

    def test_events_of_the_same_second_share_no_objects(self) -> None:
        story, _, invoice = paid_story("basil")
        story.pay(invoice)
        paid = last_object(story, "invoice.paid")
        succeeded = last_object(story, "invoice.payment_succeeded")
        paid["lines"]["data"][0]["amount"] = -1

        assert succeeded["lines"]["data"][0]["amount"] == 4900

    def test_each_snapshot_shows_the_invoice_at_its_moment(self) -> None:
        story, _, invoice = paid_story("basil")
        story.pay(invoice)
        states = [
            (event["type"], obj["status"], obj["amount_paid"], obj["number"])
            for event in story.events
            if (obj := event["data"]["object"])["object"] == "invoice"
        ]

        assert states == [
            ("invoice.created", "draft", 0, None),
            ("invoice.finalized", "open", 0, "T1INV-0001"),
            ("invoice.paid", "paid", 4900, "T1INV-0001"),
            ("invoice.payment_succeeded", "paid", 4900, "T1INV-0001"),
        ]


class TestAmounts:
    @pytest.mark.parametrize("shape", SHAPES)
    def test_invoice_total_is_lines_plus_tax(self, shape: Shape) -> None:
        story = StripeStory("cus_T1", shape=shape)
        sub = story.subscribe("price_pro_monthly", "prod_pro", 4900, quantity=2)
        story.invoice(sub, proration_lines=PRORATIONS, tax_rate=19)
        invoice = last_object(story, "invoice.created")
        lines = invoice["lines"]["data"]
        if shape == "basil":
            tax = sum(t["amount"] for line in lines for t in line["taxes"])
        else:
            tax = sum(t["amount"] for line in lines for t in line["tax_amounts"])

        assert tax == 1862 + -466 + 931
        assert invoice["subtotal"] == sum(line["amount"] for line in lines) == 12250
        assert invoice["total"] == invoice["subtotal"] + tax == invoice["amount_due"]

    def test_tax_rounds_half_away_from_zero(self) -> None:
        rate = TaxRate("txr_half", Decimal("10"))

        assert (rate.on(25), rate.on(-25), rate.on(24)) == (3, -3, 2)

    def test_partial_payment_keeps_paid_plus_remaining_equal_to_total(self) -> None:
        story, _, invoice = paid_story("basil")
        story.pay(invoice, amount=1234)
        updated = story.events[-1]

        assert updated["type"] == "invoice.updated"
        obj = updated["data"]["object"]
        assert (obj["status"], obj["amount_paid"], obj["amount_remaining"]) == (
            "open",
            1234,
            4900 - 1234,
        )
        assert obj["amount_paid"] + obj["amount_remaining"] == obj["total"]
        assert updated["data"]["previous_attributes"]["amount_paid"] == 0

    def test_second_partial_payment_settles_the_invoice(self) -> None:
        story, _, invoice = paid_story("basil")
        first = story.pay(invoice, amount=1000)
        second = story.pay(invoice)
        payments = event_objects(story, "invoice_payment.paid")

        assert first != second
        assert [(p["amount_paid"], p["is_default"]) for p in payments] == [
            (1000, True),
            (3900, False),
        ]
        assert last_object(story, "invoice.paid")["amount_remaining"] == 0

    def test_partial_payment_in_legacy_raises_value_error(self) -> None:
        story, _, invoice = paid_story("legacy")
        before = (len(story.events), story.now)

        with pytest.raises(ValueError, match="partial"):
            story.pay(invoice, amount=1000)
        assert (len(story.events), story.now) == before

    @pytest.mark.parametrize("shape", SHAPES)
    def test_zero_decimal_currency_amounts_are_untouched(self, shape: Shape) -> None:
        story = full_story(shape, currency="jpy")
        first = event_objects(story, "invoice.created")[0]
        payments = story.expected["payments"]

        assert first["object"] == "invoice" and first["currency"] == "jpy"
        assert first["lines"]["data"][0]["amount"] == 4900
        assert first["total"] == 4900 + 931
        assert sorted(p["amount"] for p in payments.values()) == [5831, 14250]

    def test_payment_beyond_what_is_due_raises_value_error(self) -> None:
        story, _, invoice = paid_story("basil")

        with pytest.raises(ValueError):
            story.pay(invoice, amount=4901)

    def test_refund_beyond_what_was_paid_raises_value_error(self) -> None:
        story, _, invoice = paid_story("basil")
        intent = story.pay(invoice)
        story.refund(intent, 4000)

        with pytest.raises(ValueError):
            story.refund(intent, 901)

    def test_negative_invoice_total_raises_value_error(self) -> None:
        story = StripeStory("cus_T1")
        sub = story.subscribe("price_pro_monthly", "prod_pro", 4900)

        with pytest.raises(ValueError, match="negative"):
            story.invoice(sub, proration_lines=[(-9800, "Unused time")])

    @pytest.mark.parametrize("shape", SHAPES)
    def test_failed_payment_counts_an_attempt_and_sets_a_retry(
        self, shape: Shape
    ) -> None:
        story, _, invoice = paid_story(shape)
        story.fail_payment(invoice)
        failed = last_object(story, "invoice.payment_failed")
        intent = last_object(story, "payment_intent.payment_failed")

        assert (failed["attempt_count"], failed["amount_remaining"]) == (1, 4900)
        assert failed["next_payment_attempt"] > story.events[-1]["created"]
        assert intent["last_payment_error"]["code"] == "card_declined"

    def test_retry_after_failure_reuses_the_payment_intent(self) -> None:
        story, _, invoice = paid_story("legacy")
        failed = story.fail_payment(invoice)
        paid = story.pay(invoice)

        assert paid == failed
        assert last_object(story, "invoice.paid")["attempt_count"] == 2

    def test_pre_payment_credit_note_lowers_what_remains(self) -> None:
        story, _, invoice = paid_story("basil")
        story.credit_note(invoice, 900)
        note = last_object(story, "credit_note.created")
        updated = last_object(story, "invoice.updated")

        assert note["type"] == "pre_payment"
        assert (
            updated["amount_remaining"],
            updated["pre_payment_credit_notes_amount"],
        ) == (
            4000,
            900,
        )

    def test_credit_note_of_a_paid_invoice_is_post_payment(self) -> None:
        story, _, invoice = paid_story("legacy")
        story.pay(invoice)
        story.credit_note(invoice, 900)
        note = last_object(story, "credit_note.created")

        assert (note["type"], note["out_of_band_amount"]) == ("post_payment", 900)
        assert (
            last_object(story, "invoice.updated")["post_payment_credit_notes_amount"]
            == 900
        )


class TestLifecycle:
    def test_subscription_status_follows_the_story(self) -> None:
        story = StripeStory("cus_T1")
        sub = story.subscribe("price_pro_monthly", "prod_pro", 4900, trial=True)
        story.activate(sub)
        invoice = story.invoice(sub)
        story.finalize(invoice)
        story.fail_payment(invoice)
        story.pay(invoice)
        story.recover(sub)
        story.pause(sub)
        story.resume(sub)
        story.cancel(sub)
        statuses = [
            (event["type"].removeprefix("customer.subscription."), obj["status"])
            for event in story.events
            if (obj := event["data"]["object"])["object"] == "subscription"
        ]

        assert statuses == [
            ("created", "trialing"),
            ("updated", "active"),
            ("updated", "past_due"),
            ("updated", "active"),
            ("paused", "paused"),
            ("resumed", "active"),
            ("updated", "active"),
            ("deleted", "canceled"),
        ]

    def test_cancel_announces_period_end_before_deleting(self) -> None:
        story, sub, _ = paid_story("basil")
        story.cancel(sub)
        updated, deleted = story.events[-2:]
        period_end = updated["data"]["object"]["items"]["data"][0]["current_period_end"]

        assert updated["data"]["object"]["cancel_at_period_end"] is True
        assert updated["data"]["object"]["cancel_at"] == period_end
        assert deleted["type"] == "customer.subscription.deleted"
        assert deleted["data"]["object"]["ended_at"] == deleted["created"]

    def test_early_activation_ends_the_trial_now(self) -> None:
        story = StripeStory("cus_T1")
        sub = story.subscribe("price_pro_monthly", "prod_pro", 4900, trial=True)
        story.activate(sub)
        event = story.events[-1]
        item = event["data"]["object"]["items"]["data"][0]

        assert event["data"]["object"]["trial_end"] == event["created"]
        assert item["current_period_start"] == event["created"]
        assert event["data"]["previous_attributes"]["status"] == "trialing"

    def test_trial_invoice_line_is_free(self) -> None:
        story = StripeStory("cus_T1")
        sub = story.subscribe("price_pro_monthly", "prod_pro", 4900, trial=True)
        invoice = story.invoice(sub)
        story.finalize(invoice)

        assert last_object(story, "invoice.created")["total"] == 0
        assert last_object(story, "invoice.paid")["status"] == "paid"

    def test_void_and_uncollectible_set_their_status_and_time(self) -> None:
        story, _, invoice = paid_story("basil")
        story.mark_uncollectible(invoice)
        story.void(invoice)
        uncollectible = last_object(story, "invoice.marked_uncollectible")
        voided = last_object(story, "invoice.voided")

        assert uncollectible["status"] == "uncollectible"
        assert voided["status"] == "void"
        assert voided["status_transitions"]["voided_at"] == story.events[-1]["created"]

    def test_voided_invoice_cannot_be_paid(self) -> None:
        story, _, invoice = paid_story("basil")
        story.void(invoice)

        with pytest.raises(ValueError, match="void"):
            story.pay(invoice)

    @pytest.mark.parametrize(
        ("outcome", "types"),
        [
            (
                "won",
                [
                    "charge.dispute.created",
                    "charge.dispute.funds_withdrawn",
                    "charge.dispute.closed",
                    "charge.dispute.funds_reinstated",
                ],
            ),
            (
                "lost",
                [
                    "charge.dispute.created",
                    "charge.dispute.funds_withdrawn",
                    "charge.dispute.closed",
                ],
            ),
        ],
    )
    def test_dispute_events_follow_the_outcome(
        self, outcome: str, types: list[str]
    ) -> None:
        story, _, invoice = paid_story("basil")
        story.dispute(story.pay(invoice), "won" if outcome == "won" else "lost")
        disputes = [e for e in story.events if e["type"].startswith("charge.dispute.")]
        closed = last_object(story, "charge.dispute.closed")

        assert [event["type"] for event in disputes] == types
        assert closed["status"] == outcome
        moved = sum(
            t["amount"] for t in disputes[-1]["data"]["object"]["balance_transactions"]
        )
        assert moved == (0 if outcome == "won" else -4900)

    def test_new_unit_amount_makes_a_new_price(self) -> None:
        story, sub, _ = paid_story("basil")
        story.change_plan(sub, unit_amount=5900)
        price = story.events[-1]["data"]["object"]["items"]["data"][0]["price"]

        assert (price["id"], price["unit_amount"]) == ("price_t1_1", 5900)
        assert price["product"] == "prod_pro"

    def test_reusing_a_price_id_with_other_terms_raises_value_error(self) -> None:
        story = StripeStory("cus_T1")
        story.subscribe("price_pro_monthly", "prod_pro", 4900)

        with pytest.raises(ValueError, match="immutable"):
            story.subscribe("price_pro_monthly", "prod_pro", 5900)


class TestCustomer:
    @pytest.mark.parametrize("shape", SHAPES)
    def test_customer_carries_contact_address_and_tax_ids(self, shape: Shape) -> None:
        story = StripeStory("cus_T1", shape=shape)
        story.customer_created(
            name="Acme GmbH",
            email="billing@acme.example",
            country="DE",
            phone="+49 30 1234567",
            address={"line1": "Hauptstr. 1", "city": "Berlin", "postal_code": "10115"},
            tax_id="DE123456789",
        )
        customer = event_objects(story, "customer.created")[0]

        assert (customer["name"], customer["email"], customer["phone"]) == (
            "Acme GmbH",
            "billing@acme.example",
            "+49 30 1234567",
        )
        assert customer["address"] == {
            "city": "Berlin",
            "country": "DE",
            "line1": "Hauptstr. 1",
            "line2": None,
            "postal_code": "10115",
            "state": None,
        }
        assert [t["value"] for t in customer["tax_ids"]["data"]] == ["DE123456789"]
        assert story.events[1]["type"] == "customer.tax_id.created"

    def test_hubspot_company_id_is_in_metadata_only_when_given(self) -> None:
        plain = StripeStory("cus_A")
        plain.customer_created(name="Acme", email="billing@acme.example")
        linked = StripeStory("cus_B")
        linked.customer_created(
            name="Acme", email="billing@acme.example", hubspot_company_id="9001"
        )

        assert plain.events[0]["data"]["object"]["metadata"] == {}
        assert linked.events[0]["data"]["object"]["metadata"] == {
            "hubspot_company_id": "9001"
        }

    def test_update_that_changes_nothing_raises_value_error(self) -> None:
        story = StripeStory("cus_T1")
        story.customer_created(name="Acme", email="billing@acme.example")

        with pytest.raises(ValueError):
            story.customer_updated(name="Acme")


class TestExpected:
    def test_expected_summarises_the_books(self) -> None:
        story, sub, invoice = paid_story("basil")
        intent = story.pay(invoice)
        refund = story.refund(intent, 1000)
        note = story.credit_note(invoice, 1000, refund_id=refund)
        story.change_plan(sub, quantity=2)
        story.cancel(sub)
        expected = story.expected

        assert expected["invoices"] == {
            invoice: {
                "status": "paid",
                "subscription": sub,
                "number": "T1INV-0001",
                "total": 4900,
                "amount_paid": 4900,
                "amount_remaining": 0,
                "currency": "usd",
                "refunded": 1000,
                "credited": 1000,
            }
        }
        assert expected["subscriptions"][sub]["status"] == "canceled"
        assert expected["subscriptions"][sub]["quantity"] == 2
        assert expected["payments"] == {
            intent: {"invoice": invoice, "amount": 4900, "currency": "usd"}
        }
        assert expected["refunds"] == {
            refund: {"payment": intent, "invoice": invoice, "amount": 1000}
        }
        assert expected["credit_notes"] == {
            note: {
                "invoice": invoice,
                "type": "post_payment",
                "amount": 1000,
                "refund": refund,
            }
        }

    def test_expected_leaves_failed_payments_out(self) -> None:
        story, _, invoice = paid_story("basil")
        story.fail_payment(invoice)

        assert story.expected["payments"] == {}
        assert story.expected["invoices"][invoice]["amount_remaining"] == 4900

    def test_expected_records_a_lost_dispute(self) -> None:
        story, _, invoice = paid_story("legacy")
        intent = story.pay(invoice)
        dispute = story.dispute(intent, "lost")

        assert story.expected["disputes"] == {
            dispute: {"payment": intent, "status": "lost", "amount": 4900}
        }
