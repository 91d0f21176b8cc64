"""Money given back takes its tax back: refunds, lost disputes and credit notes of
taxed invoices, in both payload shapes, against the Odoo sandbox.

Each test tells a story with a taxed invoice (EUR at 19 %, or JPY at 10 % in
whole yen), applies its events in-process through the pipeline (``Books``) and
reads the credit notes: their total must be what Stripe gave back to the minor
unit, and their tax the invoice's tax in proportion, rounded once. Expected
amounts are worked out here from Stripe's own numbers, never read from Odoo.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import sibling_redis
from tests.lifecycle.harness import MAPPING, Books
from worker.money import to_amount
from worker.scenarios import Shape, StripeStory, TaxRate
from worker.store import Store

SHAPES: list[Shape] = ["basil", "legacy"]
VAT = TaxRate("txr_de_vat", Decimal("19"), country="DE")
JCT = TaxRate("txr_jp_ct", Decimal("10"), display_name="JCT", country="JP")
TAXED_MAPPING = (
    MAPPING
    + """
[taxes]
txr_de_vat = "VAT 19%"
txr_jp_ct = "JCT 10%"
"""
)

Record = dict[str, Any]


@pytest.fixture(scope="module")
def books_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('taxes')}/books.db")
    store.upgrade()
    return store


@pytest.fixture(scope="module")
def taxed_mapping(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = Path(tmp_path_factory.mktemp("taxed")) / "mapping.toml"
    path.write_text(TAXED_MAPPING)
    return str(path)


class Ledger:
    """Fresh books with the mapped sale taxes in Odoo."""

    def __init__(self, store: Store, redis_url: str, mapping: str) -> None:
        self.store, self.redis_url, self.mapping = store, redis_url, mapping
        self.opened: list[Books] = []

    def open(self) -> Books:
        books = Books(self.store, self.redis_url, self.mapping)
        self.opened.append(books)
        for name, amount in (("VAT 19%", 19.0), ("JCT 10%", 10.0)):
            books.sandbox.create_direct(
                "account.tax",
                {
                    "name": name,
                    "amount": amount,
                    "amount_type": "percent",
                    "type_tax_use": "sale",
                },
            )
        return books

    def run(self, events: list[dict[str, Any]]) -> Books:
        books = self.open()
        books.process(books.deliver(events))
        assert books.failures() == []
        return books


@pytest.fixture
def ledger(books_store: Store, redis_url: str, taxed_mapping: str) -> Iterator[Ledger]:
    opened = Ledger(books_store, sibling_redis(redis_url, 3), taxed_mapping)
    try:
        yield opened
    finally:
        for books in opened.opened:
            books.close()


# -- stories and expectations ------------------------------------------------------


def taxed_sale(
    shape: Shape, currency: str = "eur", rate: TaxRate = VAT, *, prefix: str = "rt"
) -> tuple[StripeStory, str, str]:
    """A customer billed a taxed subscription line and a taxed proration, paid."""
    story = StripeStory(
        f"cus_{prefix}{shape}", shape=shape, currency=currency, prefix=prefix
    )
    story.customer_created("Steuer GmbH", "ap@steuer.example", "DE")
    unit = 4900 if currency == "eur" else 4980
    sub = story.subscribe("price_pro_monthly", "prod_price_pro_monthly", unit, 1, False)
    invoice = story.invoice(sub, [(1234 if currency == "eur" else 1333, "Seats")], rate)
    story.finalize(invoice)
    payment = story.pay(invoice)
    return story, invoice, payment


def stripe_invoice(story: StripeStory, invoice_id: str) -> Record:
    (obj,) = [o for o in story.objects() if o["id"] == invoice_id]
    return obj


def invoice_tax(story: StripeStory, invoice_id: str) -> int:
    obj = stripe_invoice(story, invoice_id)
    taxes = obj.get("total_taxes") or obj.get("total_tax_amounts") or []
    return int(sum(tax["amount"] for tax in taxes))


def share(amount: int, part: int, whole: int) -> int:
    exact = Decimal(amount) * Decimal(part) / Decimal(whole)
    return int(exact.to_integral_value(rounding=ROUND_HALF_UP))


def money(minor: int, currency: str) -> float:
    return to_amount(minor, currency)


def move(books: Books, reference: str, move_type: str = "out_refund") -> Record:
    rows = books.sandbox.records(
        "account.move",
        domain=[("payment_reference", "=", reference), ("move_type", "=", move_type)],
    )
    assert len(rows) == 1, f"{len(rows)} moves for {reference}"
    return rows[0]


def refunds_of(books: Books) -> list[Record]:
    return books.sandbox.records(
        "account.move",
        domain=[("move_type", "=", "out_refund"), ("state", "=", "posted")],
    )


def amounts(row: Record) -> tuple[float, float, float]:
    return (row["amount_untaxed"], row["amount_tax"], row["amount_total"])


def expected_credit(
    story: StripeStory, invoice_id: str, gross: int
) -> tuple[float, float, float]:
    """(untaxed, tax, total) a credit of ``gross`` of the invoice must book."""
    total = story.expected["invoices"][invoice_id]["total"]
    tax = share(invoice_tax(story, invoice_id), gross, total)
    currency = story.currency
    return (money(gross - tax, currency), money(tax, currency), money(gross, currency))


def finance_view(books: Books, story: StripeStory) -> dict[str, Any]:
    """What finance reconciles: credited, tax reversed, paid out, still due."""
    credit = refunds_of(books)
    payments = books.sandbox.records(
        "account.payment", domain=[("payment_type", "=", "outbound")]
    )
    invoices = {
        invoice_id: move(books, invoice_id, "out_invoice")
        for invoice_id in story.expected["invoices"]
    }
    return {
        "credited": round(sum(row["amount_total"] for row in credit), 2),
        "tax_reversed": round(sum(row["amount_tax"] for row in credit), 2),
        "credit_notes_unpaid": [
            row["payment_reference"] for row in credit if row["payment_state"] != "paid"
        ],
        "paid_out": round(sum(row["amount"] for row in payments), 2),
        "invoices": sorted(
            (key, row["state"], row["payment_state"], row["amount_residual"])
            for key, row in invoices.items()
        ),
    }


def shuffled_twice(events: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """Every event twice, in an order fixed by ``seed``."""
    doubled = [event for event in events for _ in range(2)]
    random.Random(seed).shuffle(doubled)
    return doubled


# -- refunds -----------------------------------------------------------------------


class TestRefundsOfTaxedInvoices:
    @pytest.mark.parametrize("shape", SHAPES)
    def test_partial_refunds_reverse_the_tax_in_proportion(
        self, ledger: Ledger, shape: Shape
    ) -> None:
        story, invoice, payment = taxed_sale(shape)
        # Amounts chosen so that some shares land on a rounding half-cent.
        refunds = [story.refund(payment, amount=gross) for gross in (1, 2500, 3333)]

        books = ledger.run(story.events)

        invoice_move = move(books, invoice, "out_invoice")
        assert amounts(invoice_move) == (61.34, 11.65, 72.99)
        for refund_id in refunds:
            gross = story.expected["refunds"][refund_id]["amount"]
            note = move(books, refund_id)
            assert amounts(note) == expected_credit(story, invoice, gross), refund_id
            assert note["payment_state"] == "paid"
            assert note["currency_id"][1] == "EUR"
        payments = books.sandbox.records(
            "account.payment", domain=[("payment_type", "=", "outbound")]
        )
        assert sorted(row["amount"] for row in payments) == [0.01, 25.0, 33.33]

    def test_partial_refund_lines_carry_the_invoices_taxes(
        self, ledger: Ledger
    ) -> None:
        story, _, payment = taxed_sale("basil")
        refund_id = story.refund(payment, amount=2500)

        books = ledger.run(story.events)

        note = move(books, refund_id)
        vat = books.sandbox.records("account.tax", domain=[("name", "=", "VAT 19%")])
        lines = books.sandbox.records(
            "account.move.line",
            domain=[("move_id", "=", note["id"]), ("display_type", "=", "product")],
        )
        taxed = [line for line in lines if line["tax_ids"] == [vat[0]["id"]]]
        # One credit line per invoice line, both with the invoice's VAT.
        assert len(taxed) == 2
        assert all(
            line["name"].startswith(f"Stripe refund {refund_id}") for line in lines
        )
        assert sum(line["price_total"] for line in lines) == pytest.approx(25.0)

    @pytest.mark.parametrize("shape", SHAPES)
    def test_full_refund_mirrors_the_invoices_untaxed_and_tax(
        self, ledger: Ledger, shape: Shape
    ) -> None:
        story, invoice, payment = taxed_sale(shape)
        refund_id = story.refund(payment)

        books = ledger.run(story.events)

        invoice_move = move(books, invoice, "out_invoice")
        note = move(books, refund_id)
        assert amounts(note) == amounts(invoice_move) == (61.34, 11.65, 72.99)
        assert note["payment_state"] == "paid"
        assert invoice_move["payment_state"] in ("paid", "in_payment")

    @pytest.mark.parametrize("shape", SHAPES)
    def test_yen_refunds_reverse_the_tax_in_whole_yen(
        self, ledger: Ledger, shape: Shape
    ) -> None:
        story, invoice, payment = taxed_sale(shape, "jpy", JCT, prefix="ry")
        partial = story.refund(payment, amount=1001)
        rest = story.refund(payment)

        books = ledger.run(story.events)

        invoice_move = move(books, invoice, "out_invoice")
        assert amounts(invoice_move) == (6313.0, 631.0, 6944.0)
        first, second = move(books, partial), move(books, rest)
        assert amounts(first) == expected_credit(story, invoice, 1001)
        assert amounts(second) == expected_credit(story, invoice, 6944 - 1001)
        # Every amount is whole yen, and the two refunds reverse the whole tax.
        assert all(float(v).is_integer() for v in amounts(first) + amounts(second))
        assert first["amount_tax"] + second["amount_tax"] == pytest.approx(631.0)
        assert first["currency_id"][1] == "JPY"

    def test_untaxed_invoice_is_refunded_on_one_untaxed_line(
        self, ledger: Ledger
    ) -> None:
        story = StripeStory("cus_rtplain", currency="eur", prefix="rp")
        story.customer_created("Plain Ltd", "ap@plain.example", "IE")
        sub = story.subscribe("price_team", "prod_price_team", 12000, 1, False)
        invoice = story.invoice(sub)
        story.finalize(invoice)
        refund_id = story.refund(story.pay(invoice), amount=5000)

        books = ledger.run(story.events)

        note = move(books, refund_id)
        assert amounts(note) == (50.0, 0.0, 50.0)
        lines = books.sandbox.records(
            "account.move.line",
            domain=[("move_id", "=", note["id"]), ("display_type", "=", "product")],
        )
        assert [(line["name"], line["tax_ids"]) for line in lines] == [
            (f"Stripe refund {refund_id}", [])
        ]

    @pytest.mark.parametrize("seed", [1, 2])
    def test_duplicated_reordered_refunds_leave_the_same_books(
        self, ledger: Ledger, seed: int
    ) -> None:
        story, _, payment = taxed_sale("legacy", prefix=f"rd{seed}")
        story.refund(payment, amount=3333)
        story.refund(payment)

        ordered = ledger.run(story.events).snapshot()
        shuffled = ledger.run(shuffled_twice(story.events, seed))

        assert shuffled.duplicates() == {}
        assert shuffled.snapshot() == ordered


# -- disputes ----------------------------------------------------------------------


class TestLostDisputesOfTaxedInvoices:
    @pytest.mark.parametrize("shape", SHAPES)
    def test_lost_dispute_reverses_the_invoices_tax(
        self, ledger: Ledger, shape: Shape
    ) -> None:
        story, _, payment = taxed_sale(shape, prefix="dl")
        dispute_id = story.dispute(payment, outcome="lost")

        books = ledger.run(story.events)

        note = move(books, dispute_id)
        assert amounts(note) == (61.34, 11.65, 72.99)
        assert note["payment_state"] == "paid"

    def test_lost_dispute_after_a_partial_refund_reverses_the_rest(
        self, ledger: Ledger
    ) -> None:
        story, invoice, payment = taxed_sale("basil", prefix="dr")
        refund_id = story.refund(payment, amount=2999)
        dispute_id = story.dispute(payment, outcome="lost")
        disputed = story.expected["disputes"][dispute_id]["amount"]

        ordered = ledger.run(story.events)
        shuffled = ledger.run(shuffled_twice(story.events, 7))

        assert disputed == 7299 - 2999
        note = move(ordered, dispute_id)
        assert amounts(note) == expected_credit(story, invoice, disputed)
        refunded = move(ordered, refund_id)
        assert note["amount_tax"] + refunded["amount_tax"] == pytest.approx(11.65)
        assert shuffled.duplicates() == {}
        assert shuffled.snapshot() == ordered.snapshot()


# -- Stripe credit notes -----------------------------------------------------------


def credit_noted(
    shape: Shape, prefix: str
) -> tuple[StripeStory, str, str, str, str, int]:
    """A paid taxed invoice, two refunds, then one taxed credit note backed by
    both. Returns the story, invoice, refunds, note and where the note starts."""
    story, invoice, payment = taxed_sale(shape, prefix=prefix)
    first = story.refund(payment, amount=2000)
    second = story.refund(payment, amount=3000)
    noted_at = len(story.events)
    # 4202 before tax and 798 VAT: 5000, what the two refunds paid back.
    note_id = story.credit_note(
        invoice, 4202, first, refund_ids=[second], tax_rate=VAT, reason="order_change"
    )
    return story, invoice, first, second, note_id, noted_at


class TestTaxedStripeCreditNotes:
    @pytest.mark.parametrize("shape", SHAPES)
    def test_credit_note_books_its_lines_and_tax(
        self, ledger: Ledger, shape: Shape
    ) -> None:
        story, invoice, _ = taxed_sale(shape, prefix="cn")
        note_id = story.credit_note(invoice, 1000, tax_rate=VAT, memo="Goodwill")

        books = ledger.run(story.events)

        assert story.expected["credit_notes"][note_id]["amount"] == 1190
        note = move(books, note_id)
        assert amounts(note) == (10.0, 1.9, 11.9)

    def test_credit_note_before_its_refunds_are_booked_credits_them_once(
        self, ledger: Ledger
    ) -> None:
        story, _, _, _, note_id, noted_at = credit_noted("basil", "cm")
        refunded = story.events[:noted_at]
        note_events = story.events[noted_at:]
        refund_events = refunded[-4:]

        books = ledger.run([*refunded[:-4], *note_events, *refund_events])

        assert [row["payment_reference"] for row in refunds_of(books)] == [note_id]
        assert amounts(move(books, note_id)) == (42.02, 7.98, 50.0)
        assert finance_view(books, story)["paid_out"] == 50.0

    def test_mixed_credit_note_books_only_what_its_booked_refunds_left(
        self, ledger: Ledger
    ) -> None:
        story, invoice, first, _, note_id, noted_at = credit_noted("basil", "cx")
        events = story.events
        # The first refund is booked before the note arrives, the second after.
        first_refund = events[noted_at - 4 : noted_at - 2]
        second_refund = events[noted_at - 2 : noted_at]
        order = [*events[: noted_at - 4], *first_refund, *events[noted_at:]]
        order += second_refund

        books = ledger.run(order)

        note = move(books, note_id)
        own = move(books, first)
        assert amounts(own) == expected_credit(story, invoice, 2000)
        assert note["amount_total"] == 30.0
        # Together: the Stripe credit note's total and tax, nothing twice.
        assert own["amount_total"] + note["amount_total"] == 50.0
        assert round(own["amount_tax"] + note["amount_tax"], 2) == 7.98
        assert {row["payment_reference"] for row in refunds_of(books)} == {
            first,
            note_id,
        }
        view = finance_view(books, story)
        assert (view["credited"], view["paid_out"]) == (50.0, 50.0)
        assert view["credit_notes_unpaid"] == []

    def test_mixed_credit_note_in_any_order_credits_the_notes_total(
        self, ledger: Ledger
    ) -> None:
        story, _, _, _, _, noted_at = credit_noted("basil", "co")
        events = story.events
        head = events[: noted_at - 4]
        first_refund = events[noted_at - 4 : noted_at - 2]
        second_refund = events[noted_at - 2 : noted_at]
        note_events = events[noted_at:]
        orders = {
            "refunds first": [*head, *first_refund, *second_refund, *note_events],
            "note first": [*head, *note_events, *second_refund, *first_refund],
            "mixed": [*head, *second_refund, *note_events, *first_refund],
        }

        views = {}
        for name, order in orders.items():
            books = ledger.run(order)
            assert books.duplicates() == {}, name
            views[name] = finance_view(books, story)
        duplicated = ledger.run(shuffled_twice(orders["mixed"], 3))
        assert duplicated.duplicates() == {}
        views["duplicated"] = finance_view(duplicated, story)

        expected = views["refunds first"]
        assert expected["credited"] == 50.0
        assert expected["tax_reversed"] == 7.98
        assert expected["paid_out"] == 50.0
        assert expected["credit_notes_unpaid"] == []
        assert views == {name: expected for name in views}
