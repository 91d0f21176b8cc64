"""Every Stripe event type revsync handles, from the receiver to the Odoo records.

Each test tells one customer's story with ``StripeStory`` (a customer id and an id
prefix of its own: all tests share one Odoo sandbox and one store), posts the
story's events to the real receiver over HTTP, waits until a real Celery worker has
applied or skipped every one of them, and reads the books field by field. Event
types the story does not emit (customer.deleted, customer.discount.*,
invoice.payment_action_required, refund.updated, charge.dispute.updated,
credit_note.updated and credit_note.voided) are appended to the story as Stripe
would send them, carrying the story's own objects in the story's shape.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import pytest
from sqlalchemy import select

from tests.conftest import load_fixture, unique, wait_until
from worker.locks import account_lock
from worker.scenarios import Shape, StripeStory
from worker.store import CrossReference, InboxEvent, Store

pytestmark = pytest.mark.usefixtures("celery_worker")

SHAPES: list[Shape] = ["basil", "legacy"]
FINAL = ("done", "skipped")
STUCK = ("dead", "held")
# The session mapping sells these as PRO-M and TEAM (tests/lifecycle/harness.py).
PRO = ("price_pro_monthly", "prod_price_pro_monthly")
TEAM = ("price_team", "prod_price_team")

Record = dict[str, Any]
Event = dict[str, Any]


# -- stories ------------------------------------------------------------------------


def new_story(shape: Shape = "basil", currency: str = "usd") -> StripeStory:
    """A story of its own: a fresh customer id and a fresh id prefix."""
    prefix = unique("t").replace("_", "")
    return StripeStory(unique("cus"), shape=shape, currency=currency, prefix=prefix)


def signed_up(
    shape: Shape = "basil",
    currency: str = "usd",
    *,
    quantity: int = 1,
    trial: bool = False,
    unit_amount: int = 4900,
) -> tuple[StripeStory, str]:
    """A customer subscribed to Pro monthly; returns the story and subscription."""
    story = new_story(shape, currency)
    story.customer_created(
        f"Customer {story.prefix} Ltd", f"billing@{story.prefix}.example", "US"
    )
    sub = story.subscribe(*PRO, unit_amount, quantity, trial)
    return story, sub


def invoiced(
    shape: Shape = "basil",
    currency: str = "usd",
    *,
    quantity: int = 1,
    unit_amount: int = 4900,
) -> tuple[StripeStory, str, str]:
    """A subscribed customer with one finalized (open) invoice."""
    story, sub = signed_up(shape, currency, quantity=quantity, unit_amount=unit_amount)
    invoice = story.invoice(sub)
    story.finalize(invoice)
    return story, sub, invoice


def latest(story: StripeStory, object_id: str) -> Record:
    """The newest state of a story object, as its last event carried it."""
    for event in reversed(story.events):
        if event["data"]["object"].get("id") == object_id:
            return copy.deepcopy(event["data"]["object"])
    raise AssertionError(f"no event of the story carries {object_id}")


def first_event(story: StripeStory, event_type: str) -> Event:
    return next(e for e in story.events if e["type"] == event_type)


def append_event(
    story: StripeStory,
    event_type: str,
    obj: Record,
    previous: Record | None = None,
) -> Event:
    """Add an event the story cannot emit, one second after its last one."""
    story.advance(1)
    data: Record = {"object": copy.deepcopy(obj)}
    if previous is not None:
        data["previous_attributes"] = previous
    event = {
        "id": f"evt_{story.prefix}_x{len(story.events) + 1}",
        "object": "event",
        "api_version": story.api_version,
        "created": story.now,
        "data": data,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }
    story.events.append(event)
    return event


# -- the inbox ----------------------------------------------------------------------


class Applied(NamedTuple):
    type: str
    status: str
    reason: str | None
    last_error: str | None


def inbox_states(store: Store, event_ids: Iterable[str]) -> dict[str, Applied]:
    with store.session() as session:
        rows = session.scalars(
            select(InboxEvent).where(
                InboxEvent.source == "stripe",
                InboxEvent.event_id.in_(sorted(set(event_ids))),
            )
        ).all()
        return {
            row.event_id: Applied(row.type, row.status, row.reason, row.last_error)
            for row in rows
        }


def settle(
    store: Store,
    events: list[Event],
    timeout: float = 30,
    until: tuple[str, ...] = FINAL,
) -> dict[str, Applied]:
    """Wait until every event is done or skipped (or in one of the ``until``
    statuses); fail naming those that are not, with their reasons."""
    wanted = {event["id"] for event in events}
    seen: dict[str, Applied] = {}

    def finished() -> bool:
        seen.clear()
        seen.update(inbox_states(store, wanted))
        if any(state.status in STUCK for state in seen.values()):
            return True
        return len(seen) == len(wanted) and all(
            state.status in until for state in seen.values()
        )

    try:
        wait_until(finished, timeout, "the story's events to be applied")
    except AssertionError:
        pass
    unfinished = [
        f"{event_id} {state.type}: {state.status} "
        f"(reason: {state.reason}; last error: {state.last_error})"
        for event_id, state in sorted(seen.items())
        if state.status not in until
    ] + [f"{event_id}: not in the inbox" for event_id in sorted(wanted - set(seen))]
    if unfinished:
        pytest.fail("events not applied:\n" + "\n".join(unfinished))
    return dict(seen)


Deliver = Callable[..., dict[str, Applied]]


@pytest.fixture
def deliver(post_stripe: Callable[..., Any], store: Store) -> Deliver:
    """Post each stage's events in the order given and wait until all are applied
    before the next stage; returns how every event was applied."""

    def run(
        *stages: list[Event],
        timeout: float = 30,
        until: tuple[str, ...] = FINAL,
    ) -> dict[str, Applied]:
        applied: dict[str, Applied] = {}
        for events in stages:
            for event in events:
                response = post_stripe(event)
                assert response.status_code == 200, response.text
            applied.update(settle(store, events, timeout, until))
        return applied

    return run


def applied_within(store: Store, event_id: str, seconds: float) -> Applied | None:
    """How the event was applied if that happens within ``seconds``, else None."""

    def final() -> Applied | None:
        state = inbox_states(store, [event_id]).get(event_id)
        return state if state is not None and state.status in FINAL else None

    try:
        return wait_until(final, seconds, f"event {event_id} to be applied")
    except AssertionError:
        return None


def by_type(applied: dict[str, Applied], event_type: str) -> list[Applied]:
    return [state for state in applied.values() if state.type == event_type]


def outcome(state: Applied) -> tuple[str, str | None]:
    return state.status, state.reason


def one_by_one(events: list[Event], copies: int = 1) -> list[list[Event]]:
    """Each event a stage of its own (delivered ``copies`` times)."""
    return [[event] * copies for event in events]


# -- the books ----------------------------------------------------------------------


def one(rows: list[Record], what: str) -> Record:
    assert len(rows) == 1, f"expected one {what}, found {len(rows)}: {rows}"
    return rows[0]


def partner_of(sandbox: Any, customer_id: str) -> Record:
    rows = sandbox.records(
        "res.partner",
        domain=[("ref", "=", customer_id), ("active", "in", [True, False])],
    )
    return one(rows, f"partner with ref {customer_id}")


def tag_names(sandbox: Any, partner: Record) -> set[str]:
    rows = sandbox.records(
        "res.partner.category", domain=[("id", "in", partner["category_id"])]
    )
    return {row["name"] for row in rows}


def codes(sandbox: Any) -> dict[int, str]:
    return {
        row["id"]: row["default_code"] for row in sandbox.records("product.product")
    }


def order_of(sandbox: Any, subscription_id: str) -> Record:
    rows = sandbox.records(
        "sale.order", domain=[("client_order_ref", "=", subscription_id)]
    )
    return one(rows, f"sale order of {subscription_id}")


def order_lines(sandbox: Any, order: Record) -> list[tuple[str, float, float]]:
    """(product code, quantity, unit price) of each line of the order."""
    product = codes(sandbox)
    rows = sandbox.records(
        "sale.order.line", domain=[("id", "in", order["order_line"])]
    )
    return sorted(
        (product[row["product_id"][0]], row["product_uom_qty"], row["price_unit"])
        for row in rows
    )


def move_of(sandbox: Any, reference: str, move_type: str = "out_invoice") -> Record:
    rows = sandbox.records(
        "account.move",
        domain=[("payment_reference", "=", reference), ("move_type", "=", move_type)],
    )
    return one(rows, f"{move_type} with payment reference {reference}")


def move_lines(sandbox: Any, move: Record) -> list[tuple[Any, ...]]:
    """(label, product code, quantity, unit price, taxes) of each invoice line."""
    product = codes(sandbox)
    rows = sandbox.records(
        "account.move.line", domain=[("id", "in", move["invoice_line_ids"])]
    )
    return [
        (
            row["name"],
            product[row["product_id"][0]] if row["product_id"] else None,
            row["quantity"],
            row["price_unit"],
            row["tax_ids"],
        )
        for row in sorted(rows, key=lambda row: row["id"])
    ]


def credit_notes_of(sandbox: Any, invoice: Record) -> list[Record]:
    return sandbox.records(
        "account.move",
        # A Stripe credit note reverses its invoice; a refund or a lost dispute
        # names it as its origin (see worker/sync/stripe/refunds.py).
        domain=[
            ("move_type", "=", "out_refund"),
            "|",
            ("reversed_entry_id", "=", invoice["id"]),
            ("invoice_origin", "=", invoice["payment_reference"]),
        ],
    )


def payments_with_memo(sandbox: Any, memo: str) -> list[Record]:
    return sandbox.records("account.payment", domain=[("memo", "=", memo)])


def payments_of_partner(sandbox: Any, partner: Record) -> list[Record]:
    return sandbox.records(
        "account.payment", domain=[("partner_id", "=", partner["id"])]
    )


def activities_on(sandbox: Any, model: str, res_id: int) -> list[tuple[str, str, int]]:
    rows = sandbox.records("mail.activity", domain=[("res_id", "=", res_id)])
    return [
        (row["summary"], row["res_model"], row["res_id"])
        for row in rows
        if row["res_model"] == model
    ]


def messages_on(sandbox: Any, model: str, res_id: int) -> list[str]:
    rows = sandbox.records(
        "mail.message", domain=[("model", "=", model), ("res_id", "=", res_id)]
    )
    return [str(row["body"]) for row in rows]


def assert_payment(
    payment: Record,
    *,
    memo: str,
    amount: float,
    payment_type: str,
    partner: Record,
    currency: str = "USD",
    state: str = "paid",
) -> None:
    assert payment["memo"] == memo
    assert payment["amount"] == amount
    assert payment["payment_type"] == payment_type
    assert payment["state"] == state
    assert payment["journal_id"][1] == "Stripe"
    assert payment["partner_id"][0] == partner["id"]
    assert payment["currency_id"][1] == currency


# -- customers ----------------------------------------------------------------------


class TestCustomers:
    def test_created_customer_becomes_a_company_partner(self, sandbox, deliver) -> None:
        story = new_story()
        story.customer_created(
            "Initech GmbH",
            "ap@initech.example",
            "DE",
            phone="+49 30 123456",
            address={"line1": "Hauptstr. 1", "city": "Berlin", "postal_code": "10115"},
        )

        applied = deliver(story.events)

        partner = partner_of(sandbox, story.customer_id)
        assert partner["name"] == "Initech GmbH"
        assert partner["email"] == "ap@initech.example"
        assert partner["ref"] == story.customer_id
        assert partner["is_company"] is True
        assert partner["phone"] == "+49 30 123456"
        assert (partner["street"], partner["city"], partner["zip"]) == (
            "Hauptstr. 1",
            "Berlin",
            "10115",
        )
        assert partner["country_id"] == [sandbox.xmlid("base.de")[1], "Germany"]
        assert partner["active"] is True
        assert partner["category_id"] == []
        assert sandbox.xmlid(f"revsync.stripe_customer_{story.customer_id}") == (
            "res.partner",
            partner["id"],
        )
        assert [state.status for state in applied.values()] == ["done"]

    def test_updated_customer_changes_the_same_partner(self, sandbox, deliver) -> None:
        story = new_story()
        story.customer_created("Old Name Ltd", "old@name.example", "GB")
        story.customer_updated(
            name="New Name Ltd", email="new@name.example", country="IE"
        )

        deliver(story.events)

        partner = partner_of(sandbox, story.customer_id)
        assert partner["name"] == "New Name Ltd"
        assert partner["email"] == "new@name.example"
        assert partner["country_id"] == [sandbox.xmlid("base.ie")[1], "Ireland"]
        assert partner["is_company"] is True
        assert partner["active"] is True

    def test_tax_id_created_sets_the_partners_vat_number(
        self, sandbox, deliver
    ) -> None:
        story = new_story()
        # A VAT number of its own: one another suite's customer holds would join
        # that customer's account (identity by exact VAT number).
        vat = f"DE{random.randrange(10**8, 10**9)}"
        story.customer_created("Steuer AG", "ap@steuer.example", "DE", tax_id=vat)

        applied = deliver(story.events)

        assert [s.status for s in by_type(applied, "customer.tax_id.created")] == [
            "done"
        ]
        partner = partner_of(sandbox, story.customer_id)
        assert partner["vat"] == vat
        assert partner["name"] == "Steuer AG"

    def test_deleted_customer_archives_its_partner(self, sandbox, deliver) -> None:
        story = new_story()
        story.customer_created("Gone Ltd", "ap@gone.example", "FR")
        append_event(story, "customer.deleted", latest(story, story.customer_id))

        deliver(story.events)

        partner = partner_of(sandbox, story.customer_id)
        assert partner["active"] is False
        assert partner["name"] == "Gone Ltd"
        assert partner["ref"] == story.customer_id
        assert (
            sandbox.records("res.partner", domain=[("ref", "=", story.customer_id)])
            == []
        )

    @pytest.mark.parametrize(
        "event_type",
        [
            "customer.discount.created",
            "customer.discount.updated",
            "customer.discount.deleted",
        ],
    )
    def test_discount_event_is_skipped_with_its_reason(
        self, sandbox, deliver, event_type
    ) -> None:
        story = new_story()
        story.customer_created("Coupon Ltd", "ap@coupon.example", "US")
        discount = load_fixture("stripe/discount.json")
        discount.update(
            id=f"di_{story.prefix}_1",
            customer=story.customer_id,
            start=story.now,
            end=None,
            source={"coupon": f"co_{story.prefix}", "type": "coupon"},
        )
        event = append_event(story, event_type, discount)

        applied = deliver(story.events)

        assert applied[event["id"]].status == "skipped"
        assert (
            applied[event["id"]].reason
            == "discounts reach Odoo as the invoice lines Stripe bills"
        )
        assert partner_of(sandbox, story.customer_id)["name"] == "Coupon Ltd"


# -- subscriptions ------------------------------------------------------------------


class TestSubscriptions:
    @pytest.mark.parametrize("shape", SHAPES)
    def test_created_subscription_is_a_confirmed_sale_order(
        self, sandbox, deliver, shape
    ) -> None:
        story, sub = signed_up(shape, quantity=3)

        deliver(story.events)

        partner = partner_of(sandbox, story.customer_id)
        order = order_of(sandbox, sub)
        assert order["state"] == "sale"
        assert order["client_order_ref"] == sub
        assert order["partner_id"][0] == partner["id"]
        assert order_lines(sandbox, order) == [("PRO-M", 3.0, 49.0)]
        assert sandbox.xmlid(f"revsync.stripe_subscription_{sub}") == (
            "sale.order",
            order["id"],
        )
        assert tag_names(sandbox, partner) == {"revsync: active"}

    def test_trial_subscription_is_confirmed_and_tagged_trialing(
        self, sandbox, deliver
    ) -> None:
        story, sub = signed_up(trial=True)

        deliver(story.events)

        order = order_of(sandbox, sub)
        assert order["state"] == "sale"
        assert order_lines(sandbox, order) == [("PRO-M", 1.0, 49.0)]
        partner = partner_of(sandbox, story.customer_id)
        assert tag_names(sandbox, partner) == {"revsync: trialing"}

    def test_trial_will_end_schedules_a_reminder_on_the_partner(
        self, sandbox, deliver
    ) -> None:
        story, sub = signed_up(trial=True)
        story.trial_will_end(sub)

        deliver(story.events)

        partner = partner_of(sandbox, story.customer_id)
        assert activities_on(sandbox, "res.partner", partner["id"]) == [
            (
                "Trial ends in three days: check the payment method",
                "res.partner",
                partner["id"],
            )
        ]
        assert tag_names(sandbox, partner) == {"revsync: trialing"}

    def test_trial_ending_activates_and_closes_the_reminder(
        self, sandbox, deliver
    ) -> None:
        story, sub = signed_up(trial=True)
        story.trial_will_end(sub)
        reminded = len(story.events)
        story.activate(sub)

        # The reminder is applied first: a trial_will_end arriving after the
        # activation is stale and schedules nothing to close.
        deliver(story.events[:reminded], story.events[reminded:])

        partner = partner_of(sandbox, story.customer_id)
        assert tag_names(sandbox, partner) == {"revsync: active"}
        assert activities_on(sandbox, "res.partner", partner["id"]) == []
        assert any(
            "Trial ends in three days" in body and "subscription active" in body
            for body in messages_on(sandbox, "res.partner", partner["id"])
        )
        assert order_of(sandbox, sub)["state"] == "sale"

    def test_plan_change_updates_quantity_and_price_of_the_line(
        self, sandbox, deliver
    ) -> None:
        story, sub = signed_up()
        story.change_plan(sub, quantity=2, unit_amount=5900)

        deliver(story.events)

        order = order_of(sandbox, sub)
        assert order["state"] == "sale"
        assert order_lines(sandbox, order) == [("PRO-M", 2.0, 59.0)]

    def test_plan_change_to_another_product_changes_the_lines_product(
        self, sandbox, deliver
    ) -> None:
        story, sub = signed_up()
        story.change_plan(sub, price_id=TEAM[0], product_id=TEAM[1], unit_amount=12000)

        deliver(story.events)

        assert order_lines(sandbox, order_of(sandbox, sub)) == [("TEAM", 1.0, 120.0)]

    def test_paused_subscription_tags_the_partner_paused(
        self, sandbox, deliver
    ) -> None:
        story, sub = signed_up()
        story.pause(sub)

        deliver(story.events)

        partner = partner_of(sandbox, story.customer_id)
        assert tag_names(sandbox, partner) == {"revsync: paused"}
        assert order_of(sandbox, sub)["state"] == "sale"

    def test_resumed_subscription_tags_the_partner_active_again(
        self, sandbox, deliver
    ) -> None:
        story, sub = signed_up()
        story.pause(sub)
        story.resume(sub)

        deliver(story.events)

        partner = partner_of(sandbox, story.customer_id)
        assert tag_names(sandbox, partner) == {"revsync: active"}
        assert order_of(sandbox, sub)["state"] == "sale"

    def test_cancelled_subscription_cancels_the_order_and_tags_churned(
        self, sandbox, deliver
    ) -> None:
        story, sub = signed_up(quantity=2)
        story.cancel(sub)

        deliver(story.events)

        order = order_of(sandbox, sub)
        assert order["state"] == "cancel"
        assert order_lines(sandbox, order) == [("PRO-M", 2.0, 49.0)]
        partner = partner_of(sandbox, story.customer_id)
        assert tag_names(sandbox, partner) == {"revsync: churned"}

    def test_yen_subscription_keeps_whole_yen_prices(self, sandbox, deliver) -> None:
        story, sub = signed_up(currency="jpy", quantity=2)

        deliver(story.events)

        assert order_lines(sandbox, order_of(sandbox, sub)) == [("PRO-M", 2.0, 4900.0)]


# -- invoices -----------------------------------------------------------------------


class TestInvoices:
    @pytest.mark.parametrize("shape", SHAPES)
    def test_created_invoice_is_a_draft_with_stripes_lines(
        self, sandbox, deliver, shape
    ) -> None:
        story, sub = signed_up(shape, quantity=2)
        invoice = story.invoice(sub)

        deliver(story.events)

        move = move_of(sandbox, invoice)
        partner = partner_of(sandbox, story.customer_id)
        assert move["move_type"] == "out_invoice"
        assert move["state"] == "draft"
        assert move["partner_id"][0] == partner["id"]
        assert move["currency_id"][1] == "USD"
        assert move["invoice_origin"] == sub
        assert (move["amount_untaxed"], move["amount_tax"], move["amount_total"]) == (
            98.0,
            0.0,
            98.0,
        )
        assert move_lines(sandbox, move) == [
            ("2 \N{MULTIPLICATION SIGN} prod_price_pro_monthly", "PRO-M", 2.0, 49.0, [])
        ]

    @pytest.mark.parametrize("shape", SHAPES)
    def test_finalized_invoice_is_posted_under_its_number(
        self, sandbox, deliver, shape
    ) -> None:
        story, sub = signed_up(shape, quantity=2)
        invoice = story.invoice(sub)
        drafted = len(story.events)
        story.finalize(invoice)

        deliver(story.events[:drafted], story.events[drafted:])

        move = move_of(sandbox, invoice)
        partner = partner_of(sandbox, story.customer_id)
        assert (move["move_type"], move["state"]) == ("out_invoice", "posted")
        assert move["ref"] == story.expected["invoices"][invoice]["number"]
        assert move["payment_reference"] == invoice
        assert move["partner_id"][0] == partner["id"]
        assert move["currency_id"][1] == "USD"
        assert (move["amount_untaxed"], move["amount_total"]) == (98.0, 98.0)
        assert move["amount_residual"] == 98.0
        assert move["payment_state"] == "not_paid"
        assert [line[1:4] for line in move_lines(sandbox, move)] == [
            ("PRO-M", 2.0, 49.0)
        ]
        assert sandbox.xmlid(f"revsync.stripe_invoice_{invoice}") == (
            "account.move",
            move["id"],
        )

    @pytest.mark.parametrize("shape", SHAPES)
    def test_proration_lines_are_billed_as_stripe_lists_them(
        self, sandbox, deliver, shape
    ) -> None:
        story, sub = signed_up(shape)
        story.change_plan(sub, quantity=2)
        invoice = story.invoice(
            sub,
            proration_lines=[(-2450, "Unused time on Pro"), (4900, "Remaining time")],
        )
        story.finalize(invoice)

        deliver(story.events)

        move = move_of(sandbox, invoice)
        assert move_lines(sandbox, move) == [
            (
                "2 \N{MULTIPLICATION SIGN} prod_price_pro_monthly",
                "PRO-M",
                2.0,
                49.0,
                [],
            ),
            ("Unused time on Pro", "PRO-M", 1.0, -24.5, []),
            ("Remaining time", "PRO-M", 1.0, 49.0, []),
        ]
        assert (move["amount_total"], move["amount_residual"]) == (122.5, 122.5)
        assert move["state"] == "posted"

    @pytest.mark.parametrize("shape", SHAPES)
    def test_zero_total_trial_invoice_is_posted_and_paid_without_a_payment(
        self, sandbox, deliver, shape
    ) -> None:
        story, sub = signed_up(shape, trial=True)
        invoice = story.invoice(sub)
        story.finalize(invoice)

        deliver(story.events)

        move = move_of(sandbox, invoice)
        assert move["state"] == "posted"
        assert (move["amount_total"], move["amount_residual"]) == (0.0, 0.0)
        assert move["payment_state"] == "paid"
        assert [line[1:4] for line in move_lines(sandbox, move)] == [
            ("PRO-M", 1.0, 0.0)
        ]
        partner = partner_of(sandbox, story.customer_id)
        assert payments_of_partner(sandbox, partner) == []

    @pytest.mark.parametrize("shape", SHAPES)
    def test_voided_invoice_is_cancelled(self, sandbox, deliver, shape) -> None:
        story, _, invoice = invoiced(shape)
        story.void(invoice)

        deliver(story.events)

        move = move_of(sandbox, invoice)
        assert move["state"] == "cancel"
        assert move["amount_total"] == 49.0
        assert move["payment_state"] == "not_paid"
        partner = partner_of(sandbox, story.customer_id)
        assert payments_of_partner(sandbox, partner) == []

    @pytest.mark.parametrize("shape", SHAPES)
    def test_uncollectible_invoice_stays_due_with_a_write_off_activity(
        self, sandbox, deliver, shape
    ) -> None:
        story, _, invoice = invoiced(shape)
        story.mark_uncollectible(invoice)

        deliver(story.events)

        move = move_of(sandbox, invoice)
        assert move["state"] == "posted"
        assert (move["amount_residual"], move["payment_state"]) == (49.0, "not_paid")
        assert activities_on(sandbox, "account.move", move["id"]) == [
            (
                "Stripe marked this invoice uncollectible: decide the write-off",
                "account.move",
                move["id"],
            )
        ]

    def test_uncollectible_invoice_paid_later_closes_the_write_off_activity(
        self, sandbox, deliver
    ) -> None:
        story, _, invoice = invoiced()
        story.mark_uncollectible(invoice)
        marked = len(story.events)
        story.pay(invoice)

        deliver(story.events[:marked], story.events[marked:])

        move = move_of(sandbox, invoice)
        assert (move["payment_state"], move["amount_residual"]) == ("paid", 0.0)
        assert activities_on(sandbox, "account.move", move["id"]) == []

    @pytest.mark.parametrize("shape", SHAPES)
    def test_yen_invoice_is_in_whole_yen(self, sandbox, deliver, shape) -> None:
        story, _, invoice = invoiced(shape, "jpy")

        deliver(story.events)

        move = move_of(sandbox, invoice)
        assert move["currency_id"][1] == "JPY"
        assert (move["amount_untaxed"], move["amount_total"]) == (4900.0, 4900.0)
        assert move["amount_residual"] == 4900.0
        assert [line[1:4] for line in move_lines(sandbox, move)] == [
            ("PRO-M", 1.0, 4900.0)
        ]

    def test_euro_invoice_is_in_euros(self, sandbox, deliver) -> None:
        story, _, invoice = invoiced("basil", "eur", unit_amount=3900)

        deliver(story.events)

        move = move_of(sandbox, invoice)
        assert move["currency_id"][1] == "EUR"
        assert (move["amount_total"], move["amount_residual"]) == (39.0, 39.0)


# -- payments -----------------------------------------------------------------------


class TestPayments:
    @pytest.mark.parametrize("shape", SHAPES)
    def test_paid_invoice_gets_one_inbound_payment_in_the_stripe_journal(
        self, sandbox, deliver, shape
    ) -> None:
        story, _, invoice = invoiced(shape, quantity=2)
        intent = story.pay(invoice)

        deliver(story.events)

        move = move_of(sandbox, invoice)
        partner = partner_of(sandbox, story.customer_id)
        assert (move["payment_state"], move["amount_residual"]) == ("paid", 0.0)
        payment = one(payments_with_memo(sandbox, intent), f"payment {intent}")
        assert_payment(
            payment, memo=intent, amount=98.0, payment_type="inbound", partner=partner
        )
        assert payment["reconciled_invoice_ids"] == [move["id"]]
        assert len(payments_of_partner(sandbox, partner)) == 1

    @pytest.mark.parametrize("shape", SHAPES)
    def test_every_event_delivered_twice_registers_one_payment(
        self, sandbox, deliver, shape
    ) -> None:
        story, _, invoice = invoiced(shape)
        intent = story.pay(invoice)

        deliver([event for event in story.events for _ in range(2)])

        partner = partner_of(sandbox, story.customer_id)
        payment = one(payments_with_memo(sandbox, intent), f"payment {intent}")
        assert_payment(
            payment, memo=intent, amount=49.0, payment_type="inbound", partner=partner
        )
        assert len(payments_of_partner(sandbox, partner)) == 1
        move = move_of(sandbox, invoice)
        assert (move["payment_state"], move["amount_residual"]) == ("paid", 0.0)

    @pytest.mark.parametrize("shape", SHAPES)
    def test_payment_arriving_before_its_invoice_is_registered_once(
        self, sandbox, deliver, store, shape
    ) -> None:
        story, _, invoice = invoiced(shape)
        intent = story.pay(invoice)
        invoice_events = [e for e in story.events if e["type"].startswith("invoice.")]
        others = [e for e in story.events if e not in invoice_events]

        deliver(others[:2])  # the customer and its subscription
        # The payment's events are tried before the invoice exists at all ...
        deliver(others[2:], until=(*FINAL, "waiting"))
        # ... which then arrives newest state first.
        deliver(invoice_events[::-1])
        settle(store, story.events)

        partner = partner_of(sandbox, story.customer_id)
        payment = one(payments_with_memo(sandbox, intent), f"payment {intent}")
        assert_payment(
            payment, memo=intent, amount=49.0, payment_type="inbound", partner=partner
        )
        assert len(payments_of_partner(sandbox, partner)) == 1
        move = move_of(sandbox, invoice)
        assert move["state"] == "posted"
        assert (move["payment_state"], move["amount_residual"]) == ("paid", 0.0)
        assert [line[1:4] for line in move_lines(sandbox, move)] == [
            ("PRO-M", 1.0, 49.0)
        ]

    def test_partial_payment_leaves_the_rest_due(self, sandbox, deliver) -> None:
        story, _, invoice = invoiced(quantity=3)
        intent = story.pay(invoice, 4900)

        applied = deliver(story.events)

        assert [s.status for s in by_type(applied, "invoice.updated")] == ["done"]
        move = move_of(sandbox, invoice)
        assert (move["payment_state"], move["amount_residual"]) == ("partial", 98.0)
        assert move["amount_total"] == 147.0
        partner = partner_of(sandbox, story.customer_id)
        payment = one(payments_with_memo(sandbox, intent), f"payment {intent}")
        assert_payment(
            payment,
            memo=intent,
            amount=49.0,
            payment_type="inbound",
            partner=partner,
            state="in_process",
        )

    def test_second_partial_payment_settles_the_invoice(self, sandbox, deliver) -> None:
        story, _, invoice = invoiced(quantity=3)
        first = story.pay(invoice, 4900)
        second = story.pay(invoice)

        deliver(story.events)

        move = move_of(sandbox, invoice)
        assert (move["payment_state"], move["amount_residual"]) == ("paid", 0.0)
        partner = partner_of(sandbox, story.customer_id)
        for intent, amount in ((first, 49.0), (second, 98.0)):
            payment = one(payments_with_memo(sandbox, intent), f"payment {intent}")
            assert_payment(
                payment,
                memo=intent,
                amount=amount,
                payment_type="inbound",
                partner=partner,
            )
        assert len(payments_of_partner(sandbox, partner)) == 2

    @pytest.mark.parametrize("shape", SHAPES)
    def test_yen_payment_is_in_whole_yen(self, sandbox, deliver, shape) -> None:
        story, _, invoice = invoiced(shape, "jpy")
        intent = story.pay(invoice)

        deliver(story.events)

        partner = partner_of(sandbox, story.customer_id)
        payment = one(payments_with_memo(sandbox, intent), f"payment {intent}")
        assert_payment(
            payment,
            memo=intent,
            amount=4900.0,
            payment_type="inbound",
            partner=partner,
            currency="JPY",
        )
        move = move_of(sandbox, invoice)
        assert (move["payment_state"], move["amount_residual"]) == ("paid", 0.0)

    @pytest.mark.parametrize("shape", SHAPES)
    def test_payment_is_filed_under_its_customers_account(
        self, store, deliver, shape
    ) -> None:
        """The account is what refunds and disputes, which do not name their
        customer, find the customer's lock through."""
        story, _, invoice = invoiced(shape)
        finalized = len(story.events)
        intent = story.pay(invoice)

        deliver(story.events[:finalized], *one_by_one(story.events[finalized:]))

        with store.session() as session:
            accounts = dict(
                session.execute(
                    select(CrossReference.object_type, CrossReference.account_id).where(
                        CrossReference.system == "stripe",
                        CrossReference.external_id.in_(
                            [story.customer_id, invoice, intent]
                        ),
                    )
                ).all()
            )
        assert accounts["customer"] is not None
        assert accounts["payment"] == accounts["customer"] == accounts["invoice"], (
            f"payment {intent} is under account {accounts['payment']}, its customer "
            f"and invoice under {accounts['customer']} and {accounts['invoice']}"
        )


# -- dunning ------------------------------------------------------------------------


class TestDunning:
    @pytest.mark.parametrize("shape", SHAPES)
    def test_failed_payment_tags_dunning_and_opens_a_collections_activity(
        self, sandbox, deliver, shape
    ) -> None:
        story, _, invoice = invoiced(shape)
        intent = story.fail_payment(invoice)

        deliver(story.events)

        partner = partner_of(sandbox, story.customer_id)
        assert tag_names(sandbox, partner) == {"revsync: past due", "revsync: dunning"}
        assert activities_on(sandbox, "res.partner", partner["id"]) == [
            ("Collections: payment failed", "res.partner", partner["id"])
        ]
        move = move_of(sandbox, invoice)
        assert move["state"] == "posted"
        assert (move["payment_state"], move["amount_residual"]) == ("not_paid", 49.0)
        assert payments_with_memo(sandbox, intent) == []

    def test_failed_payment_intent_and_charge_alone_are_skipped(self, deliver) -> None:
        story, _, invoice = invoiced()
        story.fail_payment(invoice)

        applied = deliver(story.events)

        assert outcome(by_type(applied, "payment_intent.payment_failed")[0]) == (
            "skipped",
            "dunning is booked from invoice.payment_failed",
        )
        assert outcome(by_type(applied, "charge.failed")[0]) == (
            "skipped",
            "no handler for stripe event type charge.failed",
        )

    @pytest.mark.parametrize("shape", SHAPES)
    def test_payment_after_failure_clears_dunning_and_the_activity(
        self, sandbox, deliver, shape
    ) -> None:
        story, sub, invoice = invoiced(shape)
        intent = story.fail_payment(invoice)
        failed = len(story.events)
        assert story.pay(invoice) == intent
        story.recover(sub)

        # The failure is applied first: one arriving after the payment is skipped
        # and opens nothing to close.
        deliver(story.events[:failed], story.events[failed:])

        partner = partner_of(sandbox, story.customer_id)
        assert tag_names(sandbox, partner) == {"revsync: active"}
        assert activities_on(sandbox, "res.partner", partner["id"]) == []
        assert any(
            "Collections: payment failed" in body and "paid in Stripe" in body
            for body in messages_on(sandbox, "res.partner", partner["id"])
        )
        payment = one(payments_with_memo(sandbox, intent), f"payment {intent}")
        assert_payment(
            payment, memo=intent, amount=49.0, payment_type="inbound", partner=partner
        )
        move = move_of(sandbox, invoice)
        assert (move["payment_state"], move["amount_residual"]) == ("paid", 0.0)

    def test_payment_action_required_asks_collections_for_customer_action(
        self, sandbox, deliver
    ) -> None:
        story, _, invoice = invoiced()
        pending = latest(story, invoice)
        pending.update(attempted=True, attempt_count=1)
        append_event(story, "invoice.payment_action_required", pending)

        deliver(story.events)

        partner = partner_of(sandbox, story.customer_id)
        assert activities_on(sandbox, "res.partner", partner["id"]) == [
            (
                "Collections: customer action required to pay",
                "res.partner",
                partner["id"],
            )
        ]
        assert tag_names(sandbox, partner) == {"revsync: active", "revsync: dunning"}
        assert move_of(sandbox, invoice)["payment_state"] == "not_paid"


# -- refunds ------------------------------------------------------------------------


def assert_refund_books(
    sandbox: Any,
    story: StripeStory,
    invoice_id: str,
    refund_id: str,
    amount: float,
    currency: str = "USD",
) -> None:
    """One posted credit note against the invoice, paid back through Stripe."""
    partner = partner_of(sandbox, story.customer_id)
    invoice = move_of(sandbox, invoice_id)
    note = move_of(sandbox, refund_id, "out_refund")
    assert note["invoice_origin"] == invoice_id
    assert note["reversed_entry_id"] is False
    assert note["partner_id"][0] == partner["id"]
    assert note["currency_id"][1] == currency
    assert note["state"] == "posted"
    assert (note["amount_untaxed"], note["amount_total"]) == (amount, amount)
    assert (note["payment_state"], note["amount_residual"]) == ("paid", 0.0)
    assert [line[2:5] for line in move_lines(sandbox, note)] == [(1.0, amount, [])]
    assert [n["id"] for n in credit_notes_of(sandbox, invoice)] == [note["id"]]
    payment = one(payments_with_memo(sandbox, refund_id), f"payment {refund_id}")
    assert_payment(
        payment,
        memo=refund_id,
        amount=amount,
        payment_type="outbound",
        partner=partner,
        currency=currency,
    )
    assert (invoice["payment_state"], invoice["amount_residual"]) == ("paid", 0.0)


def refunded(
    shape: Shape, currency: str = "usd", amount: int | None = None
) -> tuple[StripeStory, str, str, int]:
    """A paid invoice refunded; also returns where the refund's events start."""
    story, _, invoice = invoiced(shape, currency)
    intent = story.pay(invoice)
    paid = len(story.events)
    refund = story.refund(intent, amount)
    return story, invoice, refund, paid


class TestRefunds:
    """The refund's events are delivered one at a time once the payment is booked:
    legacy refunds lock on their payment, not their customer (see
    test_refund_waits_while_its_customer_is_locked), and these tests are about
    what is booked, not about that race."""

    @pytest.mark.parametrize("shape", SHAPES)
    def test_full_refund_is_a_credit_note_paid_back_through_stripe(
        self, sandbox, deliver, shape
    ) -> None:
        story, invoice, refund, paid = refunded(shape)

        deliver(story.events[:paid], *one_by_one(story.events[paid:]))

        assert_refund_books(sandbox, story, invoice, refund, 49.0)

    @pytest.mark.parametrize("shape", SHAPES)
    def test_partial_refund_credits_only_the_refunded_amount(
        self, sandbox, deliver, shape
    ) -> None:
        story, invoice, refund, paid = refunded(shape, amount=1500)

        deliver(story.events[:paid], *one_by_one(story.events[paid:]))

        assert_refund_books(sandbox, story, invoice, refund, 15.0)

    @pytest.mark.parametrize("shape", SHAPES)
    def test_refund_events_delivered_twice_book_one_credit_note(
        self, sandbox, deliver, shape
    ) -> None:
        story, invoice, refund, paid = refunded(shape)

        applied = deliver(story.events[:paid], *one_by_one(story.events[paid:], 2))

        assert [s.status for s in by_type(applied, "refund.created")] == ["done"]
        assert_refund_books(sandbox, story, invoice, refund, 49.0)

    @pytest.mark.parametrize("shape", SHAPES)
    def test_yen_refund_is_in_whole_yen(self, sandbox, deliver, shape) -> None:
        story, invoice, refund, paid = refunded(shape, "jpy")

        deliver(story.events[:paid], *one_by_one(story.events[paid:]))

        assert_refund_books(sandbox, story, invoice, refund, 4900.0, "JPY")

    @pytest.mark.parametrize("shape", SHAPES)
    def test_pending_refund_is_booked_once_updated_to_succeeded(
        self, sandbox, deliver, shape
    ) -> None:
        story, invoice, refund, paid = refunded(shape)
        created = first_event(story, "refund.created")
        created["data"]["object"]["status"] = "pending"
        charge = first_event(story, "charge.refunded")["data"]["object"]
        for embedded in (charge.get("refunds") or {}).get("data", []):
            embedded["status"] = "pending"
        updated = append_event(
            story, "refund.updated", latest(story, refund), {"status": "pending"}
        )
        updated["data"]["object"]["status"] = "succeeded"

        applied = deliver(story.events[:paid], *one_by_one(story.events[paid:]))

        assert outcome(applied[created["id"]]) == (
            "skipped",
            "refund is pending; only succeeded refunds are booked",
        )
        assert applied[updated["id"]].status == "done"
        assert_refund_books(sandbox, story, invoice, refund, 49.0)

    @pytest.mark.parametrize("shape", SHAPES)
    def test_refund_updated_after_booking_changes_nothing(
        self, sandbox, deliver, shape
    ) -> None:
        story, invoice, refund, paid = refunded(shape)
        arrived = latest(story, refund)
        arrived["destination_details"]["card"].update(
            reference="74987654321", reference_status="available"
        )
        updated = append_event(
            story,
            "refund.updated",
            arrived,
            {"destination_details": latest(story, refund)["destination_details"]},
        )

        applied = deliver(story.events[:paid], *one_by_one(story.events[paid:]))

        assert outcome(applied[updated["id"]]) == ("skipped", "refund already booked")
        assert_refund_books(sandbox, story, invoice, refund, 49.0)

    @pytest.mark.parametrize("shape", SHAPES)
    def test_refund_waits_while_its_customer_is_locked(
        self, sandbox, deliver, post_stripe, store, redis_client, shape
    ) -> None:
        story, invoice, refund, paid = refunded(shape)
        created = first_event(story, "refund.created")
        deliver(story.events[:paid])

        # As if another event of this customer were being applied right now.
        key = f"stripe:customer:{story.customer_id}"
        with account_lock(redis_client, key, timeout=30, wait=5):
            assert post_stripe(created).status_code == 200
            early = applied_within(store, created["id"], 2)
        deliver(story.events[paid:])

        assert early is None, f"{created['type']} applied while {key} was locked"
        assert_refund_books(sandbox, story, invoice, refund, 49.0)


# -- disputes -----------------------------------------------------------------------


def dispute_events(story: StripeStory, *types: str) -> list[Event]:
    return [e for e in story.events if e["type"] in types]


class TestDisputes:
    @pytest.mark.parametrize("shape", SHAPES)
    def test_opened_dispute_puts_a_follow_up_on_the_invoice(
        self, sandbox, deliver, shape
    ) -> None:
        story, _, invoice = invoiced(shape)
        intent = story.pay(invoice)
        story.dispute(intent, "lost")
        opened = [e for e in story.events if e["type"] != "charge.dispute.closed"]

        deliver(opened)

        move = move_of(sandbox, invoice)
        assert activities_on(sandbox, "account.move", move["id"]) == [
            ("Stripe dispute opened (fraudulent)", "account.move", move["id"])
        ]
        assert credit_notes_of(sandbox, move) == []
        assert (move["payment_state"], move["amount_residual"]) == ("paid", 0.0)

    def test_dispute_updated_with_evidence_keeps_one_follow_up(
        self, sandbox, deliver
    ) -> None:
        story, _, invoice = invoiced()
        dispute = story.dispute(story.pay(invoice), "won")
        closing = dispute_events(
            story, "charge.dispute.closed", "charge.dispute.funds_reinstated"
        )
        opened = [e for e in story.events if e not in closing]
        reviewed = latest(story, dispute)
        reviewed.update(status="under_review")
        updated = append_event(
            story,
            "charge.dispute.updated",
            reviewed,
            {"status": "needs_response", "evidence": {"uncategorized_text": None}},
        )

        applied = deliver([*opened, updated])

        assert applied[updated["id"]].status == "done"
        move = move_of(sandbox, invoice)
        assert activities_on(sandbox, "account.move", move["id"]) == [
            ("Stripe dispute opened (fraudulent)", "account.move", move["id"])
        ]

    @pytest.mark.parametrize("shape", SHAPES)
    def test_lost_dispute_is_a_credit_note_paid_by_the_withdrawn_funds(
        self, sandbox, deliver, shape
    ) -> None:
        story, _, invoice = invoiced(shape)
        dispute = story.dispute(story.pay(invoice), "lost")
        closed = first_event(story, "charge.dispute.closed")
        at = story.events.index(closed)

        # Opened before it is closed: a closed dispute skips a late opening.
        deliver(story.events[:at], story.events[at:])

        assert_refund_books(sandbox, story, invoice, dispute, 49.0)
        move = move_of(sandbox, invoice)
        assert activities_on(sandbox, "account.move", move["id"]) == []
        assert any(
            "Stripe dispute opened" in body and "dispute lost" in body
            for body in messages_on(sandbox, "account.move", move["id"])
        )

    @pytest.mark.parametrize("shape", SHAPES)
    def test_won_dispute_closes_the_follow_up_without_a_credit_note(
        self, sandbox, deliver, shape
    ) -> None:
        story, _, invoice = invoiced(shape)
        dispute = story.dispute(story.pay(invoice), "won")

        applied = deliver(story.events)

        assert [
            s.status for s in by_type(applied, "charge.dispute.funds_reinstated")
        ] == ["done"]
        move = move_of(sandbox, invoice)
        assert activities_on(sandbox, "account.move", move["id"]) == []
        assert credit_notes_of(sandbox, move) == []
        assert payments_with_memo(sandbox, dispute) == []
        assert (move["payment_state"], move["amount_residual"]) == ("paid", 0.0)

    @pytest.mark.parametrize("shape", SHAPES)
    def test_dispute_waits_while_its_customer_is_locked(
        self, sandbox, deliver, post_stripe, store, redis_client, shape
    ) -> None:
        story, _, invoice = invoiced(shape)
        intent = story.pay(invoice)
        paid = len(story.events)
        dispute = story.dispute(intent, "lost")
        created = first_event(story, "charge.dispute.created")
        deliver(story.events[:paid])

        # As if another event of this customer were being applied right now.
        key = f"stripe:customer:{story.customer_id}"
        with account_lock(redis_client, key, timeout=30, wait=5):
            assert post_stripe(created).status_code == 200
            early = applied_within(store, created["id"], 2)
        deliver(story.events[paid:])

        assert early is None, f"{created['type']} applied while {key} was locked"
        assert_refund_books(sandbox, story, invoice, dispute, 49.0)


# -- credit notes -------------------------------------------------------------------


def credited(
    shape: Shape = "basil", amount: int = 1000, memo: str | None = None
) -> tuple[StripeStory, str, str, int]:
    """An open invoice credited before payment; also returns where the credit
    note's events start."""
    story, _, invoice = invoiced(shape)
    finalized = len(story.events)
    note_id = story.credit_note(invoice, amount, memo=memo)
    return story, invoice, note_id, finalized


def voided(story: StripeStory, invoice: str, note_id: str) -> Event:
    """credit_note.voided and the invoice.updated that owes the credit again."""
    void = latest(story, note_id)
    void.update(status="void", voided_at=story.now + 1)
    event = append_event(
        story, "credit_note.voided", void, {"status": "issued", "voided_at": None}
    )
    owed = latest(story, invoice)
    credited = owed["pre_payment_credit_notes_amount"]
    owed.update(
        amount_due=owed["amount_due"] + credited,
        amount_remaining=owed["amount_remaining"] + credited,
        pre_payment_credit_notes_amount=0,
    )
    append_event(
        story,
        "invoice.updated",
        owed,
        {
            "amount_due": owed["amount_due"] - credited,
            "amount_remaining": owed["amount_remaining"] - credited,
            "pre_payment_credit_notes_amount": credited,
        },
    )
    return event


class TestCreditNotes:
    """The invoice is finalized before its credit note's events are delivered;
    the tests delivering them earlier are the ones about delivery order."""

    @pytest.mark.parametrize("shape", SHAPES)
    def test_credit_note_on_an_open_invoice_is_an_out_refund_against_it(
        self, sandbox, deliver, shape
    ) -> None:
        story, invoice, note_id, finalized = credited(shape, memo="Goodwill credit")

        applied = deliver(story.events[:finalized], story.events[finalized:])

        assert [s.status for s in by_type(applied, "credit_note.created")] == ["done"]
        partner = partner_of(sandbox, story.customer_id)
        move = move_of(sandbox, invoice)
        note = move_of(sandbox, note_id, "out_refund")
        assert note["reversed_entry_id"][0] == move["id"]
        assert note["partner_id"][0] == partner["id"]
        assert note["currency_id"][1] == "USD"
        assert note["state"] == "posted"
        assert (note["amount_untaxed"], note["amount_total"]) == (10.0, 10.0)
        assert move_lines(sandbox, note) == [("Goodwill credit", None, 1.0, 10.0, [])]
        assert [n["id"] for n in credit_notes_of(sandbox, move)] == [note["id"]]

    @pytest.mark.parametrize("shape", SHAPES)
    def test_credit_note_on_an_open_invoice_lowers_what_is_due(
        self, sandbox, deliver, shape
    ) -> None:
        story, invoice, note_id, finalized = credited(shape)

        applied = deliver(story.events[:finalized], story.events[finalized:])

        assert [s.status for s in by_type(applied, "invoice.updated")] == ["done"]
        assert story.expected["invoices"][invoice]["amount_remaining"] == 3900
        move = move_of(sandbox, invoice)
        assert (move["payment_state"], move["amount_residual"]) == ("partial", 39.0)
        note = move_of(sandbox, note_id, "out_refund")
        assert (note["payment_state"], note["amount_residual"]) == ("paid", 0.0)

    def test_credit_note_before_its_invoice_is_finalized_still_lowers_what_is_due(
        self, sandbox, deliver, store
    ) -> None:
        story, sub = signed_up()
        invoice = story.invoice(sub)
        drafted = len(story.events)
        story.finalize(invoice)
        note_id = story.credit_note(invoice, 1000)
        created = first_event(story, "credit_note.created")
        later = [e for e in story.events[drafted:] if e is not created]

        deliver(story.events[:drafted])
        deliver([created], until=(*FINAL, "waiting"))
        deliver(later)
        settle(store, story.events)

        move = move_of(sandbox, invoice)
        assert move["state"] == "posted"
        assert (move["payment_state"], move["amount_residual"]) == ("partial", 39.0)
        note = move_of(sandbox, note_id, "out_refund")
        assert (note["state"], note["payment_state"]) == ("posted", "paid")

    def test_invoice_settled_by_credit_note_and_payment_is_paid(
        self, sandbox, deliver
    ) -> None:
        story, invoice, _, finalized = credited()
        credit_noted = len(story.events)
        intent = story.pay(invoice)

        deliver(
            story.events[:finalized],
            story.events[finalized:credit_noted],
            story.events[credit_noted:],
        )

        move = move_of(sandbox, invoice)
        assert (move["payment_state"], move["amount_residual"]) == ("paid", 0.0)
        partner = partner_of(sandbox, story.customer_id)
        payment = one(payments_with_memo(sandbox, intent), f"payment {intent}")
        assert_payment(
            payment, memo=intent, amount=39.0, payment_type="inbound", partner=partner
        )

    @pytest.mark.parametrize("shape", SHAPES)
    def test_credit_note_backed_by_a_refund_credits_the_invoice_once(
        self, sandbox, deliver, shape
    ) -> None:
        story, invoice, refund, paid = refunded(shape, amount=2000)
        refunded_at = len(story.events)
        note_id = story.credit_note(invoice, 2000, refund, reason="order_change")

        deliver(
            story.events[:paid],
            *one_by_one(story.events[paid:refunded_at]),
            story.events[refunded_at:],
        )

        assert story.expected["credit_notes"][note_id]["refund"] == refund
        move = move_of(sandbox, invoice)
        notes = credit_notes_of(sandbox, move)
        assert [(n["amount_total"], n["state"], n["payment_state"]) for n in notes] == [
            (20.0, "posted", "paid")
        ], [note["payment_reference"] for note in notes]
        payment = one(payments_with_memo(sandbox, refund), f"payment {refund}")
        assert (payment["amount"], payment["payment_type"]) == (20.0, "outbound")

    def test_credit_note_updated_changes_nothing(self, sandbox, deliver) -> None:
        story, invoice, note_id, finalized = credited()
        edited = latest(story, note_id)
        edited["memo"] = "Credited for the outage"
        updated = append_event(story, "credit_note.updated", edited, {"memo": None})

        applied = deliver(
            story.events[:finalized], story.events[finalized:-1], [updated]
        )

        assert applied[updated["id"]].status == "done"
        move = move_of(sandbox, invoice)
        note = move_of(sandbox, note_id, "out_refund")
        assert [n["id"] for n in credit_notes_of(sandbox, move)] == [note["id"]]
        assert (note["state"], note["amount_total"]) == ("posted", 10.0)
        assert move["amount_residual"] == 39.0

    @pytest.mark.parametrize("shape", SHAPES)
    def test_voided_credit_note_is_cancelled_and_the_invoice_due_again(
        self, sandbox, deliver, shape
    ) -> None:
        story, invoice, note_id, finalized = credited(shape)
        credit_noted = len(story.events)
        void = voided(story, invoice, note_id)

        applied = deliver(
            story.events[:finalized],
            story.events[finalized:credit_noted],
            story.events[credit_noted:],
        )

        assert applied[void["id"]].status == "done"
        note = move_of(sandbox, note_id, "out_refund")
        assert note["state"] == "cancel"
        move = move_of(sandbox, invoice)
        assert (move["payment_state"], move["amount_residual"]) == ("not_paid", 49.0)

    def test_voided_credit_note_arriving_before_its_creation_stays_void(
        self, sandbox, deliver, store
    ) -> None:
        story, invoice, note_id, finalized = credited()
        credit_noted = len(story.events)
        void = voided(story, invoice, note_id)

        deliver(story.events[:finalized])
        deliver([void], until=(*FINAL, "waiting"))
        deliver(story.events[finalized:credit_noted], story.events[credit_noted + 1 :])
        settle(store, story.events)

        notes = sandbox.records(
            "account.move",
            domain=[
                ("payment_reference", "=", note_id),
                ("move_type", "=", "out_refund"),
            ],
        )
        assert [note["state"] for note in notes if note["state"] != "cancel"] == []
        move = move_of(sandbox, invoice)
        assert (move["payment_state"], move["amount_residual"]) == ("not_paid", 49.0)
