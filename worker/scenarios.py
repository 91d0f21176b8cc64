"""One customer's lifecycle told as the Stripe webhook events Stripe would send.

``StripeStory`` turns a short script (customer created, subscribed, invoiced, paid,
refunded, disputed, cancelled ...) into the event envelopes Stripe would deliver, so
that the demo, the integration tests, property-based tests and benchmarks can feed
revsync realistic input without a Stripe account. Nothing in it is random: object ids
are ``<kind>_<prefix>_<n>`` from per-kind counters, and timestamps come from the
story's own clock, which starts at ``start`` and moves 1, 2, 3, 1, 2, 3 ... seconds
per action. The events Stripe emits for one action share one second; ``advance()``
moves the clock further on purpose (to a trial end, say). Amounts are integers in the
currency's smallest unit and are never divided, so zero-decimal currencies such as JPY
need nothing special.

Each event carries a deep copy of its object as it stood at that moment; the story
keeps every object's current state and copies it into the event, so a later event
shows later state and editing one event changes no other. ``*.updated`` events carry
``previous_attributes``: the old value of each top-level field that changed.

Stripe renders a payload in the API version of the receiving endpoint, and the shape
changed with version 2025-03-31 ("basil"). A story is told in one of two shapes:

``legacy`` (API version 2020-03-02)
    An invoice names its ``subscription``, its latest ``charge`` and
    ``payment_intent`` and a ``paid`` flag at the top level, and can only be paid in
    full. An invoice line carries the whole ``price`` and ``plan``, plus
    ``proration``, ``subscription_item``, ``type`` ("subscription" or "invoiceitem")
    and ``tax_rates`` with ``tax_amounts``. A subscription carries
    ``current_period_start``/``current_period_end``, ``plan`` and ``quantity`` at the
    top. Charges and PaymentIntents name their ``invoice``; a charge embeds its refunds
    as a list (``refunds.data``); a credit note names one ``refund``. List objects
    carry ``total_count``, and a customer embeds ``sources``, ``subscriptions`` and
    ``tax_ids``.

``basil`` (API version 2025-03-31.basil and later)
    An invoice reaches its subscription through ``parent.subscription_details`` and
    has no ``subscription``, ``charge``, ``payment_intent`` or ``paid``. Every payment
    is an ``invoice_payment`` object of its own (event ``invoice_payment.paid``)
    linking the invoice to a PaymentIntent, so one invoice may be paid in parts. A line
    names its price under ``pricing.price_details`` and its subscription item and
    proration flag under ``parent.subscription_item_details``; its taxes are
    ``taxes[]`` pointing at ``tax_rate_details.tax_rate``. Billing periods live on each
    subscription item. Charges and PaymentIntents no longer name an invoice, a charge
    no longer embeds its refunds (only ``amount_refunded`` and ``refunded``), and a
    credit note lists ``refunds[]``.

Objects carry every top-level key of Stripe's own example object of their type in that
shape, except the keys in ``OMITTED_KEYS``: the basil invoice's ``subscription`` and
the basil charge's ``refunds``, which Stripe's generated examples still show but basil
payloads do not carry. The customer always carries ``tax_ids``.

Simplifications: one item per subscription; every payment is a card PaymentIntent with
one charge; taxes are exclusive, one rate per invoice, rounded half away from zero per
line; an invoice whose total would be negative is refused (customer credit balances are
not modelled); a credit note has one untaxed custom line, and a post-payment credit
note not linked to a refund is settled out of band.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

__all__ = [
    "API_VERSIONS",
    "OMITTED_KEYS",
    "Coupon",
    "Shape",
    "StripeStory",
    "TaxRate",
    "stripe_fee",
    "stripe_payout",
]

Shape = Literal["basil", "legacy"]
Obj = dict[str, Any]

API_VERSIONS: dict[str, str] = {"basil": "2025-03-31.basil", "legacy": "2020-03-02"}

# Top-level keys of Stripe's example objects that the story leaves out on purpose,
# by (shape, object type).
OMITTED_KEYS: dict[tuple[str, str], frozenset[str]] = {
    ("basil", "invoice"): frozenset({"subscription"}),
    ("basil", "charge"): frozenset({"refunds"}),
}

HOUR = 3_600
DAY = 86_400
TRIAL_DAYS = 14
# Stripe first tries to collect an invoice about an hour after finalizing it, retries
# a declined card days later, and gives a merchant some three weeks to answer a dispute.
FIRST_ATTEMPT_DELAY = HOUR
RETRY_DELAY = 3 * DAY
EVIDENCE_WINDOW = 21 * DAY

ADDRESS_FIELDS = ("city", "country", "line1", "line2", "postal_code", "state")
SUBSCRIPTION_LIVE = ("trialing", "active", "past_due")
EVIDENCE_FIELDS = (
    "access_activity_log",
    "billing_address",
    "cancellation_policy",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "customer_communication",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "customer_signature",
    "duplicate_charge_documentation",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "product_description",
    "receipt",
    "refund_policy",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "service_date",
    "service_documentation",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_documentation",
    "shipping_tracking_number",
    "uncategorized_file",
    "uncategorized_text",
)


def _copy(value: Any) -> Any:
    """Deep copy of JSON-like data; much cheaper than ``copy.deepcopy``."""
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def _changes(before: Obj, after: Obj) -> Obj:
    """``previous_attributes``: the old value of every top-level field that changed."""
    changed = {
        key: value
        for key, value in before.items()
        if key not in after or after[key] != value
    }
    changed.update({key: None for key in after if key not in before})
    return changed


def _add_months(stamp: int, months: int) -> int:
    """The same moment ``months`` calendar months later, clamped to the month's end."""
    moment = datetime.fromtimestamp(stamp, UTC)
    years, month_index = divmod(moment.month - 1 + months, 12)
    year = moment.year + years
    day = min(moment.day, calendar.monthrange(year, month_index + 1)[1])
    return int(moment.replace(year=year, month=month_index + 1, day=day).timestamp())


def _whole(value: Any, name: str, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class TaxRate:
    """An exclusive tax rate, e.g. ``TaxRate("txr_de_vat", Decimal("19"))``."""

    id: str
    percentage: Decimal | int
    display_name: str = "VAT"
    country: str | None = None
    tax_type: str = "vat"

    def on(self, amount: int) -> int:
        """Tax on ``amount`` (minor units), rounded half away from zero like Stripe."""
        exact = Decimal(amount) * Decimal(self.percentage) * Decimal("0.01")
        return int(exact.to_integral_value(rounding=ROUND_HALF_UP))

    def as_stripe(self, created: int) -> Obj:
        percentage = Decimal(self.percentage)
        return {
            "id": self.id,
            "object": "tax_rate",
            "active": True,
            "country": self.country,
            "created": created,
            "description": None,
            "display_name": self.display_name,
            "effective_percentage": None,
            "inclusive": False,
            "jurisdiction": self.country,
            "livemode": False,
            "metadata": {},
            "percentage": int(percentage)
            if percentage == percentage.to_integral_value()
            else float(percentage),
            "state": None,
            "tax_type": self.tax_type,
        }


def _half_up(value: Decimal) -> int:
    """Rounded half away from zero, as Stripe rounds a share of an amount."""
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class Coupon:
    """A coupon applied to one invoice: ``percent_off`` or ``amount_off``, not both.

    ``Coupon("SPRING25", percent_off=25)`` takes a quarter off every line;
    ``Coupon("WELCOME", amount_off=500)`` takes 500 minor units off the invoice,
    shared among its lines in proportion to their amounts. Discounts apply in the
    order given, each to what the ones before it left, and never below zero.
    """

    id: str
    percent_off: Decimal | int | None = None
    amount_off: int | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if (self.percent_off is None) == (self.amount_off is None):
            raise ValueError("a coupon has either percent_off or amount_off")
        if self.percent_off is not None and not 0 < Decimal(self.percent_off) <= 100:
            raise ValueError(f"percent_off out of range: {self.percent_off}")
        if self.amount_off is not None:
            _whole(self.amount_off, "amount_off", 1)

    def shares(self, amounts: Sequence[int]) -> list[int]:
        """What this coupon takes off each line, given what is left of each."""
        if self.percent_off is not None:
            rate = Decimal(self.percent_off) * Decimal("0.01")
            return [
                min(amount, _half_up(Decimal(amount) * rate)) if amount > 0 else 0
                for amount in amounts
            ]
        base = sum(amount for amount in amounts if amount > 0)
        off = min(int(self.amount_off or 0), base)
        if not base:
            return [0 for _ in amounts]
        shares = [off * amount // base if amount > 0 else 0 for amount in amounts]
        # Hand the units lost to flooring to the largest lines, one each.
        order = sorted(range(len(amounts)), key=lambda i: -amounts[i])
        for i in order[: off - sum(shares)]:
            shares[i] += 1
        return shares

    def as_stripe(self, currency: str, created: int) -> Obj:
        percent = None
        if self.percent_off is not None:
            value = Decimal(self.percent_off)
            percent = int(value) if value == value.to_integral_value() else float(value)
        return {
            "id": self.id,
            "object": "coupon",
            "amount_off": self.amount_off,
            "created": created,
            "currency": currency if self.amount_off is not None else None,
            "duration": "once",
            "duration_in_months": None,
            "livemode": False,
            "max_redemptions": None,
            "metadata": {},
            "name": self.name or self.id,
            "percent_off": percent,
            "redeem_by": None,
            "times_redeemed": 1,
            "valid": True,
        }


class StripeStory:
    """Builds one customer's Stripe event history; read ``events`` and ``expected``.

    A call Stripe would refuse (paying a void invoice, refunding more than was paid,
    a partial payment in the legacy shape ...) raises ValueError before anything
    happens: no event, no id, no tick of the clock.
    """

    def __init__(
        self,
        customer_id: str,
        shape: Shape = "basil",
        currency: str = "usd",
        start: int = 1_767_225_600,
        prefix: str = "t1",
    ) -> None:
        if shape not in API_VERSIONS:
            raise ValueError(f"shape must be 'basil' or 'legacy', got {shape!r}")
        if not customer_id.startswith("cus_"):
            raise ValueError(f"a customer id starts with 'cus_', got {customer_id!r}")
        if not (prefix.isascii() and prefix.isalnum()):
            raise ValueError(f"prefix must be ASCII letters and digits, got {prefix!r}")
        if not (len(currency) == 3 and currency.isascii() and currency.isalpha()):
            raise ValueError(f"currency must be an ISO code, got {currency!r}")
        self.customer_id = customer_id
        self.shape: Shape = shape
        self.currency = currency.lower()
        self.prefix = prefix
        self.api_version = API_VERSIONS[shape]
        self.now = _whole(start, "start", 0)
        self.events: list[Obj] = []
        self._actions = 0
        self._counters: dict[str, int] = {}
        self._request: str | None = None
        self._payment_method = f"pm_{prefix}_card"
        self._customer = self._new_customer()
        self._customer_created = False
        self._prices: dict[str, Obj] = {}
        self._tax_rates: dict[str, Obj] = {}
        self._subscriptions: dict[str, Obj] = {}
        self._invoices: dict[str, Obj] = {}
        self._intents: dict[str, Obj] = {}
        self._charges: dict[str, Obj] = {}
        self._invoice_payments: dict[str, Obj] = {}
        self._refunds: dict[str, Obj] = {}
        self._disputes: dict[str, Obj] = {}
        self._credit_notes: dict[str, Obj] = {}
        # Links the objects of one shape or the other do not carry themselves.
        self._invoice_of_intent: dict[str, str] = {}
        self._subscription_of_invoice: dict[str, str] = {}
        self._pending_intent: dict[str, str] = {}
        self._refund_linked: dict[str, int] = {}
        self._notes_of_invoice: dict[str, int] = {}

    @property
    def legacy(self) -> bool:
        return self.shape == "legacy"

    # -- clock, ids, events ---------------------------------------------------------

    def advance(self, seconds: int) -> None:
        """Let time pass, e.g. up to a trial's end, before the next action."""
        self.now += _whole(seconds, "seconds", 0)

    def _action(self, *, request: bool) -> None:
        """Start one action; its events share one second, 1-3 s after the last.

        ``request`` says whether the action is an API call (its events then name a
        request id) or something Stripe does by itself, such as collecting an invoice.
        """
        if self._actions:
            self.now += 1 + (self._actions - 1) % 3
        self._actions += 1
        self._request = self._new_id("req") if request else None

    def _new_id(self, kind: str) -> str:
        number = self._counters.get(kind, 0) + 1
        self._counters[kind] = number
        return f"{kind}_{self.prefix}_{number}"

    def _emit(self, event_type: str, obj: Obj, previous: Obj | None = None) -> None:
        data: Obj = {"object": _copy(obj)}
        if previous is not None:
            data["previous_attributes"] = previous
        self.events.append(
            {
                "id": self._new_id("evt"),
                "object": "event",
                "api_version": self.api_version,
                "created": self.now,
                "data": data,
                "livemode": False,
                "pending_webhooks": 1,
                "request": {"id": self._request, "idempotency_key": None},
                "type": event_type,
            }
        )

    def _list(self, data: list[Obj], url: str) -> Obj:
        listing: Obj = {"object": "list", "data": data, "has_more": False, "url": url}
        if self.legacy:
            listing["total_count"] = len(data)
        return listing

    def _set_list(self, listing: Obj, data: list[Obj]) -> None:
        listing["data"] = data
        if self.legacy:
            listing["total_count"] = len(data)

    # -- customer -------------------------------------------------------------------

    def _new_customer(self) -> Obj:
        path = f"/v1/customers/{self.customer_id}"
        letters = "".join(ch for ch in self.prefix.upper() if ch.isalnum())
        customer: Obj = {
            "id": self.customer_id,
            "object": "customer",
            "address": dict.fromkeys(ADDRESS_FIELDS),
            "balance": 0,
            "created": self.now,
            "currency": self.currency,
            "default_source": None,
            "delinquent": False,
            "description": None,
            "discount": None,
            "email": None,
            "invoice_prefix": (letters + "INV")[:12],
            "invoice_settings": {
                "custom_fields": None,
                "default_payment_method": self._payment_method,
                "footer": None,
            },
            "livemode": False,
            "metadata": {},
            "name": None,
            "next_invoice_sequence": 1,
            "phone": None,
            "preferred_locales": [],
            "shipping": None,
            "tax_exempt": "none",
            "tax_ids": self._list([], f"{path}/tax_ids"),
        }
        if self.legacy:
            customer["sources"] = self._list([], f"{path}/sources")
            customer["subscriptions"] = self._list([], f"{path}/subscriptions")
        else:
            customer["invoice_settings"]["rendering_options"] = None
            customer["test_clock"] = None
        return customer

    def _refresh_customer(self) -> None:
        """Legacy customers embed their live subscriptions; bring that list up."""
        if self.legacy:
            live = [
                _copy(sub)
                for sub in self._subscriptions.values()
                if sub["status"] != "canceled"
            ]
            self._set_list(self._customer["subscriptions"], live)

    @staticmethod
    def _merge_address(
        current: Obj, country: str | None, address: Mapping[str, str | None] | None
    ) -> Obj:
        merged = dict(current)
        for key, value in (address or {}).items():
            if key not in ADDRESS_FIELDS:
                raise ValueError(f"unknown address field {key!r}")
            merged[key] = value
        if country is not None:
            merged["country"] = country
        return merged

    def customer_created(
        self,
        name: str,
        email: str,
        country: str | None = None,
        *,
        phone: str | None = None,
        address: Mapping[str, str | None] | None = None,
        description: str | None = None,
        hubspot_company_id: str | None = None,
        tax_id: str | None = None,
        tax_id_type: str = "eu_vat",
    ) -> str:
        """customer.created, and customer.tax_id.created when ``tax_id`` is given.

        ``address`` takes any of line1, line2, city, postal_code, state (and country,
        which ``country`` overrides).
        """
        if self._customer_created:
            raise ValueError(f"customer {self.customer_id} was already created")
        merged = self._merge_address(self._customer["address"], country, address)
        self._action(request=True)
        self._customer_created = True
        customer = self._customer
        customer.update(
            created=self.now,
            name=name,
            email=email,
            phone=phone,
            description=description,
            address=merged,
        )
        if hubspot_company_id is not None:
            customer["metadata"]["hubspot_company_id"] = hubspot_company_id
        tax_object: Obj | None = None
        if tax_id is not None:
            tax_object = {
                "id": self._new_id("txi"),
                "object": "tax_id",
                "country": merged["country"],
                "created": self.now,
                "customer": self.customer_id,
                "livemode": False,
                "owner": {"customer": self.customer_id, "type": "customer"},
                "type": tax_id_type,
                "value": tax_id,
                "verification": {
                    "status": "pending",
                    "verified_address": None,
                    "verified_name": None,
                },
            }
            if not self.legacy:
                tax_object["customer_account"] = None
                tax_object["owner"]["customer_account"] = None
            self._set_list(customer["tax_ids"], [tax_object])
        self._refresh_customer()
        self._emit("customer.created", customer)
        if tax_object is not None:
            self._emit("customer.tax_id.created", tax_object)
        return self.customer_id

    def customer_updated(
        self,
        *,
        name: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        country: str | None = None,
        address: Mapping[str, str | None] | None = None,
        description: str | None = None,
        hubspot_company_id: str | None = None,
    ) -> None:
        """customer.updated; arguments left as None stay as they are."""
        customer = self._customer
        self._refresh_customer()
        before = _copy(customer)
        after = _copy(customer)
        for key, value in (
            ("name", name),
            ("email", email),
            ("phone", phone),
            ("description", description),
        ):
            if value is not None:
                after[key] = value
        after["address"] = self._merge_address(after["address"], country, address)
        if hubspot_company_id is not None:
            after["metadata"]["hubspot_company_id"] = hubspot_company_id
        previous = _changes(before, after)
        if not previous:
            raise ValueError("customer_updated() was given nothing that changes")
        self._action(request=True)
        self._customer = after
        self._emit("customer.updated", after, previous)

    # -- prices and subscriptions ---------------------------------------------------

    def _check_price(
        self, price_id: str, product_id: str, unit_amount: int, interval: str
    ) -> None:
        known = self._prices.get(price_id)
        if known is None:
            return
        terms = (known["product"], known["unit_amount"], known["recurring"]["interval"])
        if terms != (product_id, unit_amount, interval):
            raise ValueError(
                f"price {price_id} already exists as {terms}; Stripe prices are "
                "immutable, use another price id"
            )

    def _price(
        self, price_id: str, product_id: str, unit_amount: int, interval: str
    ) -> Obj:
        self._check_price(price_id, product_id, unit_amount, interval)
        if price_id in self._prices:
            return self._prices[price_id]
        recurring: Obj = {
            "interval": interval,
            "interval_count": 1,
            "trial_period_days": None,
            "usage_type": "licensed",
        }
        price: Obj = {
            "id": price_id,
            "object": "price",
            "active": True,
            "billing_scheme": "per_unit",
            "created": self.now,
            "currency": self.currency,
            "livemode": False,
            "lookup_key": None,
            "metadata": {},
            "nickname": None,
            "product": product_id,
            "recurring": recurring,
            "tax_behavior": "exclusive",
            "tiers_mode": None,
            "transform_quantity": None,
            "type": "recurring",
            "unit_amount": unit_amount,
            "unit_amount_decimal": str(unit_amount),
        }
        if self.legacy:
            recurring["aggregate_usage"] = None
        else:
            recurring["meter"] = None
            price["custom_unit_amount"] = None
        self._prices[price_id] = price
        return price

    def _plan(self, price: Obj) -> Obj:
        """The ``plan`` view of a price, which items and legacy lines still carry."""
        plan: Obj = {
            "id": price["id"],
            "object": "plan",
            "active": True,
            "amount": price["unit_amount"],
            "amount_decimal": price["unit_amount_decimal"],
            "billing_scheme": "per_unit",
            "created": price["created"],
            "currency": price["currency"],
            "interval": price["recurring"]["interval"],
            "interval_count": 1,
            "livemode": False,
            "metadata": {},
            "nickname": None,
            "product": price["product"],
            "tiers_mode": None,
            "transform_usage": None,
            "trial_period_days": None,
            "usage_type": "licensed",
        }
        if self.legacy:
            plan.update(aggregate_usage=None, tiers=None)
        else:
            plan["meter"] = None
        return plan

    def _subscription(self, sub_id: str, allowed: Iterable[str], action: str) -> Obj:
        sub = self._subscriptions.get(sub_id)
        if sub is None:
            raise ValueError(f"no subscription {sub_id!r} in this story")
        if sub["status"] not in allowed:
            raise ValueError(f"cannot {action} subscription {sub_id}: {sub['status']}")
        return sub

    def _item(self, sub: Obj) -> Obj:
        item: Obj = sub["items"]["data"][0]
        return item

    def _period(self, sub: Obj) -> tuple[int, int]:
        holder = sub if self.legacy else self._item(sub)
        return holder["current_period_start"], holder["current_period_end"]

    def _set_period(self, sub: Obj, start: int, end: int | None = None) -> None:
        """Set the billing period: on the subscription (legacy) or each item (basil)."""
        if end is None:
            interval = self._item(sub)["price"]["recurring"]["interval"]
            end = _add_months(start, 12 if interval == "year" else 1)
        holders = [sub] if self.legacy else sub["items"]["data"]
        for holder in holders:
            holder["current_period_start"] = start
            holder["current_period_end"] = end

    def _set_item_price(self, sub: Obj, price: Obj, quantity: int) -> None:
        item = self._item(sub)
        item.update(price=_copy(price), plan=self._plan(price), quantity=quantity)
        if self.legacy:
            sub.update(plan=self._plan(price), quantity=quantity)

    def subscribe(
        self,
        price_id: str,
        product_id: str,
        unit_amount: int,
        quantity: int = 1,
        trial: bool = False,
        *,
        trial_days: int = TRIAL_DAYS,
        interval: Literal["month", "year"] = "month",
    ) -> str:
        """customer.subscription.created, ``trialing`` or ``active``; returns its id."""
        _whole(unit_amount, "unit_amount", 0)
        _whole(quantity, "quantity", 1)
        _whole(trial_days, "trial_days", 1)
        if interval not in ("month", "year"):
            raise ValueError(f"interval must be 'month' or 'year', got {interval!r}")
        self._check_price(price_id, product_id, unit_amount, interval)
        self._action(request=True)
        price = self._price(price_id, product_id, unit_amount, interval)
        sub_id = self._new_id("sub")
        item: Obj = {
            "id": self._new_id("si"),
            "object": "subscription_item",
            "billing_thresholds": None,
            "created": self.now,
            "metadata": {},
            "plan": {},
            "price": {},
            "quantity": quantity,
            "subscription": sub_id,
            "tax_rates": [],
        }
        if not self.legacy:
            item["discounts"] = []
        trial_end = self.now + trial_days * DAY if trial else None
        sub: Obj = {
            "id": sub_id,
            "object": "subscription",
            "application_fee_percent": None,
            "billing_cycle_anchor": trial_end or self.now,
            "billing_thresholds": None,
            "cancel_at": None,
            "cancel_at_period_end": False,
            "canceled_at": None,
            "collection_method": "charge_automatically",
            "created": self.now,
            "customer": self.customer_id,
            "days_until_due": None,
            "default_payment_method": self._payment_method,
            "default_source": None,
            "default_tax_rates": [],
            "ended_at": None,
            "items": self._list(
                [item], f"/v1/subscription_items?subscription={sub_id}"
            ),
            "latest_invoice": None,
            "livemode": False,
            "metadata": {},
            "next_pending_invoice_item_invoice": None,
            "pause_collection": None,
            "pending_invoice_item_interval": None,
            "pending_setup_intent": None,
            "pending_update": None,
            "schedule": None,
            "start_date": self.now,
            "status": "trialing" if trial else "active",
            "transfer_data": None,
            "trial_end": trial_end,
            "trial_start": self.now if trial else None,
        }
        if self.legacy:
            sub.update(discount=None, tax_percent=None)
        else:
            sub.update(
                application=None,
                automatic_tax={
                    "disabled_reason": None,
                    "enabled": False,
                    "liability": None,
                },
                billing_cycle_anchor_config=None,
                billing_mode={"flexible": None, "type": "classic"},
                billing_schedules=[],
                cancellation_details={
                    "comment": None,
                    "feedback": None,
                    "reason": None,
                },
                currency=self.currency,
                customer_account=None,
                description=None,
                discounts=[],
                invoice_settings={"account_tax_ids": None, "issuer": {"type": "self"}},
                managed_payments={"enabled": False},
                on_behalf_of=None,
                payment_settings={
                    "payment_method_options": None,
                    "payment_method_types": None,
                    "save_default_payment_method": "off",
                },
                test_clock=None,
                trial_settings={
                    "end_behavior": {"missing_payment_method": "create_invoice"}
                },
            )
        self._set_item_price(sub, price, quantity)
        self._set_period(sub, self.now, trial_end)
        self._subscriptions[sub_id] = sub
        self._emit("customer.subscription.created", sub)
        return sub_id

    def trial_will_end(self, sub_id: str) -> None:
        """customer.subscription.trial_will_end (Stripe sends it 3 days ahead)."""
        sub = self._subscription(sub_id, ("trialing",), "announce the trial end of")
        self._action(request=False)
        self._emit("customer.subscription.trial_will_end", sub)

    def activate(self, sub_id: str) -> None:
        """customer.subscription.updated, trialing -> active.

        If the clock has not reached ``trial_end`` the trial is ended early, as with
        ``trial_end=now`` in the API; either way a billing period starts at the trial's
        end.
        """
        sub = self._subscription(sub_id, ("trialing",), "activate")
        early = self.now < sub["trial_end"]
        self._action(request=early)
        before = _copy(sub)
        start = min(self.now, sub["trial_end"])
        sub.update(status="active", trial_end=start, billing_cycle_anchor=start)
        self._set_period(sub, start)
        self._emit("customer.subscription.updated", sub, _changes(before, sub))

    def change_plan(
        self,
        sub_id: str,
        *,
        quantity: int | None = None,
        unit_amount: int | None = None,
        price_id: str | None = None,
        product_id: str | None = None,
    ) -> None:
        """customer.subscription.updated with the old ``items`` in previous_attributes.

        Stripe prices cannot change, so a new ``unit_amount`` without a ``price_id``
        makes a new price ``price_<prefix>_<n>`` for the same product.
        """
        sub = self._subscription(sub_id, SUBSCRIPTION_LIVE, "change the plan of")
        item = self._item(sub)
        old = item["price"]
        interval = old["recurring"]["interval"]
        new_quantity = item["quantity"] if quantity is None else quantity
        new_amount = old["unit_amount"] if unit_amount is None else unit_amount
        product = product_id or old["product"]
        _whole(new_quantity, "quantity", 1)
        _whole(new_amount, "unit_amount", 0)
        if price_id is not None:
            self._check_price(price_id, product, new_amount, interval)
        same_terms = (product, new_amount) == (old["product"], old["unit_amount"])
        if price_id is None and same_terms:
            price_id = old["id"]
        if price_id == old["id"] and new_quantity == item["quantity"]:
            raise ValueError("change_plan() was given nothing that changes")
        self._action(request=True)
        price = self._price(
            price_id or self._new_id("price"), product, new_amount, interval
        )
        before = _copy(sub)
        self._set_item_price(sub, price, new_quantity)
        self._emit("customer.subscription.updated", sub, _changes(before, sub))

    def recover(self, sub_id: str) -> None:
        """customer.subscription.updated, past_due -> active.

        Stripe does this once the overdue invoice is paid; call it after ``pay()``.
        """
        sub = self._subscription(sub_id, ("past_due", "unpaid"), "recover")
        self._action(request=False)
        before = _copy(sub)
        sub["status"] = "active"
        self._emit("customer.subscription.updated", sub, _changes(before, sub))

    def pause(self, sub_id: str) -> None:
        """customer.subscription.paused (status ``paused``)."""
        sub = self._subscription(sub_id, ("trialing", "active"), "pause")
        self._action(request=False)
        sub["status"] = "paused"
        self._emit("customer.subscription.paused", sub)

    def resume(self, sub_id: str) -> None:
        """customer.subscription.resumed; the billing cycle restarts now."""
        sub = self._subscription(sub_id, ("paused",), "resume")
        self._action(request=True)
        sub.update(status="active", billing_cycle_anchor=self.now)
        self._set_period(sub, self.now)
        self._emit("customer.subscription.resumed", sub)

    def cancel(self, sub_id: str, *, at_period_end: bool = True) -> None:
        """customer.subscription.updated (cancel_at_period_end), then .deleted.

        The story does not wait for the period to end: ``ended_at`` is the time of
        the deleted event. With ``at_period_end=False`` only the deleted event is sent.
        """
        sub = self._subscription(
            sub_id, (*SUBSCRIPTION_LIVE, "paused", "unpaid"), "cancel"
        )
        self._action(request=True)
        reason = {"comment": None, "feedback": None, "reason": "cancellation_requested"}
        if at_period_end:
            before = _copy(sub)
            sub.update(
                cancel_at_period_end=True,
                cancel_at=self._period(sub)[1],
                canceled_at=self.now,
            )
            if not self.legacy:
                sub["cancellation_details"] = reason
            self._emit("customer.subscription.updated", sub, _changes(before, sub))
            self._action(request=False)
        else:
            sub["canceled_at"] = self.now
            if not self.legacy:
                sub["cancellation_details"] = reason
        sub.update(status="canceled", ended_at=self.now)
        self._emit("customer.subscription.deleted", sub)

    # -- invoices -------------------------------------------------------------------

    def _invoice(self, invoice_id: str, allowed: Iterable[str], action: str) -> Obj:
        invoice = self._invoices.get(invoice_id)
        if invoice is None:
            raise ValueError(f"no invoice {invoice_id!r} in this story")
        if invoice["status"] not in allowed:
            raise ValueError(
                f"cannot {action} invoice {invoice_id}: {invoice['status']}"
            )
        return invoice

    def _tax_rate(self, value: TaxRate | Decimal | int | None) -> TaxRate | None:
        if value is None:
            return None
        if isinstance(value, TaxRate):
            rate = value
        else:
            percentage = Decimal(str(value))
            label = format(percentage, "f").replace(".", "_")
            rate = TaxRate(f"txr_{self.prefix}_{label}", percentage)
        if not 0 <= Decimal(rate.percentage) <= 100:
            raise ValueError(f"tax percentage out of range: {rate.percentage}")
        known = self._tax_rates.get(rate.id)
        if known is not None and Decimal(known["percentage"]) != Decimal(
            rate.percentage
        ):
            raise ValueError(f"tax rate {rate.id} already has another percentage")
        return rate

    def _line(
        self,
        invoice_id: str,
        sub: Obj,
        amount: int,
        description: str,
        period: tuple[int, int],
        proration: bool,
        rate: TaxRate | None,
        discounts: Sequence[tuple[str, int]] = (),
    ) -> Obj:
        item = self._item(sub)
        price = item["price"]
        # Stripe taxes what is left of the line after its discounts.
        taxable = amount - sum(off for _, off in discounts)
        tax = rate.on(taxable) if rate is not None else 0
        base: Obj = {
            "id": self._new_id("il"),
            "object": "line_item",
            "amount": amount,
            "currency": self.currency,
            "description": description,
            "discount_amounts": [
                {"amount": off, "discount": discount_id}
                for discount_id, off in discounts
            ],
            "discountable": True,
            "discounts": [],
            "livemode": False,
            "metadata": {},
            "period": {"end": period[1], "start": period[0]},
            "quantity": item["quantity"],
            "subscription": sub["id"],
        }
        invoice_item = self._new_id("ii") if proration else None
        if self.legacy:
            base.update(
                plan=self._plan(price),
                price=_copy(price),
                proration=proration,
                subscription_item=item["id"],
                tax_amounts=[]
                if rate is None
                else [{"amount": tax, "inclusive": False, "tax_rate": rate.id}],
                tax_rates=[] if rate is None else [_copy(self._tax_rates[rate.id])],
                type="invoiceitem" if proration else "subscription",
            )
            if invoice_item is not None:
                base["invoice_item"] = invoice_item
            return base
        base.update(
            invoice=invoice_id,
            parent={
                "invoice_item_details": None,
                "subscription_item_details": {
                    "invoice_item": invoice_item,
                    "proration": proration,
                    "proration_details": {"credited_items": None},
                    "subscription": sub["id"],
                    "subscription_item": item["id"],
                },
                "type": "subscription_item_details",
            },
            pretax_credit_amounts=[
                self._credit_entry(discount_id, off) for discount_id, off in discounts
            ],
            pricing={
                "price_details": {"price": price["id"], "product": price["product"]},
                "type": "price_details",
                "unit_amount_decimal": price["unit_amount_decimal"],
            },
            quantity_decimal=str(item["quantity"]),
            subtotal=amount,
            taxes=[] if rate is None else [self._tax_entry(rate.id, tax, taxable)],
        )
        return base

    @staticmethod
    def _credit_entry(discount_id: str, amount: int) -> Obj:
        return {
            "amount": amount,
            "credit_balance_transaction": None,
            "discount": discount_id,
            "type": "discount",
        }

    @staticmethod
    def _tax_entry(rate_id: str, tax: int, taxable: int) -> Obj:
        return {
            "amount": tax,
            "tax_behavior": "exclusive",
            "tax_rate_details": {"tax_rate": rate_id},
            "taxability_reason": "standard_rated",
            "taxable_amount": taxable,
            "type": "tax_rate_details",
        }

    def _customer_details(self) -> Obj:
        customer = self._customer
        return {
            "customer_address": _copy(customer["address"]),
            "customer_email": customer["email"],
            "customer_name": customer["name"],
            "customer_phone": customer["phone"],
            "customer_tax_ids": [
                {"type": tax_id["type"], "value": tax_id["value"]}
                for tax_id in customer["tax_ids"]["data"]
            ],
        }

    def invoice(
        self,
        sub_id: str,
        proration_lines: Sequence[tuple[int, str]] = (),
        tax_rate: TaxRate | Decimal | int | None = None,
        discounts: Sequence[Coupon] = (),
    ) -> str:
        """invoice.created: a draft with the subscription line, then any prorations.

        ``proration_lines`` are ``(amount, description)`` pairs in minor units,
        negative for unused time. A trialing subscription's line is free.
        ``discounts`` are coupons redeemed on this invoice, applied in order to the
        lines that are not credits; each line is taxed on what they leave of it.
        Every line carries its share of each discount (``discount_amounts``, in
        basil also ``pretax_credit_amounts``) and the invoice their totals. Returns
        the invoice id.
        """
        sub = self._subscription(sub_id, SUBSCRIPTION_LIVE, "invoice")
        rate = self._tax_rate(tax_rate)
        item = self._item(sub)
        trialing = sub["status"] == "trialing"
        product = item["price"]["product"]
        first_amount = (
            0 if trialing else item["quantity"] * item["price"]["unit_amount"]
        )
        first_text = (
            f"Trial period for {product}"
            if trialing
            else f"{item['quantity']} \N{MULTIPLICATION SIGN} {product}"
        )
        entries = [(first_amount, first_text, False)]
        for amount, description in proration_lines:
            entries.append((_whole(amount, "proration amount"), description, True))
        coupons = list(discounts)
        if any(not isinstance(coupon, Coupon) for coupon in coupons):
            raise ValueError("discounts must be Coupon objects")
        if len({coupon.id for coupon in coupons}) != len(coupons):
            raise ValueError("a coupon can be redeemed once per invoice")
        left = [amount for amount, _, _ in entries]
        shares: list[list[int]] = []
        for coupon in coupons:
            shares.append(coupon.shares(left))
            left = [amount - off for amount, off in zip(left, shares[-1], strict=True)]
        discounted = sum(sum(coupon_shares) for coupon_shares in shares)
        tax = sum(rate.on(amount) for amount in left) if rate else 0
        subtotal = sum(amount for amount, _, _ in entries)
        if subtotal - discounted + tax < 0:
            raise ValueError(
                "invoice total would be negative; customer credit balances are not "
                "modelled"
            )
        self._action(request=bool(proration_lines))
        invoice_id = self._new_id("in")
        if rate is not None and rate.id not in self._tax_rates:
            self._tax_rates[rate.id] = rate.as_stripe(self.now)
        discount_objects = [
            self._discount(coupon, invoice_id, sub_id) for coupon in coupons
        ]
        discount_ids = [discount["id"] for discount in discount_objects]
        period = self._period(sub)
        lines = [
            self._line(
                invoice_id,
                sub,
                amount,
                description,
                (self.now, period[1]) if proration else period,
                proration,
                rate,
                []
                if amount < 0
                else [
                    (discount_id, coupon_shares[index])
                    for discount_id, coupon_shares in zip(
                        discount_ids, shares, strict=True
                    )
                ],
            )
            for index, (amount, description, proration) in enumerate(entries)
        ]
        totals = [
            (discount_id, sum(coupon_shares))
            for discount_id, coupon_shares in zip(discount_ids, shares, strict=True)
        ]
        if sub["latest_invoice"] is None:
            reason = "subscription_create"
        elif proration_lines:
            reason = "subscription_update"
        else:
            reason = "subscription_cycle"
        total = subtotal - discounted + tax
        invoice: Obj = {
            "id": invoice_id,
            "object": "invoice",
            "account_country": "US",
            "account_name": None,
            "account_tax_ids": None,
            "amount_due": total,
            "amount_paid": 0,
            "amount_remaining": total,
            "attempt_count": 0,
            "attempted": False,
            "auto_advance": True,
            "billing_reason": reason,
            "collection_method": "charge_automatically",
            "created": self.now,
            "currency": self.currency,
            "custom_fields": None,
            "customer": self.customer_id,
            "customer_shipping": None,
            "customer_tax_exempt": "none",
            "default_payment_method": None,
            "default_source": None,
            "default_tax_rates": [],
            "description": None,
            "discounts": discount_ids,
            "due_date": None,
            "ending_balance": None,
            "footer": None,
            "hosted_invoice_url": None,
            "invoice_pdf": None,
            "last_finalization_error": None,
            "lines": self._list(lines, f"/v1/invoices/{invoice_id}/lines"),
            "livemode": False,
            "metadata": {},
            "next_payment_attempt": None,
            "number": None,
            "on_behalf_of": None,
            "payment_settings": {
                "default_mandate": None,
                "payment_method_options": None,
                "payment_method_types": None,
            },
            "period_end": self.now,
            "period_start": self.now,
            "post_payment_credit_notes_amount": 0,
            "pre_payment_credit_notes_amount": 0,
            "receipt_number": None,
            "starting_balance": 0,
            "statement_descriptor": None,
            "status": "draft",
            "status_transitions": {
                "finalized_at": None,
                "marked_uncollectible_at": None,
                "paid_at": None,
                "voided_at": None,
            },
            "subtotal": subtotal,
            "total": total,
            "total_discount_amounts": [
                {"amount": off, "discount": discount_id} for discount_id, off in totals
            ],
            "webhooks_delivered_at": None,
            **self._customer_details(),
        }
        if self.legacy:
            invoice.update(
                application_fee_amount=None,
                automatic_tax={"enabled": False, "status": None},
                charge=None,
                # Before multiple discounts, an invoice showed its first one.
                discount=discount_objects[0] if discount_objects else None,
                paid=False,
                paid_out_of_band=False,
                payment_intent=None,
                quote=None,
                subscription=sub_id,
                tax=tax if rate is not None else None,
                tax_percent=None,
                total_tax_amounts=[]
                if rate is None
                else [{"amount": tax, "inclusive": False, "tax_rate": rate.id}],
                transfer_data=None,
            )
        else:
            invoice.update(
                amount_overpaid=0,
                amount_shipping=0,
                application=None,
                automatic_tax={
                    "disabled_reason": None,
                    "enabled": False,
                    "liability": None,
                    "provider": None,
                    "status": None,
                },
                automatically_finalizes_at=self.now + HOUR,
                customer_account=None,
                effective_at=None,
                from_invoice=None,
                issuer={"type": "self"},
                latest_revision=None,
                parent={
                    "quote_details": None,
                    "subscription_details": {
                        "metadata": _copy(sub["metadata"]),
                        "subscription": sub_id,
                    },
                    "type": "subscription_details",
                },
                rendering=None,
                shipping_cost=None,
                shipping_details=None,
                subtotal_excluding_tax=subtotal,
                test_clock=None,
                total_excluding_tax=subtotal - discounted,
                total_pretax_credit_amounts=[
                    self._credit_entry(discount_id, off) for discount_id, off in totals
                ],
                total_taxes=[]
                if rate is None
                else [self._tax_entry(rate.id, tax, subtotal - discounted)],
            )
        self._invoices[invoice_id] = invoice
        self._subscription_of_invoice[invoice_id] = sub_id
        sub["latest_invoice"] = invoice_id
        self._emit("invoice.created", invoice)
        return invoice_id

    def _discount(self, coupon: Coupon, invoice_id: str, sub_id: str) -> Obj:
        """The Discount object of one coupon redeemed on one invoice."""
        discount: Obj = {
            "id": self._new_id("di"),
            "object": "discount",
            "checkout_session": None,
            "customer": self.customer_id,
            "end": None,
            "invoice": invoice_id,
            "invoice_item": None,
            "promotion_code": None,
            "start": self.now,
            "subscription": sub_id,
        }
        coupon_obj = coupon.as_stripe(self.currency, self.now)
        if self.legacy:
            discount["coupon"] = coupon_obj
        else:
            discount.update(
                customer_account=None,
                source={"coupon": coupon_obj, "type": "coupon"},
                subscription_item=None,
            )
        return discount

    def _settle(self, invoice: Obj) -> None:
        """Mark an invoice whose amount_remaining reached zero as paid."""
        invoice["status"] = "paid"
        invoice["status_transitions"]["paid_at"] = self.now
        invoice["next_payment_attempt"] = None
        if self.legacy:
            invoice["paid"] = True

    def finalize(self, invoice_id: str) -> None:
        """invoice.finalized (open, numbered); a zero total is paid at once.

        Stripe settles a zero-total invoice when finalizing it, so that case also
        sends invoice.paid and invoice.payment_succeeded in the same second.
        """
        invoice = self._invoice(invoice_id, ("draft",), "finalize")
        self._action(request=False)
        customer = self._customer
        sequence = customer["next_invoice_sequence"]
        customer["next_invoice_sequence"] = sequence + 1
        invoice.update(self._customer_details())
        invoice.update(
            status="open",
            number=f"{customer['invoice_prefix']}-{sequence:04d}",
            hosted_invoice_url=f"https://invoice.stripe.com/i/{invoice_id}",
            invoice_pdf=f"https://pay.stripe.com/invoice/{invoice_id}/pdf",
            ending_balance=0,
            webhooks_delivered_at=self.now,
            next_payment_attempt=self.now + FIRST_ATTEMPT_DELAY
            if invoice["amount_remaining"] > 0
            else None,
        )
        invoice["status_transitions"]["finalized_at"] = self.now
        if not self.legacy:
            invoice.update(effective_at=self.now, automatically_finalizes_at=None)
        self._emit("invoice.finalized", invoice)
        if invoice["amount_remaining"] == 0:
            invoice["attempted"] = True
            self._settle(invoice)
            self._emit("invoice.paid", invoice)
            self._emit("invoice.payment_succeeded", invoice)

    # -- payments -------------------------------------------------------------------

    def _intent_for(self, invoice: Obj, amount: int) -> Obj:
        """The PaymentIntent to attempt: the failed one again, else a new one."""
        pending = self._pending_intent.get(invoice["id"])
        if pending is not None and self._intents[pending]["amount"] == amount:
            return self._intents[pending]
        intent_id = self._new_id("pi")
        first = invoice["billing_reason"] == "subscription_create"
        intent: Obj = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_details": {"tip": {}},
            "amount_received": 0,
            "application": None,
            "application_fee_amount": None,
            "automatic_payment_methods": None,
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": "automatic",
            "client_secret": f"{intent_id}_secret_{self.prefix}",
            "confirmation_method": "automatic",
            "created": self.now,
            "currency": self.currency,
            "customer": self.customer_id,
            "description": "Subscription creation" if first else "Subscription update",
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": {},
            "next_action": None,
            "on_behalf_of": None,
            "payment_method": self._payment_method,
            "payment_method_options": {
                "card": {
                    "installments": None,
                    "mandate_options": None,
                    "network": None,
                    "request_three_d_secure": "automatic",
                }
            },
            "payment_method_types": ["card"],
            "processing": None,
            "receipt_email": None,
            "review": None,
            "setup_future_usage": "off_session",
            "shipping": None,
            "statement_descriptor": None,
            "statement_descriptor_suffix": None,
            "status": "requires_payment_method",
            "transfer_data": None,
            "transfer_group": None,
        }
        if self.legacy:
            intent["invoice"] = invoice["id"]
        else:
            intent.update(
                customer_account=None,
                excluded_payment_method_types=None,
                managed_payments={"enabled": False},
                payment_method_configuration_details=None,
                source=None,
            )
        self._intents[intent_id] = intent
        self._invoice_of_intent[intent_id] = invoice["id"]
        return intent

    def _new_charge(self, intent: Obj, succeeded: bool) -> Obj:
        charge_id = self._new_id("ch")
        amount = intent["amount"]
        customer = self._customer
        if succeeded:
            outcome: Obj = {
                "network_status": "approved_by_network",
                "reason": None,
                "risk_level": "normal",
                "seller_message": "Payment complete.",
                "type": "authorized",
            }
        else:
            outcome = {
                "network_status": "declined_by_network",
                "reason": "generic_decline",
                "risk_level": "normal",
                "seller_message": "The bank did not return any further details.",
                "type": "issuer_declined",
            }
        charge: Obj = {
            "id": charge_id,
            "object": "charge",
            "amount": amount,
            "amount_captured": amount if succeeded else 0,
            "amount_refunded": 0,
            "application": None,
            "application_fee": None,
            "application_fee_amount": None,
            "balance_transaction": self._new_id("txn") if succeeded else None,
            "billing_details": {
                "address": _copy(customer["address"]),
                "email": customer["email"],
                "name": customer["name"],
                "phone": customer["phone"],
            },
            "calculated_statement_descriptor": None,
            "captured": succeeded,
            "created": self.now,
            "currency": self.currency,
            "customer": self.customer_id,
            "description": intent["description"],
            "disputed": False,
            "failure_balance_transaction": None,
            "failure_code": None if succeeded else "card_declined",
            "failure_message": None if succeeded else "Your card was declined.",
            "fraud_details": {},
            "livemode": False,
            "metadata": {},
            "on_behalf_of": None,
            "outcome": outcome,
            "paid": succeeded,
            "payment_intent": intent["id"],
            "payment_method": self._payment_method,
            "payment_method_details": {
                "card": {
                    "brand": "visa",
                    "checks": {
                        "address_line1_check": None,
                        "address_postal_code_check": None,
                        "cvc_check": "pass",
                    },
                    "country": "US",
                    "exp_month": 12,
                    "exp_year": 2030,
                    "fingerprint": f"fp{self.prefix}card",
                    "funding": "credit",
                    "installments": None,
                    "last4": "4242" if succeeded else "0002",
                    "mandate": None,
                    "network": "visa",
                    "three_d_secure": None,
                    "wallet": None,
                },
                "type": "card",
            },
            "receipt_email": None,
            "receipt_number": None,
            "receipt_url": f"https://pay.stripe.com/receipts/{charge_id}",
            "refunded": False,
            "review": None,
            "shipping": None,
            "source": None,
            "source_transfer": None,
            "statement_descriptor": None,
            "statement_descriptor_suffix": None,
            "status": "succeeded" if succeeded else "failed",
            "transfer_data": None,
            "transfer_group": None,
        }
        if self.legacy:
            charge.update(
                destination=None,
                dispute=None,
                invoice=self._invoice_of_intent[intent["id"]],
                order=None,
                refunds=self._list([], f"/v1/charges/{charge_id}/refunds"),
            )
        else:
            charge["billing_details"]["tax_id"] = None
        self._charges[charge_id] = charge
        intent["latest_charge"] = charge_id
        return charge

    def pay(self, invoice_id: str, amount: int | None = None) -> str:
        """Collect ``amount`` (default: all that remains) by card; returns the PI id.

        First second: payment_intent.succeeded and charge.succeeded. Next second,
        basil: invoice_payment.paid, then invoice.paid and invoice.payment_succeeded
        when nothing remains, otherwise invoice.updated. Legacy invoices are paid in
        full only, so a partial amount raises ValueError; they name the charge and
        PaymentIntent and get invoice.paid and invoice.payment_succeeded.
        """
        invoice = self._invoice(invoice_id, ("open", "uncollectible"), "pay")
        remaining = invoice["amount_remaining"]
        amount = remaining if amount is None else _whole(amount, "amount", 1)
        if amount > remaining:
            raise ValueError(f"{amount} is more than the {remaining} still due")
        if self.legacy and amount != remaining:
            raise ValueError("the legacy shape has no partial invoice payments")
        self._action(request=False)
        intent = self._intent_for(invoice, amount)
        charge = self._new_charge(intent, succeeded=True)
        intent.update(
            status="succeeded", amount_received=amount, last_payment_error=None
        )
        self._pending_intent.pop(invoice_id, None)
        self._emit("payment_intent.succeeded", intent)
        self._emit("charge.succeeded", charge)

        self._action(request=False)
        before = _copy(invoice)
        invoice.update(
            amount_paid=invoice["amount_paid"] + amount,
            amount_remaining=remaining - amount,
            attempt_count=invoice["attempt_count"] + 1,
            attempted=True,
        )
        if self.legacy:
            invoice.update(charge=charge["id"], payment_intent=intent["id"])
        else:
            self._emit(
                "invoice_payment.paid", self._new_invoice_payment(invoice, intent)
            )
        if invoice["amount_remaining"] == 0:
            self._settle(invoice)
            self._emit("invoice.paid", invoice)
            self._emit("invoice.payment_succeeded", invoice)
        else:
            self._emit("invoice.updated", invoice, _changes(before, invoice))
        return str(intent["id"])

    def _new_invoice_payment(self, invoice: Obj, intent: Obj) -> Obj:
        is_default = not any(
            payment["invoice"] == invoice["id"]
            for payment in self._invoice_payments.values()
        )
        payment: Obj = {
            "id": self._new_id("inpay"),
            "object": "invoice_payment",
            "amount_paid": intent["amount_received"],
            "amount_requested": intent["amount"],
            "created": self.now,
            "currency": self.currency,
            "invoice": invoice["id"],
            "is_default": is_default,
            "livemode": False,
            "payment": {"type": "payment_intent", "payment_intent": intent["id"]},
            "status": "paid",
            "status_transitions": {"canceled_at": None, "paid_at": self.now},
        }
        self._invoice_payments[payment["id"]] = payment
        return payment

    def fail_payment(self, invoice_id: str) -> str:
        """A declined card; returns the PaymentIntent id, which a later pay() reuses.

        First second: payment_intent.payment_failed and charge.failed. Next second:
        invoice.payment_failed (attempt_count + 1, next_payment_attempt set) and, if
        the subscription was active, customer.subscription.updated to past_due.
        """
        invoice = self._invoice(invoice_id, ("open",), "fail a payment of")
        self._action(request=False)
        intent = self._intent_for(invoice, invoice["amount_remaining"])
        self._pending_intent[invoice_id] = intent["id"]
        charge = self._new_charge(intent, succeeded=False)
        intent.update(
            status="requires_payment_method",
            last_payment_error={
                "charge": charge["id"],
                "code": "card_declined",
                "decline_code": "generic_decline",
                "doc_url": "https://stripe.com/docs/error-codes/card-declined",
                "message": "Your card was declined.",
                "type": "card_error",
            },
        )
        self._emit("payment_intent.payment_failed", intent)
        self._emit("charge.failed", charge)

        self._action(request=False)
        invoice.update(
            attempt_count=invoice["attempt_count"] + 1,
            attempted=True,
            next_payment_attempt=self.now + RETRY_DELAY,
        )
        if self.legacy:
            invoice.update(charge=charge["id"], payment_intent=intent["id"])
        self._emit("invoice.payment_failed", invoice)
        sub = self._subscriptions[self._subscription_of_invoice[invoice_id]]
        if sub["status"] == "active":
            before = _copy(sub)
            sub["status"] = "past_due"
            self._emit("customer.subscription.updated", sub, _changes(before, sub))
        return str(intent["id"])

    def void(self, invoice_id: str) -> None:
        """invoice.voided; the amounts stay as they were, only the status changes."""
        invoice = self._invoice(invoice_id, ("open", "uncollectible"), "void")
        self._action(request=True)
        invoice.update(status="void", next_payment_attempt=None)
        invoice["status_transitions"]["voided_at"] = self.now
        self._emit("invoice.voided", invoice)

    def mark_uncollectible(self, invoice_id: str) -> None:
        """invoice.marked_uncollectible; the invoice can still be paid later."""
        invoice = self._invoice(invoice_id, ("open",), "mark uncollectible")
        self._action(request=True)
        invoice.update(status="uncollectible", next_payment_attempt=None)
        invoice["status_transitions"]["marked_uncollectible_at"] = self.now
        self._emit("invoice.marked_uncollectible", invoice)

    # -- money going back -----------------------------------------------------------

    def _paid_charge(self, intent_id: str) -> tuple[Obj, Obj]:
        intent = self._intents.get(intent_id)
        if intent is None or intent["status"] != "succeeded":
            raise ValueError(f"{intent_id!r} is not a successful payment of this story")
        return intent, self._charges[intent["latest_charge"]]

    def refund(
        self,
        payment_intent_id: str,
        amount: int | None = None,
        *,
        reason: str | None = None,
    ) -> str:
        """refund.created and charge.refunded in one second; returns the refund id.

        Legacy charges list their refunds in ``refunds.data``; basil charges only show
        ``amount_refunded`` and ``refunded``.
        """
        intent, charge = self._paid_charge(payment_intent_id)
        for dispute in self._disputes.values():
            if dispute["charge"] == charge["id"] and dispute["status"] != "won":
                raise ValueError(f"payment {payment_intent_id} is disputed")
        refundable = charge["amount_captured"] - charge["amount_refunded"]
        amount = refundable if amount is None else _whole(amount, "amount", 1)
        if not 0 < amount <= refundable:
            raise ValueError(f"cannot refund {amount}; {refundable} is refundable")
        self._action(request=True)
        refund: Obj = {
            "id": self._new_id("re"),
            "object": "refund",
            "amount": amount,
            "balance_transaction": self._new_id("txn"),
            "charge": charge["id"],
            "created": self.now,
            "currency": self.currency,
            "destination_details": {
                "card": {
                    "reference": None,
                    "reference_status": "pending",
                    "reference_type": "acquirer_reference_number",
                    "type": "refund",
                },
                "type": "card",
            },
            "metadata": {},
            "payment_intent": intent["id"],
            "reason": reason,
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": "succeeded",
            "transfer_reversal": None,
        }
        if not self.legacy:
            refund.update(
                customer=self.customer_id,
                customer_account=None,
                payment_method=self._payment_method,
            )
        self._refunds[refund["id"]] = refund
        before = _copy(charge)
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount_captured"]
        if self.legacy:
            listing = charge["refunds"]
            self._set_list(listing, [_copy(refund), *listing["data"]])
        self._emit("refund.created", refund)
        self._emit("charge.refunded", charge, _changes(before, charge))
        return str(refund["id"])

    def credit_note(
        self,
        invoice_id: str,
        amount: int,
        refund_id: str | None = None,
        *,
        reason: str | None = None,
        memo: str | None = None,
        refund_ids: Sequence[str] = (),
        tax_rate: TaxRate | Decimal | int | None = None,
    ) -> str:
        """credit_note.created and invoice.updated in one second; returns the id.

        ``post_payment`` when the invoice is paid (up to what was paid), otherwise
        ``pre_payment`` (up to what remains; an open invoice credited in full becomes
        paid and also sends invoice.paid). A refund can only back a post-payment
        note; the part of a post-payment note no refund covers is out of band.
        ``refund_ids`` names further refunds backing the note, in order (basil
        only: a legacy note names one ``refund``). With ``tax_rate`` the line's
        ``amount`` is before tax and the note's total adds the tax on it.
        """
        invoice = self._invoice(invoice_id, ("open", "paid"), "credit")
        _whole(amount, "amount", 1)
        rate = self._tax_rate(tax_rate)
        tax = rate.on(amount) if rate is not None else 0
        total = amount + tax
        post = invoice["status"] == "paid"
        if post:
            limit = invoice["amount_paid"] - invoice["post_payment_credit_notes_amount"]
        else:
            limit = invoice["amount_remaining"]
        if total > limit:
            raise ValueError(f"cannot credit {total}; at most {limit} can be")
        backing = ([refund_id] if refund_id is not None else []) + list(refund_ids)
        if self.legacy and len(backing) > 1:
            raise ValueError("a legacy credit note names one refund")
        if len(set(backing)) != len(backing):
            raise ValueError("a refund is named twice")
        covers: dict[str, int] = {}
        for backer in backing:
            refund = self._refunds.get(backer)
            if refund is None:
                raise ValueError(f"no refund {backer!r} in this story")
            if not post:
                raise ValueError(
                    "a refund can only back a credit note of a paid invoice"
                )
            if self._invoice_of_intent[refund["payment_intent"]] != invoice_id:
                raise ValueError(f"refund {backer} is not of invoice {invoice_id}")
            free = refund["amount"] - self._refund_linked.get(backer, 0)
            covers[backer] = min(total - sum(covers.values()), free)
            if covers[backer] <= 0:
                raise ValueError(f"refund {backer} cannot back this credit note")
        refunded = sum(covers.values())
        self._action(request=True)
        note_id = self._new_id("cn")
        count = self._notes_of_invoice.get(invoice_id, 0) + 1
        self._notes_of_invoice[invoice_id] = count
        for backer, covered in covers.items():
            self._refund_linked[backer] = self._refund_linked.get(backer, 0) + covered
        if rate is not None and rate.id not in self._tax_rates:
            self._tax_rates[rate.id] = rate.as_stripe(self.now)
        line: Obj = {
            "id": self._new_id("cnli"),
            "object": "credit_note_line_item",
            "amount": amount,
            "description": memo or f"Credit for invoice {invoice['number']}",
            "discount_amount": 0,
            "discount_amounts": [],
            "livemode": False,
            "quantity": 1,
            "tax_rates": [] if rate is None else [_copy(self._tax_rates[rate.id])],
            "type": "custom_line_item",
            "unit_amount": amount,
            "unit_amount_decimal": str(amount),
        }
        out_of_band = total - refunded if post and total > refunded else None
        legacy_taxes = (
            []
            if rate is None
            else [{"amount": tax, "inclusive": False, "tax_rate": rate.id}]
        )
        basil_taxes = [] if rate is None else [self._tax_entry(rate.id, tax, amount)]
        note: Obj = {
            "id": note_id,
            "object": "credit_note",
            "amount": total,
            "amount_shipping": 0,
            "created": self.now,
            "currency": self.currency,
            "customer": self.customer_id,
            "customer_balance_transaction": None,
            "discount_amount": 0,
            "discount_amounts": [],
            "invoice": invoice_id,
            "lines": self._list([line], f"/v1/credit_notes/{note_id}/lines"),
            "livemode": False,
            "memo": memo,
            "metadata": {},
            "number": f"{invoice['number']}-CN-{count:02d}",
            "out_of_band_amount": out_of_band,
            "pdf": f"https://pay.stripe.com/credit_notes/{note_id}/pdf",
            "reason": reason,
            "shipping_cost": None,
            "status": "issued",
            "subtotal": amount,
            "subtotal_excluding_tax": amount,
            "total": total,
            "total_excluding_tax": amount,
            "type": "post_payment" if post else "pre_payment",
            "voided_at": None,
        }
        if self.legacy:
            line.update(
                amount_excluding_tax=amount,
                tax_amounts=_copy(legacy_taxes),
                unit_amount_excluding_tax=str(amount),
            )
            note.update(
                refund=backing[0] if backing else None, tax_amounts=legacy_taxes
            )
        else:
            line.update(metadata={}, pretax_credit_amounts=[], taxes=basil_taxes)
            note.update(
                customer_account=None,
                effective_at=self.now,
                post_payment_amount=total if post else 0,
                pre_payment_amount=0 if post else total,
                pretax_credit_amounts=[],
                refunds=[
                    {
                        "amount_refunded": covered,
                        "payment_record_refund": None,
                        "refund": backer,
                        "type": "refund",
                    }
                    for backer, covered in covers.items()
                ],
                total_taxes=_copy(basil_taxes),
            )
        self._credit_notes[note_id] = note
        before = _copy(invoice)
        if post:
            invoice["post_payment_credit_notes_amount"] += total
        else:
            invoice["pre_payment_credit_notes_amount"] += total
            invoice["amount_due"] -= total
            invoice["amount_remaining"] -= total
            if invoice["amount_remaining"] == 0:
                self._settle(invoice)
        self._emit("credit_note.created", note)
        self._emit("invoice.updated", invoice, _changes(before, invoice))
        if invoice["status"] == "paid" and not post:
            self._emit("invoice.paid", invoice)
        return note_id

    def _dispute_transaction(self, dispute: Obj, amount: int, reinstated: bool) -> Obj:
        transaction: Obj = {
            "id": self._new_id("txn"),
            "object": "balance_transaction",
            "amount": amount,
            "available_on": self.now,
            "created": self.now,
            "currency": self.currency,
            "description": (
                f"Chargeback reversal for {dispute['charge']}"
                if reinstated
                else f"Chargeback withdrawal for {dispute['charge']}"
            ),
            "exchange_rate": None,
            "fee": 0,
            "fee_details": [],
            "net": amount,
            "reporting_category": "dispute_reversal" if reinstated else "dispute",
            "source": dispute["id"],
            "status": "available",
            "type": "adjustment",
        }
        if not self.legacy:
            transaction["balance_type"] = "payments"
        return transaction

    def dispute(
        self,
        payment_intent_id: str,
        outcome: Literal["won", "lost"] = "lost",
        *,
        reason: str = "fraudulent",
    ) -> str:
        """A chargeback over what is left of the payment; returns the dispute id.

        First second: charge.dispute.created and charge.dispute.funds_withdrawn. Next
        second: charge.dispute.closed (won or lost) and, when won,
        charge.dispute.funds_reinstated.
        """
        intent, charge = self._paid_charge(payment_intent_id)
        if outcome not in ("won", "lost"):
            raise ValueError(f"outcome must be 'won' or 'lost', got {outcome!r}")
        if charge["disputed"]:
            raise ValueError(f"payment {payment_intent_id} is already disputed")
        amount = charge["amount_captured"] - charge["amount_refunded"]
        if amount <= 0:
            raise ValueError(f"payment {payment_intent_id} was refunded in full")
        self._action(request=False)
        dispute: Obj = {
            "id": self._new_id("dp"),
            "object": "dispute",
            "amount": amount,
            "balance_transactions": [],
            "charge": charge["id"],
            "created": self.now,
            "currency": self.currency,
            "evidence": dict.fromkeys(EVIDENCE_FIELDS),
            "evidence_details": {
                "due_by": self.now + EVIDENCE_WINDOW,
                "has_evidence": False,
                "past_due": False,
                "submission_count": 0,
            },
            "is_charge_refundable": False,
            "livemode": False,
            "metadata": {},
            "payment_intent": intent["id"],
            "reason": reason,
            "status": "needs_response",
        }
        if not self.legacy:
            dispute["evidence"]["enhanced_evidence"] = {}
            dispute["evidence_details"]["enhanced_eligibility"] = {}
            dispute.update(
                enhanced_eligibility_types=[],
                payment_method_details={
                    "card": {
                        "brand": "visa",
                        "case_type": "chargeback",
                        "network_reason_code": "10.4",
                    },
                    "type": "card",
                },
            )
        self._disputes[dispute["id"]] = dispute
        charge["disputed"] = True
        if self.legacy:
            charge["dispute"] = dispute["id"]
        self._emit("charge.dispute.created", dispute)
        withdrawal = self._dispute_transaction(dispute, -amount, reinstated=False)
        dispute["balance_transactions"].append(withdrawal)
        self._emit("charge.dispute.funds_withdrawn", dispute)

        self._action(request=False)
        dispute["status"] = outcome
        if outcome == "won":
            # A dispute is only won on evidence the merchant submitted.
            dispute["evidence"]["uncategorized_text"] = "Service delivered as agreed."
            dispute["evidence_details"].update(has_evidence=True, submission_count=1)
        self._emit("charge.dispute.closed", dispute)
        if outcome == "won":
            reinstatement = self._dispute_transaction(dispute, amount, reinstated=True)
            dispute["balance_transactions"].append(reinstatement)
            self._emit("charge.dispute.funds_reinstated", dispute)
        return str(dispute["id"])

    # -- what the books should show -------------------------------------------------

    @property
    def expected(self) -> dict[str, Any]:
        """The final state in Stripe's terms, for checking what landed in the ERP.

        Built fresh from the story's state on every read, so it always matches the
        last event; ``payments`` lists successful PaymentIntents only.
        """
        refunded: dict[str, int] = {}
        refunds: dict[str, Any] = {}
        for refund in self._refunds.values():
            invoice_id = self._invoice_of_intent[refund["payment_intent"]]
            refunded[invoice_id] = refunded.get(invoice_id, 0) + refund["amount"]
            refunds[refund["id"]] = {
                "payment": refund["payment_intent"],
                "invoice": invoice_id,
                "amount": refund["amount"],
            }
        credited: dict[str, int] = {}
        for note in self._credit_notes.values():
            credited[note["invoice"]] = (
                credited.get(note["invoice"], 0) + note["amount"]
            )
        invoices = {
            invoice_id: {
                "status": invoice["status"],
                "subscription": self._subscription_of_invoice[invoice_id],
                "number": invoice["number"],
                "total": invoice["total"],
                "amount_paid": invoice["amount_paid"],
                "amount_remaining": invoice["amount_remaining"],
                "currency": self.currency,
                "refunded": refunded.get(invoice_id, 0),
                "credited": credited.get(invoice_id, 0),
            }
            for invoice_id, invoice in self._invoices.items()
        }
        subscriptions = {}
        for sub_id, sub in self._subscriptions.items():
            item = self._item(sub)
            subscriptions[sub_id] = {
                "status": sub["status"],
                "price": item["price"]["id"],
                "product": item["price"]["product"],
                "quantity": item["quantity"],
                "unit_amount": item["price"]["unit_amount"],
                "currency": self.currency,
                "cancel_at_period_end": sub["cancel_at_period_end"],
            }
        customer = self._customer
        return {
            "customer": {
                "id": self.customer_id,
                "name": customer["name"],
                "email": customer["email"],
                "country": customer["address"]["country"],
                "hubspot_company_id": customer["metadata"].get("hubspot_company_id"),
            },
            "subscriptions": subscriptions,
            "invoices": invoices,
            "payments": {
                intent_id: {
                    "invoice": self._invoice_of_intent[intent_id],
                    "amount": intent["amount_received"],
                    "currency": self.currency,
                }
                for intent_id, intent in self._intents.items()
                if intent["status"] == "succeeded"
            },
            "refunds": refunds,
            "disputes": {
                dispute_id: {
                    "payment": dispute["payment_intent"],
                    "status": dispute["status"],
                    "amount": dispute["amount"],
                }
                for dispute_id, dispute in self._disputes.items()
            },
            "credit_notes": {
                note_id: {
                    "invoice": note["invoice"],
                    "type": note["type"],
                    "amount": note["amount"],
                    "refund": self._note_refund(note),
                }
                for note_id, note in self._credit_notes.items()
            },
        }

    def objects(self) -> list[Obj]:
        """Every object of the story in its current state, as the API returns it."""
        found: list[Obj] = [self._customer] if self._customer_created else []
        for collection in (
            self._subscriptions,
            self._invoices,
            self._intents,
            self._charges,
            self._invoice_payments,
            self._refunds,
            self._disputes,
            self._credit_notes,
        ):
            found.extend(collection.values())
        return [_copy(obj) for obj in found]

    def _note_refund(self, note: Obj) -> str | None:
        if self.legacy:
            refund: str | None = note["refund"]
            return refund
        return next((entry["refund"] for entry in note["refunds"]), None)


def stripe_fee(amount: int) -> int:
    """Stripe's standard card fee on a charge: 2.9 % plus 30 minor units."""
    return int((Decimal(amount) * Decimal("0.029")).quantize(0, ROUND_HALF_UP)) + 30


def stripe_payout(
    payout_id: str, stories: Iterable[StripeStory], *, created: int
) -> tuple[Obj, list[Obj], Obj]:
    """A paid automatic payout of every settled charge and refund of ``stories``.

    Returns the payout, its balance transactions (one per charge with Stripe's
    standard fee, one per refund without a fee, the withdrawals and
    reinstatements of disputes, and the payout's own) and the
    ``payout.paid`` event. Each balance transaction names its ``payout`` so that
    a fake API can filter on it as Stripe's ``payout=`` parameter does.
    """
    transactions: list[Obj] = []
    currencies: set[str] = set()
    for story in stories:
        currencies.add(story.currency)
        for charge in story._charges.values():
            if charge["status"] == "succeeded":
                fee = stripe_fee(charge["amount_captured"])
                transactions.append(
                    _transaction(charge, "charge", charge["amount_captured"], fee)
                )
        for refund in story._refunds.values():
            if refund["status"] == "succeeded":
                transactions.append(
                    _transaction(refund, "refund", -refund["amount"], 0)
                )
        for dispute in story._disputes.values():
            # Withdrawals and reinstatements, as the dispute lists them.
            transactions.extend(_copy(dispute["balance_transactions"]))
    if len(currencies) != 1:
        raise ValueError("a payout is in one currency; the stories use several")
    (currency,) = currencies
    net = sum(txn["net"] for txn in transactions)
    if net <= 0:
        raise ValueError("nothing to pay out: the stories net to no money")
    payout: Obj = {
        "id": payout_id,
        "object": "payout",
        "amount": net,
        "arrival_date": created + 2 * DAY,
        "automatic": True,
        "balance_transaction": f"txn_{payout_id}",
        "created": created,
        "currency": currency,
        "description": "STRIPE PAYOUT",
        "destination": f"ba_{payout_id}",
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "livemode": False,
        "metadata": {},
        "method": "standard",
        "reconciliation_status": "completed",
        "source_type": "card",
        "statement_descriptor": None,
        "status": "paid",
        "type": "bank_account",
    }
    own = _transaction(payout, "payout", -net, 0)
    for txn in [*transactions, own]:
        txn["payout"] = payout_id
        txn["currency"] = currency
    event: Obj = {
        "id": f"evt_{payout_id}_paid",
        "object": "event",
        "api_version": API_VERSIONS["basil"],
        "created": created + 2 * DAY,
        "data": {"object": _copy(payout)},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": "payout.paid",
    }
    return payout, [*transactions, own], event


def _transaction(source: Obj, kind: str, amount: int, fee: int) -> Obj:
    return {
        "id": source.get("balance_transaction") or f"txn_{source['id']}",
        "object": "balance_transaction",
        "amount": amount,
        "available_on": source["created"] + 2 * DAY,
        "created": source["created"],
        "description": None,
        "exchange_rate": None,
        "fee": fee,
        "fee_details": (
            [{"amount": fee, "currency": source["currency"], "type": "stripe_fee"}]
            if fee
            else []
        ),
        "net": amount - fee,
        "reporting_category": kind,
        "source": source["id"],
        "status": "available",
        "type": kind,
    }
