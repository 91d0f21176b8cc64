"""Generic model behaviour: partners, tags, domains, ordering (odoo.md §4, §8)."""

from __future__ import annotations

import xmlrpc.client

import pytest

from worker.odoo.sandbox import Sandbox

from .support import Odoo


def test_partner_reads_back_like_odoo(odoo: Odoo, customer: int) -> None:
    (row,) = odoo.call(
        "res.partner",
        "read",
        [customer],
        ["company_type", "commercial_partner_id", "customer_rank", "display_name"],
    )

    assert row["company_type"] == "company"
    assert row["commercial_partner_id"] == [customer, "Acme GmbH"]
    assert row["customer_rank"] == 0
    assert row["display_name"] == "Acme GmbH"


def test_child_contact_belongs_to_its_company(odoo: Odoo, customer: int) -> None:
    contact = odoo.call(
        "res.partner", "create", {"name": "Jane Doe", "parent_id": customer}
    )

    (row,) = odoo.call(
        "res.partner", "read", [contact], ["display_name", "commercial_partner_id"]
    )
    (company,) = odoo.call("res.partner", "read", [customer], ["child_ids"])

    assert row["display_name"] == "Acme GmbH, Jane Doe"
    assert row["commercial_partner_id"] == [customer, "Acme GmbH"]
    assert company["child_ids"] == [contact]


def test_company_type_is_writable(odoo: Odoo) -> None:
    partner = odoo.call("res.partner", "create", {"name": "Solo"})
    odoo.call("res.partner", "write", [partner], {"company_type": "company"})

    assert (
        odoo.call("res.partner", "read", [partner], ["is_company"])[0]["is_company"]
        is True
    )


def test_contact_without_name_hits_the_sql_constraint(odoo: Odoo) -> None:
    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.call("res.partner", "create", {"email": "nobody@example.com"})

    assert caught.value.faultCode == (
        "warning -- UserError\n\n"
        "The operation cannot be completed: Contacts require a name"
    )


def test_recursive_partner_hierarchy_is_refused(odoo: Odoo, customer: int) -> None:
    child = odoo.call("res.partner", "create", {"name": "C", "parent_id": customer})

    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.call("res.partner", "write", [customer], {"parent_id": child})

    assert caught.value.faultCode == (
        "warning -- UserError\n\nYou cannot create recursive Partner hierarchies."
    )


def test_tags_allow_duplicate_names(odoo: Odoo) -> None:
    first = odoo.call("res.partner.category", "create", {"name": "stripe:active"})
    second = odoo.call("res.partner.category", "create", {"name": "stripe:active"})

    assert first != second


def test_tag_commands_link_unlink_and_replace(odoo: Odoo, customer: int) -> None:
    def tags() -> list[int]:
        return odoo.call("res.partner", "read", [customer], ["category_id"])[0][
            "category_id"
        ]

    t1 = odoo.call("res.partner.category", "create", {"name": "b-tag"})
    t2 = odoo.call("res.partner.category", "create", {"name": "a-tag"})

    odoo.call("res.partner", "write", [customer], {"category_id": [(4, t1), (4, t2)]})
    assert tags() == [t2, t1]  # in the tags' order (by name), like the SQL join
    odoo.call("res.partner", "write", [customer], {"category_id": [(3, t1)]})
    assert tags() == [t2]
    odoo.call("res.partner", "write", [customer], {"category_id": [(6, 0, [t1])]})
    assert tags() == [t1]
    assert odoo.call("res.partner", "search", [("category_id", "in", [t1])]) == [
        customer
    ]


def test_domain_operators_and_dotted_paths(odoo: Odoo, customer: int) -> None:
    contact = odoo.call(
        "res.partner",
        "create",
        {"name": "Jane", "parent_id": customer, "email": "jane@acme.test"},
    )
    other = odoo.call("res.partner", "create", {"name": "Other", "ref": "cus_2"})

    def search(domain: list) -> set[int]:
        return set(odoo.call("res.partner", "search", domain))

    assert search([("parent_id.ref", "=", "cus_1")]) == {contact}
    assert search(["|", ("ref", "=", "cus_1"), ("ref", "=", "cus_2")]) == {
        customer,
        other,
    }
    assert search([("email", "ilike", "ACME.test")]) == {contact}
    assert search([("ref", "=like", "cus\\_%")]) == {customer, other}
    assert search([("ref", "in", ["cus_2", "nope"])]) == {other}
    assert search([("parent_id", "=", customer)]) == {contact}
    assert search([("parent_id", "ilike", "acme")]) == {contact}
    assert customer not in search(["!", ("ref", "=", "cus_1")])
    assert search([("id", "child_of", customer)]) == {customer, contact}


def test_inequality_matches_empty_values_like_sql(odoo: Odoo, customer: int) -> None:
    other = odoo.call("res.partner", "create", {"name": "No ref"})

    found = odoo.call("res.partner", "search", [("ref", "!=", "cus_1")])

    assert other in found and customer not in found


def test_archived_records_are_hidden_unless_asked(odoo: Odoo, customer: int) -> None:
    odoo.call("res.partner", "write", [customer], {"active": False})

    assert odoo.call("res.partner", "search", [("ref", "=", "cus_1")]) == []
    assert odoo.call(
        "res.partner", "search", [("ref", "=", "cus_1"), ("active", "=", False)]
    ) == [customer]
    assert odoo.call(
        "res.partner", "search", [("ref", "=", "cus_1")], context={"active_test": False}
    ) == [customer]


def test_search_order_offset_limit_and_count(odoo: Odoo) -> None:
    ids = odoo.call(
        "res.partner",
        "create",
        [{"name": f"Bulk {i}", "ref": "bulk"} for i in range(5)],
    )

    found = odoo.call(
        "res.partner",
        "search",
        [("ref", "=", "bulk")],
        offset=1,
        limit=2,
        order="id desc",
    )

    assert found == [ids[3], ids[2]]
    assert odoo.call("res.partner", "search_count", [("ref", "=", "bulk")]) == 5


def test_search_has_no_count_argument_since_odoo_17(odoo: Odoo) -> None:
    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.call("res.partner", "search", [], count=True)

    assert "unexpected keyword argument 'count'" in caught.value.faultCode


def test_search_read_returns_only_the_asked_fields(odoo: Odoo, customer: int) -> None:
    rows = odoo.v2(
        "res.partner", "search_read", [("ref", "=", "cus_1")], fields=["name", "vat"]
    )

    assert rows == [{"id": customer, "name": "Acme GmbH", "vat": "DE1"}]


def test_name_search_gives_id_and_display_name(odoo: Odoo) -> None:
    germany = odoo.ref("base.de")

    assert odoo.call("res.country", "name_search", "Germ") == [[germany, "Germany"]]


def test_fields_get_lists_names_and_types(odoo: Odoo) -> None:
    fields = odoo.call(
        "res.partner", "fields_get", ["country_id", "name"], attributes=["type"]
    )

    assert fields == {"country_id": {"type": "many2one"}, "name": {"type": "char"}}


def test_countries_and_currencies_are_seeded(odoo: Odoo) -> None:
    countries = odoo.call(
        "res.country",
        "search_read",
        [("code", "in", ["US", "DE", "FR", "GB", "JP", "NL"])],
        ["code"],
    )
    currencies = odoo.call(
        "res.currency",
        "search_read",
        [("name", "in", ["USD", "EUR", "GBP", "JPY"])],
        ["name", "decimal_places"],
    )

    assert len(countries) == 6
    assert {c["name"]: c["decimal_places"] for c in currencies} == {
        "USD": 2,
        "EUR": 2,
        "GBP": 2,
        "JPY": 0,
    }


def test_installed_modules_are_listed(odoo: Odoo) -> None:
    rows = odoo.call(
        "ir.module.module",
        "search_read",
        [("name", "in", ["base", "contacts", "mail", "account", "sale_management"])],
        ["name", "state"],
    )

    assert sorted(row["name"] for row in rows) == [
        "account",
        "base",
        "contacts",
        "mail",
        "sale_management",
    ]
    assert {row["state"] for row in rows} == {"installed"}


def test_product_gets_the_default_sale_tax(odoo: Odoo) -> None:
    product = odoo.call(
        "product.product",
        "create",
        {
            "name": "Pro plan",
            "type": "service",
            "list_price": 49.0,
            "default_code": "PRO",
        },
    )

    (row,) = odoo.call(
        "product.product", "read", [product], ["taxes_id", "product_tmpl_id", "type"]
    )

    assert row["taxes_id"] == [odoo.ref("account.1_sale_tax_template")]
    assert row["product_tmpl_id"][1] == "[PRO] Pro plan"
    assert row["type"] == "service"


def test_bank_journal_gets_an_account_and_manual_methods(odoo: Odoo) -> None:
    journal = odoo.call(
        "account.journal", "create", {"name": "Adyen", "type": "bank", "code": "ADY"}
    )

    (row,) = odoo.call(
        "account.journal",
        "read",
        [journal],
        [
            "default_account_id",
            "inbound_payment_method_line_ids",
            "outbound_payment_method_line_ids",
        ],
    )
    methods = odoo.call(
        "account.payment.method.line",
        "read",
        row["inbound_payment_method_line_ids"]
        + row["outbound_payment_method_line_ids"],
        ["name", "payment_account_id"],
    )

    assert row["default_account_id"][1] == "101406 Adyen"
    assert [m["name"] for m in methods] == ["Manual Payment", "Manual Payment"]
    assert {m["payment_account_id"] for m in methods} == {False}


def test_stripe_journal_is_optional() -> None:
    with_stripe = Sandbox()
    without = Sandbox(stripe_journal=False)

    def codes(sandbox: Sandbox) -> list[str]:
        return [j["code"] for j in sandbox.records("account.journal", fields=["code"])]

    assert "STRP" in codes(with_stripe)
    assert "STRP" not in codes(without)
    assert "INV" in codes(without)
