"""From a won HubSpot deal to an Odoo customer, over HTTP with a real worker.

HubSpot webhooks are signed v3 and posted to the receiver; a Celery worker reads
the deal, company and line items from a fake HubSpot API and writes to the Odoo
sandbox. Gates hold events for an operator, who releases them with the CLI.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import FIXTURES, ROOT, load_fixture, unique
from webhooks.hubspot import parse_hubspot
from worker.scenarios import StripeStory

REVSYNC = str(Path(sys.executable).parent / "revsync")
DEAL = "18764123456"
COMPANY = "9876543210"


def json_bytes(events: list[dict[str, Any]]) -> bytes:
    return json.dumps(events).encode()


def new_id() -> str:
    return str(random.randrange(10**10, 10**11))


def event_ids(body: bytes) -> list[str]:
    """The inbox ids the receiver gives the events of one delivery."""
    return [event.event_id for event in parse_hubspot(body, app_id=None)]


def hubspot_event(deal_id: str, **fields: Any) -> dict[str, Any]:
    event = {
        "eventId": random.randrange(10**9),
        "subscriptionId": 25,
        "portalId": 62515,
        "appId": 1160452,
        "occurredAt": random.randrange(1_767_268_800_000, 1_767_268_900_000),
        "subscriptionType": "deal.propertyChange",
        "attemptNumber": 0,
        "objectId": int(deal_id),
        "changeSource": "CRM_UI",
        "sourceId": "userId:4182730",
    }
    event.update(fields)
    return event


def stage_change(deal_id: str, stage: str = "closedwon") -> dict[str, Any]:
    return hubspot_event(deal_id, propertyName="dealstage", propertyValue=stage)


def add_fixture_line_items(fake: Any) -> tuple[str, ...]:
    for item in load_fixture("hubspot/api_line_items_batch_read.json")["results"]:
        fake.add_line_item(item["id"], **item["properties"])
    return ("30031241447", "30031241448")


def add_won_deal(
    fake: Any,
    deal_id: str,
    company_id: str,
    *,
    approved: str = "false",
    **company: str,
) -> None:
    fake.add_company(company_id, **company)
    fake.add_deal(
        deal_id,
        company=company_id,
        line_items=add_fixture_line_items(fake),
        dealname="Pro annual",
        dealstage="closedwon",
        pipeline="default",
        hs_is_closed_won="true",
        deal_currency_code="EUR",
        contract_approved=approved,
    )


def record(sandbox: Any, xmlid: str, model: str) -> dict[str, Any] | None:
    found = sandbox.xmlid(xmlid)
    if found is None:
        return None
    rows = sandbox.records(model, [("id", "=", found[1])])
    return rows[0] if rows else None


def order_lines(sandbox: Any, order: dict[str, Any]) -> list[tuple[str, float, float]]:
    codes = {r["id"]: r["default_code"] for r in sandbox.records("product.product")}
    lines = sandbox.records("sale.order.line", [("order_id", "=", order["id"])])
    return sorted(
        (codes[line["product_id"][0]], line["product_uom_qty"], line["price_unit"])
        for line in lines
    )


def release(env: dict[str, str], inbox_id: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [REVSYNC, "holds", "release", str(inbox_id), "--note", "checked by finance"],
        env={**env, "REVSYNC_OPERATOR": "finance-lead"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


class TestClosedWonDeal:
    def test_fixture_batch_makes_a_quotation_confirmed_on_approval_and_stripe_joins(
        self,
        fake_hubspot,
        post_hubspot,
        post_stripe_here,
        wait_for_status,
        sandbox,
        xref_of,
    ) -> None:
        add_won_deal(
            fake_hubspot,
            DEAL,
            COMPANY,
            name="Acme GmbH",
            domain="acme.example",
            country="Germany",
            vat_number="DE123456789",
        )
        body = (FIXTURES / "hubspot/webhook_batch_legacy_closedwon.json").read_bytes()
        stage, amount, company_created, deal_created = event_ids(body)

        assert post_hubspot(body).status_code == 200

        wait_for_status("hubspot", stage, ("done",))
        wait_for_status("hubspot", deal_created, ("done",))
        skipped = wait_for_status("hubspot", amount, ("skipped",))
        assert "amount" in (skipped.reason or "")
        wait_for_status("hubspot", company_created, ("skipped",))
        partner = record(sandbox, f"revsync.hubspot_company_{COMPANY}", "res.partner")
        order = record(sandbox, f"revsync.hubspot_deal_{DEAL}", "sale.order")
        assert partner is not None and order is not None
        assert (partner["name"], partner["vat"]) == ("Acme GmbH", "DE123456789")
        assert partner["country_id"][0] == sandbox.xmlid("base.de")[1]
        assert order["partner_id"][0] == partner["id"]
        assert order["state"] == "draft"
        assert order_lines(sandbox, order) == [
            ("ONBOARD", 1.0, 1500.0),
            ("PRO-Y", 1.0, 9600.0),
        ]

        # The approval arrives in the new platform's form.
        fake_hubspot.update_deal(DEAL, contract_approved="true")
        approval = stage_change(DEAL) | {
            "subscriptionType": "object.propertyChange",
            "objectTypeId": "0-3",
            "propertyName": "contract_approved",
            "propertyValue": "true",
        }
        assert post_hubspot([approval]).status_code == 200
        (approval_id,) = event_ids(json_bytes([approval]))
        wait_for_status("hubspot", approval_id, ("done",))
        order = record(sandbox, f"revsync.hubspot_deal_{DEAL}", "sale.order")
        assert order is not None and order["state"] == "sale"
        assert len(order_lines(sandbox, order)) == 2

        # Stripe later bills the same company.
        story = StripeStory(unique("cus"), currency="eur", prefix=unique("t")[2:])
        story.customer_created(
            "Acme GmbH", "billing@acme.example", "DE", hubspot_company_id=COMPANY
        )
        subscription = story.subscribe(
            "price_pro_yearly", "prod_pro", 960000, interval="year"
        )
        for event in story.events:
            assert post_stripe_here(event).status_code == 200
        for event in story.events:
            wait_for_status("stripe", event["id"], ("done", "skipped"))

        company = xref_of("hubspot", "company", COMPANY)
        customer = xref_of("stripe", "customer", story.customer_id)
        contract = xref_of("stripe", "subscription", subscription)
        assert company is not None and customer is not None and contract is not None
        assert customer.account_id == company.account_id == contract.account_id
        assert sandbox.xmlid(f"revsync.stripe_customer_{story.customer_id}") is None
        stripe_order = record(
            sandbox, f"revsync.stripe_subscription_{subscription}", "sale.order"
        )
        assert stripe_order is not None
        assert stripe_order["partner_id"][0] == partner["id"]
        assert stripe_order["state"] == "sale"
        partner = record(sandbox, f"revsync.hubspot_company_{COMPANY}", "res.partner")
        assert partner is not None
        # HubSpot keeps the name; Stripe brings the billing e-mail.
        assert partner["name"] == "Acme GmbH"
        assert partner["email"] == "billing@acme.example"

    def test_a_redelivered_won_event_changes_nothing(
        self, fake_hubspot, post_hubspot, wait_for_status, sandbox
    ) -> None:
        deal, company = new_id(), new_id()
        add_won_deal(
            fake_hubspot,
            deal,
            company,
            approved="true",
            name="Redelivery Ltd",
            country="US",
        )
        first = stage_change(deal)
        again = first | {"attemptNumber": 1}
        (event_id,) = event_ids(json_bytes([first]))

        assert post_hubspot([first]).status_code == 200
        wait_for_status("hubspot", event_id, ("done",))
        assert post_hubspot([again]).status_code == 200
        created = hubspot_event(
            deal, subscriptionType="deal.creation", changeFlag="CREATED"
        )
        assert post_hubspot([created]).status_code == 200
        wait_for_status("hubspot", event_ids(json_bytes([created]))[0])

        orders = sandbox.records(
            "sale.order", [("origin", "=", f"HubSpot deal {deal}")]
        )
        assert len(orders) == 1 and orders[0]["state"] == "sale"
        assert len(order_lines(sandbox, orders[0])) == 2
        partners = sandbox.records("res.partner", [("ref", "=", f"hubspot:{company}")])
        assert len(partners) == 1

    def test_a_won_deal_without_company_waits_for_its_association(
        self, fake_hubspot, post_hubspot, wait_for_status, sandbox
    ) -> None:
        deal, company = new_id(), new_id()
        add_won_deal(fake_hubspot, deal, company, approved="true", name="Late Co")
        fake_hubspot.set_primary_company(deal, None)
        won = stage_change(deal)
        (won_id,) = event_ids(json_bytes([won]))

        assert post_hubspot([won]).status_code == 200
        waiting = wait_for_status("hubspot", won_id, ("waiting",))
        assert "to have a company" in (waiting.reason or "")

        fake_hubspot.set_primary_company(deal, company)
        associated = hubspot_event(
            deal,
            subscriptionType="deal.associationChange",
            associationType="DEAL_TO_COMPANY",
            fromObjectId=int(deal),
            toObjectId=int(company),
            associationRemoved=False,
            isPrimaryAssociation=True,
        )
        del associated["objectId"]
        assert post_hubspot([associated]).status_code == 200

        wait_for_status("hubspot", event_ids(json_bytes([associated]))[0], ("done",))
        wait_for_status("hubspot", won_id, ("done",))
        order = record(sandbox, f"revsync.hubspot_deal_{deal}", "sale.order")
        assert order is not None and order["state"] == "sale"

    def test_an_unmapped_sku_is_dead_with_the_sku_named_and_writes_nothing(
        self, fake_hubspot, post_hubspot, wait_for_status, sandbox
    ) -> None:
        deal, company, item = new_id(), new_id(), new_id()
        fake_hubspot.add_company(company, name="Odd Sku Ltd", country="US")
        fake_hubspot.add_line_item(item, hs_sku="NOT-MAPPED-9", price="10.00")
        fake_hubspot.add_deal(
            deal,
            company=company,
            line_items=(item,),
            dealstage="closedwon",
            pipeline="default",
        )
        event = stage_change(deal)

        assert post_hubspot([event]).status_code == 200

        dead = wait_for_status("hubspot", event_ids(json_bytes([event]))[0], ("dead",))
        assert "NOT-MAPPED-9" in (dead.reason or "")
        assert "[hubspot.products]" in (dead.reason or "")
        assert sandbox.xmlid(f"revsync.hubspot_company_{company}") is None
        assert sandbox.xmlid(f"revsync.hubspot_deal_{deal}") is None

    def test_a_lost_deal_creates_nothing(
        self, fake_hubspot, post_hubspot, wait_for_status, sandbox
    ) -> None:
        deal, company = new_id(), new_id()
        add_won_deal(fake_hubspot, deal, company, name="Lost Ltd", country="US")
        fake_hubspot.update_deal(deal, dealstage="closedlost", hs_is_closed_won="false")
        event = stage_change(deal, "closedlost")

        assert post_hubspot([event]).status_code == 200

        row = wait_for_status(
            "hubspot", event_ids(json_bytes([event]))[0], ("skipped",)
        )
        assert "not in a won stage" in (row.reason or "")
        assert sandbox.xmlid(f"revsync.hubspot_company_{company}") is None


class TestStripeFirst:
    def test_a_subscription_naming_an_unseen_company_creates_it_from_hubspot(
        self,
        fake_hubspot,
        fake_stripe,
        post_hubspot,
        post_stripe_here,
        wait_for_status,
        sandbox,
        xref_of,
    ) -> None:
        deal, company = new_id(), new_id()
        add_won_deal(
            fake_hubspot,
            deal,
            company,
            approved="true",
            name="Early Payer AG",
            country="CH",
        )
        story = StripeStory(unique("cus"), currency="eur", prefix=unique("t")[2:])
        story.customer_created(
            "Early Payer", "ap@early.example", "CH", hubspot_company_id=company
        )
        subscription = story.subscribe("price_pro_monthly", "prod_pro", 4900)
        fake_stripe.add(*story.objects())
        created = story.events[-1]
        assert created["type"] == "customer.subscription.created"

        # Only the subscription is delivered: its customer comes from the API.
        assert post_stripe_here(created).status_code == 200
        wait_for_status("stripe", created["id"], ("done",))

        partner = record(sandbox, f"revsync.hubspot_company_{company}", "res.partner")
        assert partner is not None and partner["name"] == "Early Payer AG"
        assert sandbox.xmlid(f"revsync.stripe_customer_{story.customer_id}") is None
        order = record(
            sandbox, f"revsync.stripe_subscription_{subscription}", "sale.order"
        )
        assert order is not None and order["partner_id"][0] == partner["id"]

        # The deal, won afterwards, sells to the same partner.
        event = stage_change(deal)
        assert post_hubspot([event]).status_code == 200
        wait_for_status("hubspot", event_ids(json_bytes([event]))[0], ("done",))
        quotation = record(sandbox, f"revsync.hubspot_deal_{deal}", "sale.order")
        assert quotation is not None and quotation["partner_id"][0] == partner["id"]
        stripe_customer = xref_of("stripe", "customer", story.customer_id)
        hubspot_deal = xref_of("hubspot", "deal", deal)
        assert stripe_customer is not None and hubspot_deal is not None
        assert stripe_customer.account_id == hubspot_deal.account_id

    def test_a_company_with_a_stripe_customer_s_vat_number_joins_its_account(
        self,
        fake_hubspot,
        post_hubspot,
        post_stripe_here,
        wait_for_status,
        sandbox,
        xref_of,
    ) -> None:
        vat = f"IE{new_id()[:8]}"
        story = StripeStory(unique("cus"), currency="eur", prefix=unique("t")[2:])
        story.customer_created("Stripe Name Ltd", "ap@vat.example", "IE", tax_id=vat)
        for event in story.events:
            assert post_stripe_here(event).status_code == 200
            wait_for_status("stripe", event["id"], ("done",))
        stripe_partner = sandbox.xmlid(f"revsync.stripe_customer_{story.customer_id}")
        assert stripe_partner is not None
        deal, company = new_id(), new_id()
        add_won_deal(
            fake_hubspot,
            deal,
            company,
            approved="true",
            name="HubSpot Name Ltd",
            country="IE",
            vat_number=vat,
        )

        won = stage_change(deal)
        assert post_hubspot([won]).status_code == 200
        wait_for_status("hubspot", event_ids(json_bytes([won]))[0], ("done",))

        assert sandbox.xmlid(f"revsync.hubspot_company_{company}") is None
        order = record(sandbox, f"revsync.hubspot_deal_{deal}", "sale.order")
        assert order is not None and order["partner_id"][0] == stripe_partner[1]
        hubspot_company = xref_of("hubspot", "company", company)
        stripe_customer = xref_of("stripe", "customer", story.customer_id)
        assert hubspot_company is not None and stripe_customer is not None
        assert hubspot_company.account_id == stripe_customer.account_id

        # From now on HubSpot owns the name; Stripe's rename does not reach Odoo.
        story.customer_updated(name="Renamed In Stripe", phone="+353 1 555 0100")
        renamed = story.events[-1]
        assert post_stripe_here(renamed).status_code == 200
        wait_for_status("stripe", renamed["id"], ("done",))
        (partner,) = sandbox.records("res.partner", [("id", "=", stripe_partner[1])])
        assert partner["name"] == "HubSpot Name Ltd"
        assert partner["phone"] == "+353 1 555 0100"


class TestGates:
    def test_an_eu_customer_without_vat_is_held_until_an_operator_releases_it(
        self, fake_hubspot, post_hubspot, wait_for_status, sandbox, hubspot_env
    ) -> None:
        deal, company = new_id(), new_id()
        add_won_deal(
            fake_hubspot,
            deal,
            company,
            name="Sans TVA SARL",
            country="FR",
        )
        event = stage_change(deal)
        (event_id,) = event_ids(json_bytes([event]))

        assert post_hubspot([event]).status_code == 200

        held = wait_for_status("hubspot", event_id, ("held",))
        assert "VAT number is required for customers in FR" in (held.reason or "")
        assert sandbox.xmlid(f"revsync.hubspot_company_{company}") is None

        result = release(hubspot_env, held.id)
        assert result.returncode == 0, result.stderr

        done = wait_for_status("hubspot", event_id, ("done",))
        assert done.released_by == "finance-lead"
        order = record(sandbox, f"revsync.hubspot_deal_{deal}", "sale.order")
        assert order is not None and order["state"] == "draft"

        # The customer is through the gate: its approval is not held again.
        fake_hubspot.update_deal(deal, contract_approved="true")
        approval = hubspot_event(
            deal, propertyName="contract_approved", propertyValue="true"
        )
        assert post_hubspot([approval]).status_code == 200
        wait_for_status("hubspot", event_ids(json_bytes([approval]))[0], ("done",))
        order = record(sandbox, f"revsync.hubspot_deal_{deal}", "sale.order")
        assert order is not None and order["state"] == "sale"

    def test_a_stripe_subscription_waits_for_the_deal_s_approval(
        self,
        fake_hubspot,
        post_hubspot,
        post_stripe_here,
        wait_for_status,
        sandbox,
    ) -> None:
        deal, company = new_id(), new_id()
        add_won_deal(fake_hubspot, deal, company, name="Pending Inc", country="US")
        won = stage_change(deal)
        assert post_hubspot([won]).status_code == 200
        wait_for_status("hubspot", event_ids(json_bytes([won]))[0], ("done",))
        story = StripeStory(unique("cus"), currency="eur", prefix=unique("t")[2:])
        story.customer_created(
            "Pending", "ap@pending.example", "US", hubspot_company_id=company
        )
        subscription = story.subscribe("price_pro_monthly", "prod_pro", 4900)
        customer_event, subscription_event = story.events[0], story.events[-1]

        assert post_stripe_here(customer_event).status_code == 200
        wait_for_status("stripe", customer_event["id"], ("done",))
        assert post_stripe_here(subscription_event).status_code == 200

        waiting = wait_for_status("stripe", subscription_event["id"], ("waiting",))
        assert f"hubspot deal {deal} to be approved" in (waiting.reason or "")
        assert sandbox.xmlid(f"revsync.stripe_subscription_{subscription}") is None

        fake_hubspot.update_deal(deal, contract_approved="true")
        approval = hubspot_event(
            deal, propertyName="contract_approved", propertyValue="true"
        )
        assert post_hubspot([approval]).status_code == 200

        wait_for_status("stripe", subscription_event["id"], ("done",))
        order = record(
            sandbox, f"revsync.stripe_subscription_{subscription}", "sale.order"
        )
        partner = sandbox.xmlid(f"revsync.hubspot_company_{company}")
        assert order is not None and partner is not None
        assert order["partner_id"][0] == partner[1]

    def test_a_vat_number_two_customers_share_is_held_and_nothing_is_merged(
        self, fake_hubspot, post_hubspot, wait_for_status, sandbox, xref_of
    ) -> None:
        vat = f"AT{new_id()[:9]}"
        for name in ("Twin One GmbH", "Twin Two GmbH"):
            sandbox.create_direct(
                "res.partner", {"name": name, "vat": vat, "is_company": True}
            )
        deal, company = new_id(), new_id()
        add_won_deal(
            fake_hubspot,
            deal,
            company,
            approved="true",
            name="Twin GmbH",
            country="AT",
            vat_number=vat,
        )
        event = stage_change(deal)

        assert post_hubspot([event]).status_code == 200

        held = wait_for_status("hubspot", event_ids(json_bytes([event]))[0], ("held",))
        assert "ambiguous identity" in (held.reason or "")
        assert "VAT number" in (held.reason or "")
        assert xref_of("hubspot", "company", company) is None
        assert sandbox.xmlid(f"revsync.hubspot_company_{company}") is None
        assert len(sandbox.records("res.partner", [("vat", "=", vat)])) == 2
