"""Activities and chatter (odoo.md §8)."""

from __future__ import annotations

import xmlrpc.client

import pytest

from .support import Odoo

NO_EMAIL = (
    "warning -- UserError\n\n"
    "Unable to send message, please configure the sender's email address."
)


def test_activity_needs_res_model_id(odoo: Odoo, customer: int) -> None:
    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.call(
            "mail.activity",
            "create",
            {"res_model": "res.partner", "res_id": customer, "summary": "x"},
        )

    assert caught.value.faultCode == (
        "warning -- UserError\n\nThe operation cannot be completed:\n"
        "- Create/update: a mandatory field is not set.\n"
        "- Delete: another model requires the record being deleted. "
        "If possible, archive it instead.\n\n"
        "Model: Activity (mail.activity)\nField: Document Model (res_model_id)\n"
    )


def test_activity_reads_back_its_document(odoo: Odoo, customer: int) -> None:
    todo = odoo.ref("mail.mail_activity_data_todo")
    activity = odoo.call(
        "mail.activity",
        "create",
        {
            "res_model_id": odoo.model_id("res.partner"),
            "res_id": customer,
            "activity_type_id": todo,
            "user_id": odoo.uid,
            "summary": "Zendesk #4242: billing dispute",
            "note": "<p>Customer disputes the charge</p>",
            "date_deadline": "2999-12-06",
        },
    )

    (row,) = odoo.call(
        "mail.activity",
        "read",
        [activity],
        ["res_model", "res_name", "state", "activity_type_id"],
    )

    assert row == {
        "id": activity,
        "res_model": "res.partner",
        "res_name": "Acme GmbH",
        "state": "planned",
        "activity_type_id": [todo, "To-Do"],
    }


def test_overdue_activity(odoo: Odoo, customer: int) -> None:
    activity = odoo.call(
        "mail.activity",
        "create",
        {
            "res_model_id": odoo.model_id("res.partner"),
            "res_id": customer,
            "date_deadline": "2000-01-01",
        },
    )

    assert odoo.call("mail.activity", "read", [activity], ["state"])[0]["state"] == (
        "overdue"
    )


def test_message_post_needs_an_email_on_the_user(odoo: Odoo, customer: int) -> None:
    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.call(
            "res.partner",
            "message_post",
            [customer],
            body="hello",
            message_type="comment",
            subtype_xmlid="mail.mt_note",
        )
    assert caught.value.faultCode == NO_EMAIL

    odoo.call("res.users", "write", [odoo.uid], {"email": "api@revsync.test"})
    message = odoo.call(
        "res.partner",
        "message_post",
        [customer],
        body="hello",
        message_type="comment",
        subtype_xmlid="mail.mt_note",
    )

    (row,) = odoo.call("mail.message", "read", [message], ["model", "res_id", "body"])
    assert row == {
        "id": message,
        "model": "res.partner",
        "res_id": customer,
        "body": "hello",
    }


def test_feedback_posts_a_message_and_removes_the_activity(
    odoo: Odoo, customer: int
) -> None:
    odoo.call("res.users", "write", [odoo.uid], {"email": "api@revsync.test"})
    activity = odoo.call(
        "mail.activity",
        "create",
        {"res_model_id": odoo.model_id("res.partner"), "res_id": customer},
    )

    message = odoo.call(
        "mail.activity", "action_feedback", [activity], feedback="done via API"
    )

    assert isinstance(message, int)
    assert odoo.call("mail.activity", "search_count", [("id", "=", activity)]) == 0
    (row,) = odoo.call("mail.message", "read", [message], ["res_id", "body"])
    assert row["res_id"] == customer and "done via API" in row["body"]


def test_activity_schedule_commits_then_cannot_marshal(
    odoo: Odoo, customer: int
) -> None:
    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.call(
            "res.partner",
            "activity_schedule",
            [customer],
            act_type_xmlid="mail.mail_activity_data_todo",
            summary="call back",
        )

    assert caught.value.faultCode == (
        "cannot marshal <class 'odoo.api.mail.activity'> objects"
    )
    rows = odoo.sandbox.records("mail.activity", [("res_id", "=", customer)])
    assert [row["summary"] for row in rows] == ["call back"]
