"""External ids and load() (odoo.md fact 9 and 10, §4, §11, §15)."""

from __future__ import annotations

import xmlrpc.client

import pytest

from .support import TODAY, Odoo

ACL_ERROR = (
    "You are not allowed to access 'Model Data' (ir.model.data) records.\n\n"
    "This operation is allowed for the following groups:\n"
    "\t- Administration/Access Rights\n\n"
    "Contact your administrator to request access if necessary."
)
PARTNER_COLUMNS = ["id", "name", "email", "is_company"]


def test_load_creates_then_updates_the_same_record(odoo: Odoo) -> None:
    xmlid = "revsync.stripe_customer_cus_1"
    first = odoo.call(
        "res.partner", "load", PARTNER_COLUMNS, [[xmlid, "Load Co", "a@load.test", "1"]]
    )
    second = odoo.call(
        "res.partner",
        "load",
        PARTNER_COLUMNS,
        [[xmlid, "Load Co renamed", "a@load.test", "1"]],
    )

    assert first == {"ids": first["ids"], "messages": [], "nextrow": 0}
    assert second["ids"] == first["ids"]
    assert odoo.sandbox.xmlid(xmlid) == ("res.partner", first["ids"][0])
    rows = odoo.sandbox.records("res.partner", [("email", "=", "a@load.test")])
    assert [(r["name"], r["is_company"]) for r in rows] == [("Load Co renamed", True)]


def test_load_reports_a_bad_value_as_a_message(odoo: Odoo) -> None:
    result = odoo.call(
        "res.partner",
        "load",
        ["id", "name", "country_id"],
        [["revsync.narnia", "X", "Narnia"]],
    )

    assert result["ids"] is False
    (message,) = result["messages"]
    assert message["type"] == "error"
    assert message["field"] == "country_id"
    assert message["message"] == (
        "No matching record found for name 'Narnia' in field 'Country'"
    )
    assert odoo.sandbox.xmlid("revsync.narnia") is None


def test_load_resolves_names_xmlids_and_database_ids(odoo: Odoo) -> None:
    result = odoo.call(
        "res.partner",
        "load",
        ["id", "name", "country_id", "parent_id/.id", "category_id"],
        [["revsync.p2", "Paris", "France", "", ""]],
    )
    child = odoo.call(
        "res.partner",
        "load",
        ["id", "name", "parent_id/id"],
        [["revsync.p3", "Child", "revsync.p2"]],
    )

    (row,) = odoo.call("res.partner", "read", child["ids"], ["parent_id", "country_id"])
    assert row["parent_id"] == [result["ids"][0], "Paris"]
    assert odoo.call("res.partner", "read", result["ids"], ["country_id"])[0][
        "country_id"
    ] == [odoo.ref("base.fr"), "France"]


def test_load_with_an_unknown_column_raises(odoo: Odoo) -> None:
    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.call("res.partner", "load", ["id", "nmae"], [["revsync.x", "X"]])

    assert caught.value.faultCode == "Invalid field name 'nmae'"


def test_load_appends_invoice_lines_on_a_reload(odoo: Odoo, customer: int) -> None:
    odoo.call("res.partner", "load", ["id", ".id"], [["revsync.cus", str(customer)]])
    columns = [
        "id",
        "move_type",
        "partner_id/id",
        "currency_id",
        "ref",
        "invoice_line_ids/name",
        "invoice_line_ids/quantity",
        "invoice_line_ids/price_unit",
    ]
    rows = [
        ["revsync.inv_1", "out_invoice", "revsync.cus", "USD", "in_1", "a", "1", "30"],
        ["", "", "", "", "", "b", "1", "39"],
    ]

    first = odoo.call("account.move", "load", columns, rows)
    second = odoo.call("account.move", "load", columns, rows)

    assert first["ids"] == second["ids"]
    (move,) = odoo.call(
        "account.move", "read", first["ids"], ["invoice_line_ids", "amount_untaxed"]
    )
    assert len(move["invoice_line_ids"]) == 4
    assert move["amount_untaxed"] == 138.0


def test_load_on_a_posted_move_reports_readonly_fields(
    odoo: Odoo, customer: int
) -> None:
    odoo.call("res.partner", "load", ["id", ".id"], [["revsync.cus", str(customer)]])
    header = ["id", "move_type", "partner_id/id", "currency_id", "ref"]
    row = ["revsync.inv_2", "out_invoice", "revsync.cus", "USD", "in_2"]
    columns = [*header, "invoice_line_ids/name", "invoice_line_ids/price_unit"]
    (move,) = odoo.call("account.move", "load", columns, [[*row, "a", "10"]])["ids"]
    odoo.call("account.move", "action_post", [move])

    result = odoo.call("account.move", "load", header, [row])

    assert result["ids"] is False
    assert [m["message"] for m in result["messages"]] == [
        "You cannot modify the following readonly fields on a posted move: "
        "partner_id, currency_id"
    ]


def test_limited_user_cannot_read_model_data(odoo: Odoo) -> None:
    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.call("ir.model.data", "search_read", [("module", "=", "base")], ["name"])

    assert caught.value.faultCode == f"warning -- AccessError\n\n{ACL_ERROR}"


def test_limited_user_cannot_create_model_data_on_xmlrpc_2(
    odoo: Odoo, customer: int
) -> None:
    vals = {
        "module": "revsync",
        "name": "x",
        "model": "res.partner",
        "res_id": customer,
    }

    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.v2("ir.model.data", "create", vals)

    assert caught.value.faultCode == 4
    assert caught.value.faultString == ACL_ERROR


def test_limited_user_can_check_an_object_reference(odoo: Odoo) -> None:
    loaded = odoo.call(
        "res.partner", "load", ["id", "name"], [["revsync.stripe_cus_9", "Nine"]]
    )

    assert odoo.call(
        "ir.model.data", "check_object_reference", "revsync", "stripe_cus_9"
    ) == ["res.partner", loaded["ids"][0]]
    assert odoo.call(
        "ir.model.data", "check_object_reference", "mail", "mail_activity_data_todo"
    ) == ["mail.activity.type", odoo.ref("mail.mail_activity_data_todo")]


def test_limited_user_cannot_resolve_an_ir_model_xmlid(odoo: Odoo) -> None:
    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.call(
            "ir.model.data", "check_object_reference", "base", "model_res_partner"
        )

    assert caught.value.faultCode.startswith(
        "warning -- AccessError\n\nYou are not allowed to access 'Models' (ir.model)"
    )


def test_unknown_external_id_is_a_value_error(odoo: Odoo) -> None:
    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.call("ir.model.data", "check_object_reference", "revsync", "nope")

    assert caught.value.faultCode == "External ID not found in the system: revsync.nope"
    assert "ValueError" in caught.value.faultString


def test_duplicate_external_id_hits_the_unique_index(admin_odoo: Odoo) -> None:
    partner = admin_odoo.call("res.partner", "create", {"name": "P"})
    vals = {
        "module": "revsync",
        "name": "stripe_cus_dup",
        "model": "res.partner",
        "res_id": partner,
        "noupdate": True,
    }
    admin_odoo.call("ir.model.data", "create", vals)

    with pytest.raises(xmlrpc.client.Fault) as caught:
        admin_odoo.call("ir.model.data", "create", vals)

    assert caught.value.faultCode == (
        "warning -- UserError\n\nThe operation cannot be completed: duplicate key "
        'value violates unique constraint "ir_model_data_module_name_uniq_index"\n'
        "DETAIL:  Key (module, name)=(revsync, stripe_cus_dup) already exists."
    )


def test_admin_reads_model_data_and_models(admin_odoo: Odoo) -> None:
    rows = admin_odoo.call(
        "ir.model.data",
        "search_read",
        [("module", "=", "mail"), ("name", "=", "mail_activity_data_todo")],
        ["model", "res_id", "complete_name", "noupdate"],
    )
    models = admin_odoo.call("ir.model", "search", [("model", "=", "res.partner")])

    assert rows[0]["complete_name"] == "mail.mail_activity_data_todo"
    assert rows[0]["model"] == "mail.activity.type"
    assert models == [admin_odoo.ref("base.model_res_partner")]


def test_unlinking_a_record_removes_its_external_id(admin_odoo: Odoo) -> None:
    loaded = admin_odoo.call(
        "res.partner", "load", ["id", "name"], [["revsync.gone", "Gone"]]
    )

    admin_odoo.call("res.partner", "unlink", loaded["ids"])

    assert (
        admin_odoo.call("ir.model.data", "search_count", [("name", "=", "gone")]) == 0
    )


def test_load_creates_a_draft_invoice_without_a_name(odoo: Odoo, customer: int) -> None:
    result = odoo.call(
        "account.move",
        "load",
        ["id", "move_type", "partner_id/.id", "invoice_date"],
        [["revsync.inv_3", "out_invoice", str(customer), TODAY]],
    )

    (move,) = odoo.call(
        "account.move", "read", result["ids"], ["state", "name", "invoice_date"]
    )
    assert move["state"] == "draft"
    assert move["name"] is False
    assert move["invoice_date"] == TODAY
