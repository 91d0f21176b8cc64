"""The mapping file shipped as an example is one revsync accepts."""

from __future__ import annotations

from pathlib import Path

from worker.mapping import EU_COUNTRIES, load

EXAMPLE = Path(__file__).resolve().parents[2] / "revsync.example.toml"


def test_the_example_mapping_file_loads_with_every_section() -> None:
    mapping = load(str(EXAMPLE))

    assert mapping.products["price_pro_monthly"] == "PRO-M"
    assert mapping.payouts.bank_journal == "Bank"
    assert mapping.hubspot_products["PLAN-PRO-Y"] == "PRO-Y"
    assert mapping.hubspot_properties["plan"] == "billing_plan"
    assert mapping.zendesk_fields["mrr"] == "mrr"
    assert mapping.gates.contract_approval is not None
    assert mapping.gates.contract_approval.property == "contract_approved"
    assert mapping.gates.vat_required_countries == EU_COUNTRIES
    assert mapping.identity.zendesk_external_id == "hubspot_company"
