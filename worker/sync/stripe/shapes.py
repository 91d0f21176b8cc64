"""One reading of Stripe objects whatever API version rendered them.

Stripe freezes an event's payload in the API version of its endpoint. From
2025-03-31 (basil) an invoice names its subscription under ``parent``, its payments
are separate ``invoice_payment`` objects, a line's price sits under ``pricing`` and
its proration flag under ``parent``; before, those were ``invoice.subscription``,
``invoice.charge``/``payment_intent``, ``line.price`` and ``line.proration``. The
flows read only these views, so both shapes follow one code path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# How far an object has progressed, to order two snapshots taken in the same second.
SUBSCRIPTION_RANK = {
    "incomplete": 0,
    "trialing": 1,
    "active": 2,
    "past_due": 3,
    "unpaid": 4,
    "paused": 4,
    "canceled": 9,
    "incomplete_expired": 9,
}
INVOICE_RANK = {"draft": 0, "open": 1, "uncollectible": 2, "paid": 3, "void": 3}


def _id(value: Any) -> str | None:
    """An expandable field as its id, whether it arrived expanded or not."""
    if isinstance(value, dict):
        value = value.get("id")
    return str(value) if value else None


@dataclass(frozen=True)
class Line:
    """One billed line: the amount Stripe charges for it, before tax."""

    description: str
    amount: int
    quantity: int
    price_id: str | None
    product_id: str | None
    unit_amount: int | None
    proration: bool
    tax_rate_ids: tuple[str, ...]
    item_id: str | None
    # (discount id, amount) taken off ``amount`` before tax, one per discount.
    discounts: tuple[tuple[str, int], ...] = ()

    @property
    def discounted(self) -> int:
        """What Stripe charges for the line after its discounts, before tax."""
        return self.amount - sum(amount for _, amount in self.discounts)


@dataclass(frozen=True)
class InvoiceView:
    id: str
    customer: str
    status: str
    currency: str
    subscription: str | None
    number: str | None
    total: int
    amount_paid: int
    amount_remaining: int
    lines: tuple[Line, ...]
    payment_key: str | None
    created: int
    customer_name: str | None
    customer_email: str | None
    customer_country: str | None
    due_date: int | None
    # Every discount on the invoice, as Stripe totals them; the lines share them out.
    discounts: tuple[tuple[str, int], ...] = ()
    lines_complete: bool = True

    @property
    def rank(self) -> int:
        return INVOICE_RANK.get(self.status, 0)


def discount_amounts(
    obj: dict[str, Any], prefix: str = ""
) -> tuple[tuple[str, int], ...]:
    """The discounts taken off a line (or, with prefix ``total_``, an invoice).

    Older payloads list them under ``discount_amounts``; newer ones also, or only,
    under ``pretax_credit_amounts`` with ``type`` "discount". Both name the same
    discounts, so each discount id counts once. Pre-tax credits of another type
    (a billing credit balance) are not discounts and are left out.
    """
    found: dict[str, int] = {}
    for name in ("pretax_credit_amounts", "discount_amounts"):
        for n, entry in enumerate(obj.get(prefix + name) or []):
            if entry.get("type", "discount") != "discount":
                continue
            key = _id(entry.get("discount")) or f"{name}#{n}"
            found.setdefault(key, int(entry.get("amount") or 0))
    return tuple((key, amount) for key, amount in found.items() if amount)


def invoice_line(line: dict[str, Any]) -> Line:
    price = line.get("price") or {}
    pricing_block = line.get("pricing") or {}
    pricing = pricing_block.get("price_details") or {}
    parent = line.get("parent") or {}
    details = (
        parent.get("subscription_item_details")
        if parent.get("type") == "subscription_item_details"
        else parent.get("invoice_item_details")
    ) or {}
    proration = bool(line.get("proration", details.get("proration", False)))
    tax_rates = [_id(rate) for rate in line.get("tax_rates") or []]
    for tax in line.get("taxes") or []:
        rate = (tax.get("tax_rate_details") or {}).get("tax_rate")
        tax_rates.append(_id(rate))
    quantity = line.get("quantity") or 1
    unit = price.get("unit_amount")
    if unit is None and pricing_block.get("unit_amount_decimal") not in (None, ""):
        unit = int(float(pricing_block["unit_amount_decimal"]))
    return Line(
        description=line.get("description") or "",
        amount=int(line.get("amount") or 0),
        quantity=int(quantity),
        price_id=_id(price) or _id(pricing.get("price")),
        product_id=_id(price.get("product")) or _id(pricing.get("product")),
        unit_amount=unit,
        proration=proration,
        tax_rate_ids=tuple(sorted(r for r in tax_rates if r)),
        item_id=_id(line.get("subscription_item"))
        or _id(details.get("subscription_item")),
        discounts=discount_amounts(line),
    )


def invoice_view(obj: dict[str, Any]) -> InvoiceView:
    parent = obj.get("parent") or {}
    subscription = _id(obj.get("subscription")) or _id(
        (parent.get("subscription_details") or {}).get("subscription")
    )
    address = obj.get("customer_address") or {}
    listing = obj.get("lines") or {}
    lines = listing.get("data") or []
    return InvoiceView(
        id=str(obj["id"]),
        customer=_id(obj.get("customer")) or "",
        status=str(obj.get("status") or "draft"),
        currency=str(obj.get("currency") or ""),
        subscription=subscription,
        number=obj.get("number"),
        total=int(obj.get("total") or 0),
        amount_paid=int(obj.get("amount_paid") or 0),
        amount_remaining=int(obj.get("amount_remaining") or 0),
        lines=tuple(invoice_line(line) for line in lines),
        # Before basil an invoice carried its one payment; since, payments arrive
        # as invoice_payment objects of their own.
        payment_key=_id(obj.get("payment_intent")) or _id(obj.get("charge")),
        created=int(obj.get("created") or 0),
        customer_name=obj.get("customer_name"),
        customer_email=obj.get("customer_email"),
        customer_country=address.get("country"),
        due_date=obj.get("due_date"),
        discounts=discount_amounts(obj, "total_"),
        lines_complete=not listing.get("has_more"),
    )


@dataclass(frozen=True)
class Item:
    id: str
    price_id: str | None
    product_id: str | None
    quantity: int
    unit_amount: int
    currency: str
    description: str


@dataclass(frozen=True)
class SubscriptionView:
    id: str
    customer: str
    status: str
    currency: str
    items: tuple[Item, ...]
    cancel_at_period_end: bool
    current_period_end: int | None

    @property
    def rank(self) -> int:
        return SUBSCRIPTION_RANK.get(self.status, 0)


def subscription_view(obj: dict[str, Any]) -> SubscriptionView:
    items = []
    period_ends = []
    for item in (obj.get("items") or {}).get("data") or []:
        price = item.get("price") or item.get("plan") or {}
        items.append(
            Item(
                id=str(item["id"]),
                price_id=_id(price),
                product_id=_id(price.get("product")),
                quantity=int(item.get("quantity") or 1),
                unit_amount=int(price.get("unit_amount") or price.get("amount") or 0),
                currency=str(price.get("currency") or obj.get("currency") or ""),
                description=price.get("nickname") or _id(price) or "subscription",
            )
        )
        if item.get("current_period_end"):
            period_ends.append(int(item["current_period_end"]))
    # Before basil the period lived on the subscription, since on each item.
    period_end = obj.get("current_period_end") or (
        max(period_ends) if period_ends else None
    )
    return SubscriptionView(
        id=str(obj["id"]),
        customer=_id(obj.get("customer")) or "",
        status=str(obj.get("status") or "incomplete"),
        currency=str(obj.get("currency") or (items[0].currency if items else "")),
        items=tuple(items),
        cancel_at_period_end=bool(obj.get("cancel_at_period_end")),
        current_period_end=period_end,
    )


@dataclass(frozen=True)
class PaymentView:
    """Money received against one invoice, keyed by what Stripe calls the payment."""

    key: str
    invoice: str | None
    amount: int
    currency: str


def payment_view(obj: dict[str, Any]) -> PaymentView | None:
    """The payment an object reports, or None when it is not a settled payment.

    The key is the PaymentIntent when there is one (else the charge), so that the
    invoice, its invoice_payment, the charge and the PaymentIntent all name the same
    payment and it is registered once whichever of them arrives.
    """
    kind = obj.get("object")
    if kind == "invoice_payment":
        if obj.get("status") != "paid":
            return None
        payment = obj.get("payment") or {}
        key = _id(payment.get("payment_intent")) or _id(payment.get("charge"))
        return PaymentView(
            key=key or str(obj["id"]),
            invoice=_id(obj.get("invoice")),
            amount=int(obj.get("amount_paid") or 0),
            currency=str(obj.get("currency") or ""),
        )
    if kind == "invoice":
        view = invoice_view(obj)
        if view.status != "paid" or not view.payment_key or view.amount_paid <= 0:
            return None
        return PaymentView(view.payment_key, view.id, view.amount_paid, view.currency)
    if kind == "charge":
        if obj.get("status") != "succeeded" or not obj.get("paid", True):
            return None
        return PaymentView(
            key=_id(obj.get("payment_intent")) or str(obj["id"]),
            invoice=_id(obj.get("invoice")),
            amount=int(obj.get("amount_captured") or obj.get("amount") or 0),
            currency=str(obj.get("currency") or ""),
        )
    if kind == "payment_intent":
        if obj.get("status") != "succeeded":
            return None
        return PaymentView(
            key=str(obj["id"]),
            invoice=_id(obj.get("invoice")),
            amount=int(obj.get("amount_received") or obj.get("amount") or 0),
            currency=str(obj.get("currency") or ""),
        )
    return None


@dataclass(frozen=True)
class CreditLine:
    """One credit note line: what it credits before tax, and the tax on it."""

    description: str
    untaxed: int
    tax: int
    tax_rate_ids: tuple[str, ...]


def credit_note_line(line: dict[str, Any]) -> CreditLine:
    """A credit note line in either shape: legacy ``tax_amounts`` (each naming its
    ``tax_rate`` and whether it is ``inclusive``) or basil ``taxes`` (each with a
    ``tax_behavior`` and ``tax_rate_details.tax_rate``).

    Stripe's ``amount`` leaves out exclusive taxes and discounts but contains
    inclusive taxes, which are taken out here so ``untaxed + tax`` is the gross.
    """
    taxes: list[tuple[int, bool, str | None]] = [
        (
            int(tax.get("amount") or 0),
            bool(tax.get("inclusive")),
            _id(tax.get("tax_rate")),
        )
        for tax in line.get("tax_amounts") or []
    ]
    taxes += [
        (
            int(tax.get("amount") or 0),
            tax.get("tax_behavior") == "inclusive",
            _id((tax.get("tax_rate_details") or {}).get("tax_rate")),
        )
        for tax in line.get("taxes") or []
    ]
    rates = {rate for _, _, rate in taxes if rate}
    rates.update(r for r in (_id(rate) for rate in line.get("tax_rates") or []) if r)
    discount = int(line.get("discount_amount") or 0)
    included = sum(amount for amount, inclusive, _ in taxes if inclusive)
    return CreditLine(
        description=str(line.get("description") or ""),
        untaxed=int(line.get("amount") or 0) - discount - included,
        tax=sum(amount for amount, _, _ in taxes),
        tax_rate_ids=tuple(sorted(rates)),
    )
