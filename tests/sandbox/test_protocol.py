"""The wire: endpoints, authentication and the fault encoding of odoo.md §9."""

from __future__ import annotations

import xmlrpc.client

import odoolib
import pytest

from .support import DB, LOGIN, PASSWORD, Odoo


def test_version_reports_odoo_18(odoo: Odoo) -> None:
    version = odoo.proxy("common").version()

    assert version["server_version"] == "18.0"
    assert version["server_version_info"] == [18, 0, 0, "final", 0, ""]
    assert version["protocol_version"] == 1


def test_odoolib_login_returns_the_uid(odoo: Odoo) -> None:
    connection = odoo.connection()
    connection.check_login()

    assert connection.user_id == odoo.sandbox.user_id


def test_odoolib_wrong_password_is_an_authentication_failure(odoo: Odoo) -> None:
    with pytest.raises(odoolib.tools.AuthenticationError):
        odoo.connection(password="wrong").check_login()


def test_authenticate_gives_false_for_a_wrong_password(odoo: Odoo) -> None:
    common = odoo.proxy("common")

    assert common.authenticate(DB, LOGIN, PASSWORD, {}) == odoo.uid
    assert common.authenticate(DB, LOGIN, "wrong", {}) is False


def test_wrong_password_on_the_legacy_object_endpoint(odoo: Odoo) -> None:
    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.proxy("object", version="").execute_kw(
            DB, odoo.uid, "wrong", "res.partner", "search", [[]], {}
        )

    assert caught.value.faultCode == "AccessDenied"
    assert caught.value.faultString == "Access Denied"


def test_wrong_password_on_xmlrpc_2_is_code_3(odoo: Odoo) -> None:
    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.proxy("object").execute_kw(
            DB, odoo.uid, "wrong", "res.partner", "search", [[]]
        )

    assert caught.value.faultCode == 3
    assert caught.value.faultString == "Access Denied"


def test_unknown_database_is_a_connection_fault(odoo: Odoo) -> None:
    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.proxy("common", version="").login("nope", LOGIN, PASSWORD)

    assert caught.value.faultCode == (
        'connection to server at "127.0.0.1", port 5432 failed: FATAL:  '
        'database "nope" does not exist\n'
    )
    assert "Traceback" in caught.value.faultString


def test_execute_takes_positional_arguments(odoo: Odoo, customer: int) -> None:
    rows = odoo.proxy("object").execute(
        DB, odoo.uid, PASSWORD, "res.partner", "read", [customer], ["name"]
    )

    assert rows == [{"id": customer, "name": "Acme GmbH"}]


def test_unknown_model_is_a_user_error(odoo: Odoo) -> None:
    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.call("res.partnr", "search", [])

    assert caught.value.faultCode == (
        "warning -- UserError\n\nObject res.partnr doesn't exist"
    )
    assert caught.value.faultString == ""


def test_unknown_method_is_an_application_error(odoo: Odoo) -> None:
    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.call("res.partner", "does_not_exist", [])

    assert caught.value.faultCode == (
        "The method 'res.partner.does_not_exist' does not exist"
    )
    assert "AttributeError" in caught.value.faultString


def test_private_method_is_an_access_error(odoo: Odoo) -> None:
    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.call("ir.model.data", "_xmlid_lookup", "base.us")

    assert caught.value.faultCode == (
        "warning -- AccessError\n\nPrivate methods (such as "
        "'ir.model.data._xmlid_lookup') cannot be called remotely."
    )


def test_private_method_on_xmlrpc_2_is_code_4(odoo: Odoo) -> None:
    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.v2("ir.model.data", "_xmlid_lookup", "base.us")

    assert caught.value.faultCode == 4
    assert caught.value.faultString.startswith("Private methods")


def test_missing_record_write_is_a_missing_error(odoo: Odoo) -> None:
    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.call("res.partner", "write", [999999999], {"name": "x"})

    assert caught.value.faultCode == (
        "warning -- MissingError\n\nRecord does not exist or has been deleted.\n"
        f"(Record: res.partner(999999999,), User: {odoo.uid})"
    )


def test_missing_record_on_xmlrpc_2_is_code_2(odoo: Odoo) -> None:
    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.v2("res.partner", "unlink", [999999999])

    assert caught.value.faultCode == 2
    assert caught.value.faultString.startswith("Record does not exist")


def test_reading_a_missing_record_returns_an_empty_list(odoo: Odoo) -> None:
    assert odoo.call("res.partner", "read", [999999999], ["name"]) == []
    assert odoo.v2("res.partner", "search_read", [("id", "=", 999999999)]) == []


def test_many2one_to_a_missing_record_is_a_missing_error(odoo: Odoo) -> None:
    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.call("res.partner", "create", {"name": "x", "country_id": 999999})

    assert caught.value.faultCode.endswith(
        f"(Record: res.country(999999,), User: {odoo.uid})"
    )
    assert odoo.sandbox.records("res.partner", [("name", "=", "x")]) == []


def test_unknown_field_in_create_is_an_application_error(odoo: Odoo) -> None:
    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.call("res.partner", "create", {"nmae": "x"})

    assert caught.value.faultCode == "Invalid field 'nmae' on model 'res.partner'"
    assert "ValueError" in caught.value.faultString


def test_unknown_field_in_read_on_xmlrpc_2_is_code_1(odoo: Odoo, customer: int) -> None:
    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.v2("res.partner", "read", [customer], ["nmae"])

    assert caught.value.faultCode == 1
    assert "Invalid field 'nmae' on model 'res.partner'" in caught.value.faultString


def test_unknown_field_in_a_domain_names_the_leaf(odoo: Odoo) -> None:
    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.call("res.partner", "search", [("nmae", "=", "x")])

    assert caught.value.faultCode == (
        "Invalid field res.partner.nmae in leaf ('nmae', '=', 'x')"
    )


def test_bad_selection_value_is_refused(odoo: Odoo, customer: int) -> None:
    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.call("account.move", "create", {"move_type": "bogus"})

    assert caught.value.faultCode == "Wrong value for account.move.move_type: 'bogus'"


def test_create_returns_an_int_or_a_list(odoo: Odoo) -> None:
    one = odoo.call("res.partner", "create", {"name": "One"})
    many = odoo.call("res.partner", "create", [{"name": "Two"}, {"name": "Three"}])

    assert isinstance(one, int)
    assert isinstance(many, list) and len(many) == 2


def test_write_accepts_an_int_id(odoo: Odoo, customer: int) -> None:
    assert odoo.call("res.partner", "write", customer, {"email": "a@b.c"}) is True
    assert (
        odoo.sandbox.records("res.partner", [("id", "=", customer)])[0]["email"]
        == "a@b.c"
    )


def test_values_come_back_like_a_real_server(odoo: Odoo, customer: int) -> None:
    germany = odoo.ref("base.de")
    odoo.call("res.partner", "write", [customer], {"country_id": germany})

    (row,) = odoo.call(
        "res.partner",
        "read",
        [customer],
        ["country_id", "email", "category_id", "company_type", "create_date"],
    )

    assert row["country_id"] == [germany, "Germany"]
    assert row["email"] is False
    assert row["category_id"] == []
    assert row["company_type"] == "company"
    assert len(row["create_date"]) == len("2026-01-01 10:00:00")


def test_odoolib_read_of_one_id_unwraps_the_dict(odoo: Odoo, customer: int) -> None:
    row = odoo.connection().get_model("res.partner").read(customer, ["name"])

    assert row == {"id": customer, "name": "Acme GmbH"}


def test_failed_call_leaves_nothing_behind(odoo: Odoo) -> None:
    before = len(odoo.sandbox.records("res.partner"))

    with pytest.raises(xmlrpc.client.Fault):
        odoo.call("res.partner", "create", [{"name": "Kept?"}, {"name": False}])

    assert len(odoo.sandbox.records("res.partner")) == before


def test_get_external_id_commits_then_cannot_marshal(odoo: Odoo, customer: int) -> None:
    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.call("res.partner", "get_external_id", [customer])

    assert caught.value.faultCode == "dictionary key must be string"
