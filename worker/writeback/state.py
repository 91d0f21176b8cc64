"""The billing health of one account, computed from what revsync has recorded.

Everything comes from revsync's own store, without a call to Stripe or Odoo, so a
write-back costs three small queries however long the account's history is:

- subscriptions: the account's Stripe subscriptions (cross-references); the entity
  version of each names the event that applied its latest state, and the billing
  facts of that event's object (prices, quantities, period end) are kept in
  ``billing_snapshots`` by the pipeline hook; if the hook has not run for it, the
  event's inbox payload is read instead (payloads are pruned after the retention
  period, snapshots are not);
- open balance: the account's invoices whose latest applied state is ``open`` or
  ``uncollectible``, summed from ``amount_remaining`` of the same snapshots (Stripe
  sends ``invoice.updated`` when a partial payment or a credit note lowers it);
- dunning: an open invoice with an open collections follow-up (a failed payment,
  not yet paid) makes a live subscription past due before Stripe's own
  subscription event says so;
- last payment failure: the ``payment_failures`` row the pipeline hook keeps.

``compute`` is pure, so the rules are tested without a database.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from worker.mapping import Mapping
from worker.money import decimals
from worker.store import CrossReference, EntityVersion, InboxEvent, utcnow
from worker.store.models import BillingSnapshot, PaymentFailure

# Stripe's subscription statuses as the five billing statuses sales and support see.
STATUS = {
    "trialing": "trialing",
    "active": "active",
    "past_due": "past_due",
    "unpaid": "past_due",
    # The first payment has not gone through yet.
    "incomplete": "past_due",
    "paused": "paused",
    "canceled": "cancelled",
    "incomplete_expired": "cancelled",
}
# With several subscriptions, the one that most needs attention speaks for the account.
PRIORITY = ("past_due", "active", "trialing", "paused", "cancelled")
# Statuses that bring in revenue: trials, paused and cancelled subscriptions count 0.
PAYING = ("active", "past_due")
# Statuses whose period end is a renewal to come.
RENEWING = ("active", "trialing", "past_due")
UNPAID_INVOICES = ("open", "uncollectible")
SNAPSHOT_TYPES = ("subscription", "invoice")
# Stripe's recurring intervals in months.
MONTHS = {
    "day": Decimal(12) / Decimal(365),
    "week": Decimal(12) / Decimal(52),
    "month": Decimal(1),
    "year": Decimal(12),
}
# The events of one declined attempt (payment_intent, then invoice) arrive within
# seconds of each other; a later failure is another attempt.
SAME_ATTEMPT_SECONDS = 300
_CODE = re.compile(r"^[a-z0-9_]{1,64}$")


@dataclass(frozen=True)
class BillingHealth:
    """What sales and support see about an account's billing."""

    billing_status: str | None = None
    plan: str | None = None
    mrr: Decimal | None = None
    currency: str | None = None
    next_renewal_date: date | None = None
    open_balance: Decimal | None = None
    last_payment_failed_at: date | None = None
    last_payment_failure_reason: str | None = None

    def values(self) -> dict[str, str | None]:
        """Each value as the text written out; amounts in the currency's units."""
        places = decimals(self.currency or "usd")
        return {
            "billing_status": self.billing_status,
            "plan": self.plan,
            "mrr": _amount(self.mrr, places),
            "currency": self.currency,
            "next_renewal_date": _day(self.next_renewal_date),
            "open_balance": _amount(self.open_balance, places),
            "last_payment_failed_at": _day(self.last_payment_failed_at),
            "last_payment_failure_reason": self.last_payment_failure_reason,
        }


@dataclass(frozen=True)
class Failure:
    at: datetime
    reason: str | None


def _amount(value: Decimal | None, places: int) -> str | None:
    if value is None:
        return None
    return f"{value:.{places}f}"


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _id(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return str(value) if value else None


def compute(
    subscriptions: Sequence[dict[str, Any]],
    open_invoices: Sequence[dict[str, Any]],
    *,
    dunning: bool,
    failure: Failure | None,
    mapping: Mapping,
) -> BillingHealth | None:
    """The billing health that Stripe snapshots add up to; None if nothing is known.

    :param subscriptions: the latest applied snapshot of each Stripe subscription.
    :param open_invoices: the latest snapshot of each unpaid, finalized invoice.
    :param dunning: one of those invoices has a failed payment not yet recovered.
    """
    if not subscriptions and not open_invoices and failure is None:
        return None
    subs = [_subscription(obj, mapping) for obj in subscriptions]
    subs = [sub for sub in subs if sub.status is not None]
    subs.sort(key=lambda sub: PRIORITY.index(str(sub.status)))

    status = subs[0].status if subs else None
    if dunning and status in ("active", None):
        # Stripe marks the subscription past due a moment after the failure, or
        # never, for an invoice outside a subscription.
        status = "past_due"

    live = [sub for sub in subs if sub.status != "cancelled"]
    currency = subs[0].currency if subs else None
    if currency is None and open_invoices:
        currency = str(open_invoices[0].get("currency") or "") or None
    same = [sub for sub in live if sub.currency == currency]

    plans: list[str] = []
    for sub in live:
        plans += [name for name in sub.plans if name not in plans]
    renewals = [sub.renews for sub in same if sub.renews is not None]
    places = decimals(currency or "usd")

    balance = sum(
        (
            Decimal(int(obj.get("amount_remaining") or 0)).scaleb(-places)
            for obj in open_invoices
            if str(obj.get("currency") or "") == (currency or "")
        ),
        Decimal(0),
    )
    mrr = sum((sub.mrr for sub in same if sub.status in PAYING), Decimal(0))
    return BillingHealth(
        billing_status=status,
        plan=", ".join(plans) or None,
        mrr=mrr.scaleb(-places) if subs else None,
        currency=currency.upper() if currency else None,
        next_renewal_date=min(renewals) if renewals else None,
        open_balance=balance,
        last_payment_failed_at=failure.at.date() if failure else None,
        last_payment_failure_reason=failure.reason if failure else None,
    )


@dataclass(frozen=True)
class _Sub:
    status: str | None
    currency: str | None
    plans: tuple[str, ...]
    # Monthly amount in the currency's smallest unit.
    mrr: Decimal
    renews: date | None


def _subscription(obj: dict[str, Any], mapping: Mapping) -> _Sub:
    status = STATUS.get(str(obj.get("status") or ""))
    items = (obj.get("items") or {}).get("data") or []
    plans: list[str] = []
    monthly = Decimal(0)
    period_ends = []
    currency = obj.get("currency")
    for item in items:
        price = item.get("price") or item.get("plan") or {}
        currency = currency or price.get("currency")
        name = _plan_name(price, mapping)
        if name and name not in plans:
            plans.append(name)
        monthly += _monthly(price, int(item.get("quantity") or 1))
        if item.get("current_period_end"):
            period_ends.append(int(item["current_period_end"]))
    # Before basil the period lived on the subscription, since on each item.
    period_end = obj.get("current_period_end") or (
        max(period_ends) if period_ends else None
    )
    renews = None
    if period_end and status in RENEWING and not obj.get("cancel_at_period_end"):
        renews = datetime.fromtimestamp(int(period_end), UTC).date()
    return _Sub(
        status=status,
        currency=str(currency).lower() if currency else None,
        plans=tuple(plans),
        mrr=monthly,
        renews=renews,
    )


def _plan_name(price: dict[str, Any], mapping: Mapping) -> str | None:
    """The price's nickname, else the product it is mapped to, else its id."""
    if price.get("nickname"):
        return str(price["nickname"])
    price_id, product_id = _id(price), _id(price.get("product"))
    for key in (price_id, product_id):
        if key and key in mapping.products:
            return mapping.products[key]
    return product_id or price_id


def _monthly(price: dict[str, Any], quantity: int) -> Decimal:
    """One item's amount per month, in the smallest unit.

    Discounts and tiered or metered prices are not counted: MRR here is the list
    price of the licensed seats, what the subscription renews at.
    """
    recurring = price.get("recurring") or {}
    interval = recurring.get("interval") or price.get("interval")
    count = int(recurring.get("interval_count") or price.get("interval_count") or 1)
    usage = recurring.get("usage_type") or price.get("usage_type")
    if interval not in MONTHS or count < 1 or usage == "metered":
        # Metered usage is billed in arrears; it has no fixed monthly amount.
        return Decimal(0)
    unit = price.get("unit_amount_decimal") or price.get("amount_decimal")
    if unit in (None, ""):
        unit = price.get("unit_amount") or price.get("amount") or 0
    return Decimal(str(unit)) * quantity / (MONTHS[interval] * count)


# -- reading the store --------------------------------------------------------------


def load_health(
    session: Session, account_id: int, mapping: Mapping
) -> BillingHealth | None:
    """The billing health of the account as revsync's store records it."""
    subscriptions = _snapshots(session, account_id, "subscription", None)
    invoices = _snapshots(session, account_id, "invoice", UNPAID_INVOICES)
    dunning = False
    if invoices:
        dunning = (
            session.scalar(
                select(EntityVersion.external_id)
                .where(
                    EntityVersion.system == "stripe",
                    EntityVersion.object_type == "dunning",
                    EntityVersion.status == "open",
                    EntityVersion.external_id.in_([str(i["id"]) for i in invoices]),
                )
                .limit(1)
            )
            is not None
        )
    row = session.get(PaymentFailure, account_id)
    failure = Failure(_aware(row.failed_at), row.reason) if row is not None else None
    return compute(
        subscriptions, invoices, dunning=dunning, failure=failure, mapping=mapping
    )


def _snapshots(
    session: Session,
    account_id: int,
    object_type: str,
    statuses: tuple[str, ...] | None,
) -> list[dict[str, Any]]:
    """The latest applied state of each object of that type of the account."""
    query = (
        select(
            CrossReference.external_id,
            EntityVersion.status,
            EntityVersion.event_id,
            BillingSnapshot.event_id,
            BillingSnapshot.facts,
            InboxEvent.payload,
        )
        .join(
            EntityVersion,
            and_(
                EntityVersion.system == "stripe",
                EntityVersion.object_type == object_type,
                EntityVersion.external_id == CrossReference.external_id,
            ),
        )
        .outerjoin(
            BillingSnapshot,
            and_(
                BillingSnapshot.object_type == object_type,
                BillingSnapshot.external_id == CrossReference.external_id,
            ),
        )
        # The payload is read only when the snapshot is missing or behind.
        .outerjoin(
            InboxEvent,
            and_(
                InboxEvent.source == "stripe",
                InboxEvent.event_id == EntityVersion.event_id,
                or_(
                    BillingSnapshot.event_id.is_(None),
                    BillingSnapshot.event_id != EntityVersion.event_id,
                ),
            ),
        )
        .where(
            CrossReference.account_id == account_id,
            CrossReference.system == "stripe",
            CrossReference.object_type == object_type,
        )
        .order_by(CrossReference.id)
    )
    if statuses is not None:
        query = query.where(EntityVersion.status.in_(statuses))
    found = []
    for external_id, status, applied, kept, facts, payload in session.execute(query):
        obj = ((payload or {}).get("data") or {}).get("object") or {}
        if kept is not None and kept == applied:
            snapshot = dict(facts)
        elif obj.get("id") == external_id:
            snapshot = compact(obj)
        else:
            # The payload was pruned: an older snapshot beats knowing nothing.
            snapshot = dict(facts or {"id": external_id})
        found.append({**snapshot, "status": status or snapshot.get("status")})
    return found


def compact(obj: dict[str, Any]) -> dict[str, Any]:
    """The billing facts of a Stripe subscription or invoice, in Stripe's shape."""
    if obj.get("object") == "invoice":
        return {
            key: obj.get(key)
            for key in ("id", "object", "status", "currency", "amount_remaining")
        }
    items = []
    for item in (obj.get("items") or {}).get("data") or []:
        price = item.get("price") or item.get("plan") or {}
        recurring = price.get("recurring") or {}
        items.append(
            {
                "quantity": item.get("quantity"),
                "current_period_end": item.get("current_period_end"),
                "price": {
                    "id": _id(price),
                    "nickname": price.get("nickname"),
                    "product": _id(price.get("product")),
                    "currency": price.get("currency"),
                    "unit_amount": price.get("unit_amount", price.get("amount")),
                    "unit_amount_decimal": price.get(
                        "unit_amount_decimal", price.get("amount_decimal")
                    ),
                    "recurring": {
                        "interval": recurring.get("interval", price.get("interval")),
                        "interval_count": recurring.get(
                            "interval_count", price.get("interval_count")
                        ),
                        "usage_type": recurring.get(
                            "usage_type", price.get("usage_type")
                        ),
                    },
                },
            }
        )
    return {
        "id": obj.get("id"),
        "object": obj.get("object"),
        "status": obj.get("status"),
        "currency": obj.get("currency"),
        "cancel_at_period_end": obj.get("cancel_at_period_end"),
        "current_period_end": obj.get("current_period_end"),
        "items": {"data": items},
    }


def keep_snapshot(session: Session, account_id: int, event_id: str, obj: Any) -> None:
    """Keep the billing facts of the event's subscription or invoice, if this
    event's state is the one applied (a stale event changes nothing)."""
    if not isinstance(obj, dict) or obj.get("object") not in SNAPSHOT_TYPES:
        return
    object_type, external_id = str(obj["object"]), str(obj.get("id"))
    version = session.get(EntityVersion, ("stripe", object_type, external_id))
    if version is None or version.event_id != event_id:
        return
    snapshot = session.get(
        BillingSnapshot, (object_type, external_id), with_for_update=True
    )
    if snapshot is None:
        snapshot = BillingSnapshot(object_type=object_type, external_id=external_id)
        session.add(snapshot)
    snapshot.account_id = account_id
    snapshot.event_id = event_id
    snapshot.facts = compact(obj)
    snapshot.updated_at = utcnow()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# -- the last payment failure -------------------------------------------------------


def failure_reason(obj: dict[str, Any]) -> str | None:
    """The decline or error code of a failed PaymentIntent or invoice, if it says.

    Only a code (``card_declined``, ``insufficient_funds``) is kept, never Stripe's
    message, which may quote the customer's own words.
    """
    error = obj.get("last_payment_error")
    intent = obj.get("payment_intent")
    if error is None and isinstance(intent, dict):
        error = intent.get("last_payment_error")
    if error is None:
        error = obj.get("last_finalization_error")
    if not isinstance(error, dict):
        return None
    for key in ("decline_code", "code"):
        code = error.get(key)
        if isinstance(code, str) and _CODE.match(code):
            return code
    return None


def note_failure(
    session: Session,
    account_id: int,
    *,
    at: datetime,
    reason: str | None,
    event_id: str,
) -> None:
    """Remember the account's latest failed payment, whatever order events come in."""
    now = utcnow()
    insert = (
        postgresql.insert
        if session.get_bind().dialect.name == "postgresql"
        else sqlite.insert
    )
    session.execute(
        insert(PaymentFailure)
        .values(
            account_id=account_id,
            failed_at=at,
            reason=reason,
            event_id=event_id,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["account_id"])
    )
    row = session.get(PaymentFailure, account_id, with_for_update=True)
    if row is None or row.event_id == event_id:
        return
    known = _aware(row.failed_at)
    close = abs((at - known).total_seconds()) <= SAME_ATTEMPT_SECONDS
    if at > known:
        row.reason = reason or (row.reason if close else None)
        row.failed_at = at
        row.event_id = event_id
        row.updated_at = now
    elif close and row.reason is None and reason:
        row.reason = reason
        row.updated_at = now
