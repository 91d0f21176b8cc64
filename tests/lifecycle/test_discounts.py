"""Discounted Stripe invoices land in Odoo with Stripe's own amounts, to the cent.

Each test tells a customer's story with coupons on an invoice, in both payload
shapes, applies its events through the pipeline against a fresh Odoo sandbox
(``Books``) and compares the move's untaxed amount, tax and total with the invoice
Stripe sent, then pays the invoice and expects nothing left to pay.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import sibling_redis
from tests.lifecycle.harness import MAPPING, Books
from worker.errors import PermanentError
from worker.money import to_amount
from worker.pipeline import record_failure
from worker.scenarios import Coupon, Shape, StripeStory, TaxRate
from worker.store import InboxStatus, Store

SHAPES: list[Shape] = ["basil", "legacy"]
PRO = ("price_pro_monthly", "prod_price_pro_monthly")
VAT = TaxRate("txr_vat_19", 19)
JP_TAX = TaxRate("txr_jct_10", 10)
TAXES = {VAT.id: "VAT 19% (sales)", JP_TAX.id: "JCT 10% (sales)"}

Record = dict[str, Any]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    directory = tmp_path_factory.mktemp("discounts")
    books_store = Store(f"sqlite:///{directory}/books.db")
    books_store.upgrade()
    return books_store


@pytest.fixture(scope="module")
def mapping(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("mapping") / "mapping.toml"
    taxes = "".join(f'{rate} = "{name}"\n' for rate, name in TAXES.items())
    path.write_text(f"{MAPPING}\n[taxes]\n{taxes}")
    return str(path)


@pytest.fixture
def books(store: Store, redis_url: str, mapping: str) -> Iterator[Books]:
    # A Redis database no worker listens to: wake-ups published here go nowhere.
    target = Books(store, sibling_redis(redis_url, 2), mapping)
    for rate in (VAT, JP_TAX):
        target.sandbox.create_direct(
            "account.tax",
            {
                "name": TAXES[rate.id],
                "amount": float(rate.percentage),
                "type_tax_use": "sale",
            },
        )
    try:
        yield target
    finally:
        target.close()


def story_for(
    shape: Shape, currency: str = "usd", *, unit_amount: int = 4900, quantity: int = 1
) -> tuple[StripeStory, str]:
    story = StripeStory("cus_disc", shape=shape, currency=currency, prefix="d")
    story.customer_created("Discount Test Ltd", "ap@discount.example", "DE")
    sub = story.subscribe(*PRO, unit_amount, quantity, False)
    return story, sub


def invoice_object(story: StripeStory, invoice_id: str) -> Record:
    """The invoice as the story's last event carried it."""
    for event in reversed(story.events):
        obj = event["data"]["object"]
        if obj.get("id") == invoice_id:
            return copy.deepcopy(obj)
    raise AssertionError(f"no event carries {invoice_id}")


def move_of(books: Books, invoice_id: str) -> Record:
    moves = books.sandbox.records(
        "account.move", domain=[("payment_reference", "=", invoice_id)]
    )
    assert len(moves) == 1
    return moves[0]


def product_lines(books: Books, move_id: int) -> list[Record]:
    return books.sandbox.records(
        "account.move.line",
        domain=[("move_id", "=", move_id), ("display_type", "=", "product")],
        order="id",
    )


def stripe_amounts(invoice: Record) -> tuple[int, int, int]:
    """Untaxed, tax and total of an invoice, computed from what Stripe reports."""
    discounts = sum(entry["amount"] for entry in invoice["total_discount_amounts"])
    untaxed = invoice["subtotal"] - discounts
    return untaxed, invoice["total"] - untaxed, invoice["total"]


def assert_books_match(books: Books, story: StripeStory, invoice_id: str) -> Record:
    assert books.failures() == []
    invoice = invoice_object(story, invoice_id)
    move = move_of(books, invoice_id)
    currency = invoice["currency"]
    untaxed, tax, total = stripe_amounts(invoice)
    assert (move["amount_untaxed"], move["amount_tax"], move["amount_total"]) == (
        to_amount(untaxed, currency),
        to_amount(tax, currency),
        to_amount(total, currency),
    )
    return move


def run(books: Books, story: StripeStory) -> None:
    books.process(books.deliver(story.events))


def pay_and_check(books: Books, story: StripeStory, invoice_id: str) -> None:
    before = len(story.events)
    story.pay(invoice_id)
    books.process(books.deliver(story.events[before:]))
    assert books.failures() == []
    move = move_of(books, invoice_id)
    assert move["payment_state"] in ("paid", "in_payment")
    assert move["amount_residual"] == 0.0


class TestDiscountedInvoices:
    @pytest.mark.parametrize("shape", SHAPES)
    def test_percent_off_coupon(self, books: Books, shape: Shape) -> None:
        story, sub = story_for(shape)
        invoice = story.invoice(sub, discounts=[Coupon("SPRING25", percent_off=25)])
        story.finalize(invoice)

        run(books, story)

        move = assert_books_match(books, story, invoice)
        assert move["amount_total"] == 36.75
        [line] = product_lines(books, move["id"])
        assert line["product_id"][1].startswith("[PRO-M]")
        assert line["price_subtotal"] == 36.75
        assert "less 12.25 USD discount" in line["name"]
        pay_and_check(books, story, invoice)

    @pytest.mark.parametrize("shape", SHAPES)
    def test_amount_off_coupon_on_several_seats(
        self, books: Books, shape: Shape
    ) -> None:
        story, sub = story_for(shape, quantity=3)
        invoice = story.invoice(sub, discounts=[Coupon("WELCOME", amount_off=500)])
        story.finalize(invoice)

        run(books, story)

        move = assert_books_match(books, story, invoice)
        assert move["amount_total"] == 142.00
        pay_and_check(books, story, invoice)

    @pytest.mark.parametrize("shape", SHAPES)
    def test_two_discounts_over_a_proration(self, books: Books, shape: Shape) -> None:
        story, sub = story_for(shape)
        invoice = story.invoice(
            sub,
            proration_lines=[(-1633, "Unused time"), (3267, "Remaining time")],
            discounts=[
                Coupon("LOYAL", amount_off=1000),
                Coupon("TENOFF", percent_off=10),
            ],
        )
        story.finalize(invoice)

        run(books, story)

        move = assert_books_match(books, story, invoice)
        sent = invoice_object(story, invoice)
        assert len(sent["total_discount_amounts"]) == 2
        lines = product_lines(books, move["id"])
        assert [line["price_subtotal"] for line in lines] == [
            to_amount(
                line["amount"] - sum(d["amount"] for d in line["discount_amounts"]),
                "usd",
            )
            for line in sent["lines"]["data"]
        ]
        pay_and_check(books, story, invoice)

    @pytest.mark.parametrize("shape", SHAPES)
    def test_tax_is_charged_on_the_discounted_base(
        self, books: Books, shape: Shape
    ) -> None:
        # 19 % of 10.03 rounds to 1.91 and of -0.02 to -0.00; Stripe taxes the
        # 10.01 the coupon leaves: 1.90. Only the discounted base gives Stripe's tax.
        story, sub = story_for(shape, unit_amount=1003)
        invoice = story.invoice(
            sub, tax_rate=VAT, discounts=[Coupon("TWOCENTS", amount_off=2)]
        )
        story.finalize(invoice)

        run(books, story)

        move = assert_books_match(books, story, invoice)
        assert (move["amount_untaxed"], move["amount_tax"]) == (10.01, 1.90)
        [line] = product_lines(books, move["id"])
        assert [tax["name"] for tax in _taxes(books, line)] == [TAXES[VAT.id]]
        pay_and_check(books, story, invoice)

    @pytest.mark.parametrize("shape", SHAPES)
    def test_taxed_lines_with_two_coupons(self, books: Books, shape: Shape) -> None:
        story, sub = story_for(shape, unit_amount=1999, quantity=2)
        invoice = story.invoice(
            sub,
            proration_lines=[(1555, "Added seat")],
            tax_rate=VAT,
            discounts=[
                Coupon("QUARTER", percent_off=Decimal("25.5")),
                Coupon("FIVE", amount_off=500),
            ],
        )
        story.finalize(invoice)

        run(books, story)

        assert_books_match(books, story, invoice)
        pay_and_check(books, story, invoice)

    @pytest.mark.parametrize("shape", SHAPES)
    def test_a_fully_discounted_invoice_is_paid_at_zero(
        self, books: Books, shape: Shape
    ) -> None:
        story, sub = story_for(shape)
        invoice = story.invoice(
            sub, tax_rate=VAT, discounts=[Coupon("FREE", percent_off=100)]
        )
        story.finalize(invoice)
        assert invoice_object(story, invoice)["status"] == "paid"

        run(books, story)

        move = assert_books_match(books, story, invoice)
        assert move["amount_total"] == 0.0
        assert move["state"] == "posted"
        assert move["payment_state"] == "paid"
        assert move["amount_residual"] == 0.0
        assert books.sandbox.records("account.payment") == []

    @pytest.mark.parametrize("shape", SHAPES)
    def test_zero_decimal_currency(self, books: Books, shape: Shape) -> None:
        story, sub = story_for(shape, "jpy", unit_amount=4980, quantity=3)
        invoice = story.invoice(
            sub,
            tax_rate=JP_TAX,
            discounts=[
                Coupon("YEN15", percent_off=15),
                Coupon("YEN333", amount_off=333),
            ],
        )
        story.finalize(invoice)

        run(books, story)

        move = assert_books_match(books, story, invoice)
        # 14,940 less 2,241 (15 %) less 333 leaves 12,366 yen, taxed 1,237.
        assert (move["amount_untaxed"], move["amount_tax"]) == (12366.0, 1237.0)
        [line] = product_lines(books, move["id"])
        assert "less 2574 JPY discount" in line["name"]
        pay_and_check(books, story, invoice)


def _taxes(books: Books, line: Record) -> list[Record]:
    return books.sandbox.records("account.tax", domain=[("id", "in", line["tax_ids"])])


class TestDiscountPayloads:
    def test_newer_payloads_name_discounts_only_as_pretax_credits(
        self, books: Books
    ) -> None:
        story, sub = story_for("basil")
        invoice = story.invoice(
            sub, tax_rate=VAT, discounts=[Coupon("SPRING25", percent_off=25)]
        )
        story.finalize(invoice)
        for event in story.events:
            obj = event["data"]["object"]
            if obj.get("object") == "invoice":
                obj.pop("total_discount_amounts")
                for line in obj["lines"]["data"]:
                    line.pop("discount_amounts")

        run(books, story)

        move = move_of(books, invoice)
        # 49.00 less 12.25 is 36.75, taxed 6.98 (19 % of 36.75 is 6.9825).
        assert (move["amount_untaxed"], move["amount_tax"], move["amount_total"]) == (
            36.75,
            6.98,
            43.73,
        )
        assert move["amount_total"] == to_amount(
            invoice_object(story, invoice)["total"], "usd"
        )

    def test_credit_balance_is_not_taken_for_a_discount(self, books: Books) -> None:
        story, sub = story_for("basil")
        invoice = story.invoice(sub)
        story.finalize(invoice)
        credit = {
            "amount": 900,
            "credit_balance_transaction": "cbtxn_1",
            "discount": None,
            "type": "credit_balance_transaction",
        }
        for event in story.events:
            obj = event["data"]["object"]
            if obj.get("object") == "invoice":
                obj["total_pretax_credit_amounts"] = [credit]
                obj["lines"]["data"][0]["pretax_credit_amounts"] = [credit]

        run(books, story)

        # A billing credit settles part of the invoice from a credit grant; it is
        # no discount, and is not booked as one.
        assert move_of(books, invoice)["amount_untaxed"] == 49.00

    @pytest.mark.parametrize("shape", SHAPES)
    def test_discounts_the_lines_do_not_account_for_are_refused(
        self, books: Books, shape: Shape
    ) -> None:
        story, sub = story_for(shape)
        invoice = story.invoice(sub, discounts=[Coupon("SPRING25", percent_off=25)])
        story.finalize(invoice)
        for event in story.events:
            obj = event["data"]["object"]
            if obj.get("object") == "invoice":
                obj["total_discount_amounts"][0]["amount"] = 1000
                if shape == "basil":
                    obj["total_pretax_credit_amounts"][0]["amount"] = 1000

        refused = []
        for inbox_id in books.deliver(story.events):
            try:
                books.apply(inbox_id)
            except PermanentError as error:
                # What the task policy does with it: dead, with the reason.
                record_failure(
                    books.runtime, inbox_id, status=InboxStatus.DEAD, reason=str(error)
                )
                refused.append(inbox_id)

        assert len(refused) == 2  # invoice.created and invoice.finalized
        reasons = {reason for _, reason in books.failures()}
        assert reasons == {
            f"Stripe invoice {invoice}: its lines carry discounts of 12.25 USD, "
            "the invoice 10.00 USD; not booked"
        }
        # Refused before anything was written: no move for the invoice.
        assert (
            books.sandbox.records(
                "account.move", domain=[("payment_reference", "=", invoice)]
            )
            == []
        )


class TestCouponsInStories:
    @pytest.mark.parametrize("shape", SHAPES)
    def test_a_coupon_larger_than_the_invoice_leaves_zero(self, shape: Shape) -> None:
        story, sub = story_for(shape, unit_amount=300)
        invoice = story.invoice(sub, discounts=[Coupon("BIG", amount_off=1000)])

        sent = invoice_object(story, invoice)
        assert sent["total"] == 0
        assert sent["total_discount_amounts"][0]["amount"] == 300

    def test_coupons_must_be_well_formed(self) -> None:
        with pytest.raises(ValueError, match="either percent_off or amount_off"):
            Coupon("BOTH", percent_off=10, amount_off=100)
        with pytest.raises(ValueError, match="either percent_off or amount_off"):
            Coupon("NONE")
        with pytest.raises(ValueError, match="percent_off out of range"):
            Coupon("TOOMUCH", percent_off=101)

    def test_a_coupon_is_redeemed_once_per_invoice(self) -> None:
        story, sub = story_for("basil")
        events = len(story.events)
        coupon = Coupon("ONCE", percent_off=10)

        with pytest.raises(ValueError, match="once per invoice"):
            story.invoice(sub, discounts=[coupon, coupon])
        assert len(story.events) == events


class TestDiscountsInAnyOrder:
    @pytest.mark.parametrize("shape", SHAPES)
    def test_reversed_duplicated_stream_books_the_same(
        self, store: Store, redis_url: str, mapping: str, shape: Shape
    ) -> None:
        story, sub = story_for(shape)
        first = story.invoice(
            sub,
            tax_rate=VAT,
            discounts=[Coupon("LOYAL", amount_off=700), Coupon("TEN", percent_off=10)],
        )
        story.finalize(first)
        story.pay(first)
        free = story.invoice(sub, discounts=[Coupon("FREE", percent_off=100)])
        story.finalize(free)

        snapshots = []
        for stream in (story.events, [e for e in reversed(story.events) for _ in "ab"]):
            target = Books(store, sibling_redis(redis_url, 2), mapping)
            target.sandbox.create_direct(
                "account.tax",
                {"name": TAXES[VAT.id], "amount": 19.0, "type_tax_use": "sale"},
            )
            try:
                target.process(target.deliver(stream))
                assert target.failures() == []
                assert target.duplicates() == {}
                assert_books_match(target, story, first)
                snapshots.append(target.snapshot())
            finally:
                target.close()

        assert snapshots[0] == snapshots[1]
