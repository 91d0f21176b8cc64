"""Chatter and activities, as Odoo 18's ``mail`` module exposes them.

* ``mail.activity`` needs ``res_model_id`` (an ``ir.model`` id). Giving only
  the ``res_model`` name fails with the NOT NULL error on "Document Model",
  because that field is a stored related field of ``res_model_id``.
  ``res_name`` and ``state`` (planned/today/overdue against the deadline) are
  computed.
* ``action_feedback`` posts a message on the document, deletes the activity
  and returns the id of that message.
* ``message_post`` refuses to post when the author has no email address, with
  "Unable to send message, please configure the sender's email address."
* ``activity_schedule`` creates the activity, then returns a recordset, which
  XML-RPC cannot marshal: the client sees a fault although the activity
  exists.
"""

from __future__ import annotations

from datetime import date
from html import escape
from typing import Any

from .exceptions import UserError, missing_error
from .fields import (
    Boolean,
    Char,
    Date,
    Datetime,
    Html,
    Integer,
    Many2many,
    Many2one,
    Many2oneReference,
    Selection,
)
from .orm import Model, Row, api_records

NO_EMAIL = "Unable to send message, please configure the sender's email address."


def recordset(model: str, ids: list[int]) -> Any:
    """An object that XML-RPC refuses the way it refuses a real recordset.

    Its class prints as ``<class 'odoo.api.mail.activity'>``, so marshalling it
    fails with Odoo's exact "cannot marshal ... objects" message.
    """
    cls = type(model, (), {"__module__": "odoo.api", "__slots__": ("ids",)})
    cls.__qualname__ = model
    instance = cls()
    instance.ids = ids
    return instance


class MailThread:
    """The chatter methods shared by partners, orders, invoices and payments."""

    activity_ids = Many2many(
        "mail.activity", "Activities", compute="_compute_activities"
    )
    message_ids = Many2many("mail.message", "Messages", compute="_compute_messages")

    def _compute_activities(self: Any, row: Row) -> tuple[int, ...]:
        table = self.env["mail.activity"].table
        models = self.env["ir.model"].table.rows
        ids = table.lookup("res_id", row["id"])
        # res_model is related to res_model_id.model, so only the id is stored.
        return tuple(
            sorted(
                i
                for i in ids
                if models[table.rows[i]["res_model_id"]]["model"] == self._name
            )
        )

    def _compute_messages(self: Any, row: Row) -> tuple[int, ...]:
        table = self.env["mail.message"].table
        ids = table.lookup("res_id", row["id"])
        return tuple(
            sorted(
                (i for i in ids if table.rows[i]["model"] == self._name), reverse=True
            )
        )

    def _post_message(
        self: Any,
        rid: int,
        body: str,
        *,
        message_type: str = "comment",
        subtype_xmlid: str | None = None,
        subject: Any = False,
        author_id: Any = None,
        activity_type: Any = False,
    ) -> int:
        env = self.env
        if author_id:
            author = author_id
        else:
            author = env["res.users"].row(self.uid)["partner_id"]
        if not env["res.partner"].row(author)["email"]:
            raise UserError(NO_EMAIL)
        subtype = False
        if subtype_xmlid:
            found = env["ir.model.data"]._lookup(subtype_xmlid)
            subtype = found[1] if found else False
        elif message_type == "comment":
            subtype = env["ir.model.data"]._lookup("mail.mt_note")[1]
        return env["mail.message"]._create(
            {
                "model": self._name,
                "res_id": rid,
                "body": body,
                "subject": subject,
                "message_type": message_type,
                "subtype_id": subtype,
                "author_id": author,
                "mail_activity_type_id": activity_type,
            }
        )

    @api_records
    def message_post(
        self: Any,
        ids: Any,
        body: str = "",
        subject: Any = None,
        message_type: str = "notification",
        subtype_xmlid: str | None = None,
        subtype_id: Any = False,
        partner_ids: Any = None,
        author_id: Any = None,
        **kwargs: Any,
    ) -> int:
        (rid,) = self.existing(ids)
        if subtype_id and not subtype_xmlid:
            subtype_xmlid = self.env["ir.model.data"]._xmlid_of(
                "mail.message.subtype", subtype_id
            )
        return self._post_message(
            rid,
            body,
            message_type=message_type,
            subtype_xmlid=subtype_xmlid,
            subject=subject or False,
            author_id=author_id,
        )

    @api_records
    def activity_schedule(
        self: Any,
        ids: Any,
        act_type_xmlid: str = "",
        date_deadline: Any = None,
        summary: str = "",
        note: str = "",
        **act_values: Any,
    ) -> Any:
        ids = self.existing(ids)
        env = self.env
        type_id = act_values.pop("activity_type_id", False)
        if act_type_xmlid:
            found = env["ir.model.data"]._lookup(act_type_xmlid)
            if not found:
                raise ValueError(
                    f"External ID not found in the system: {act_type_xmlid}"
                )
            type_id = found[1]
        model_id = env["ir.model"]._id_for(self._name)
        created = []
        for rid in ids:
            vals = {
                "res_model_id": model_id,
                "res_id": rid,
                "activity_type_id": type_id or env["mail.activity"]._default_type(),
                "summary": summary or False,
                "note": note or False,
                **act_values,
            }
            if date_deadline:
                vals["date_deadline"] = date_deadline
            created.append(env["mail.activity"]._create(vals))
        return recordset("mail.activity", created)


class MailActivityType(Model):
    _name = "mail.activity.type"
    _description = "Activity Type"
    _module = "mail"
    _order = "sequence, id"

    name = Char("Name", required=True, index=True)
    summary = Char("Default Summary")
    sequence = Integer("Sequence", default=10)
    active = Boolean("Active", default=True)
    category = Selection(
        [
            ("default", "None"),
            ("upload_file", "Upload Document"),
            ("phonecall", "Phonecall"),
        ],
        "Action",
        default="default",
    )
    delay_count = Integer("Schedule")
    res_model = Char("Model")
    icon = Char("Icon")


class MailActivity(Model):
    _name = "mail.activity"
    _description = "Activity"
    _module = "mail"
    _order = "date_deadline ASC, id ASC"
    _rec_name = "summary"

    res_model_id = Many2one(
        "ir.model", "Document Model", required=True, ondelete="cascade"
    )
    res_model = Char("Related Document Model", related="res_model_id.model")
    res_id = Many2oneReference("Related Document ID", index=True)
    res_name = Char("Document Name", compute="_compute_res_name")
    activity_type_id = Many2one(
        "mail.activity.type",
        "Activity Type",
        default=lambda self: self._default_type(),
    )
    activity_category = Char("Action", related="activity_type_id.category")
    summary = Char("Summary")
    note = Html("Note")
    date_deadline = Date(
        "Due Date", required=True, default=lambda self: self.sandbox.today
    )
    user_id = Many2one("res.users", "Assigned to", default=lambda self: self.uid)
    state = Selection(
        [
            ("overdue", "Overdue"),
            ("today", "Today"),
            ("planned", "Planned"),
            ("done", "Done"),
        ],
        "State",
        compute="_compute_state",
    )
    automated = Boolean("Automated activity")
    active = Boolean("Active", default=True)

    def _default_type(self) -> Any:
        found = self.env["ir.model.data"]._lookup("mail.mail_activity_data_todo")
        return found[1] if found else False

    def _compute_res_name(self, row: Row) -> Any:
        model = self.env["ir.model"].row(row["res_model_id"])["model"]
        target = self.env.get(model)
        if target is None or not row["res_id"]:
            return False
        return target.display_name_of(row["res_id"])

    def _compute_state(self, row: Row) -> str:
        deadline = date.fromisoformat(row["date_deadline"])
        days = (deadline - date.fromisoformat(self.sandbox.today)).days
        if days < 0:
            return "overdue"
        return "today" if days == 0 else "planned"

    def _compute_display_name(self, row: Row) -> Any:
        if row["summary"]:
            return row["summary"]
        kind = row["activity_type_id"]
        return self.env["mail.activity.type"].display_name_of(kind) if kind else False

    def _check_constraints(self, ids: list[int]) -> None:
        for rid in ids:
            row = self.table.rows.get(rid)
            if row is None:
                continue
            model = self.env["ir.model"].row(row["res_model_id"])["model"]
            target = self.env.get(model)
            if target is not None and row["res_id"] not in target.table.rows:
                raise missing_error(model, [row["res_id"]], self.uid)

    @api_records
    def action_feedback(
        self, ids: Any, feedback: Any = False, attachment_ids: Any = None
    ) -> Any:
        ids = self.existing(ids)
        messages = []
        for rid in ids:
            row = self.table.rows[rid]
            model = self.env["ir.model"].row(row["res_model_id"])["model"]
            kind = row["activity_type_id"]
            label = self.env["mail.activity.type"].display_name_of(kind) if kind else ""
            body = f"<div><p>{escape(str(label))} done"
            if row["summary"]:
                body += f": <span class='fw-bold'>{escape(row['summary'])}</span>"
            body += "</p>"
            if row["note"]:
                body += f"<div><strong>Original note:</strong></div>{row['note']}"
            if feedback:
                body += (
                    f"<div><strong>Feedback:</strong><p>{escape(feedback)}</p></div>"
                )
            body += "</div>"
            messages.append(
                self.env[model]._post_message(
                    row["res_id"],
                    body,
                    message_type="notification",
                    subtype_xmlid="mail.mt_activities",
                    activity_type=kind,
                )
            )
        self._unlink(ids)
        return messages[0] if messages else False

    @api_records
    def action_done(self, ids: Any) -> Any:
        return self.action_feedback(ids)


class MailMessageSubtype(Model):
    _name = "mail.message.subtype"
    _description = "Message subtypes"
    _module = "mail"

    name = Char("Message Type", required=True)
    internal = Boolean("Internal Only")
    default = Boolean("Default", default=True)


class MailMessage(Model):
    _name = "mail.message"
    _description = "Message"
    _module = "mail"
    _order = "id desc"
    _rec_name = "record_name"

    subject = Char("Subject")
    body = Html("Contents", default="")
    model = Char("Related Document Model", index=True)
    res_id = Many2oneReference("Related Document ID", index=True)
    record_name = Char("Message Record Name", compute="_compute_record_name")
    message_type = Selection(
        [
            ("email", "Incoming Email"),
            ("comment", "Comment"),
            ("email_outgoing", "Outgoing Email"),
            ("notification", "System notification"),
            ("auto_comment", "Automated Targeted Notification"),
            ("user_notification", "User Specific Notification"),
        ],
        "Type",
        required=True,
        default="comment",
    )
    subtype_id = Many2one("mail.message.subtype", "Subtype")
    author_id = Many2one("res.partner", "Author")
    partner_ids = Many2many("res.partner", "Recipients")
    date = Datetime("Date", default=lambda self: self.sandbox.now)
    mail_activity_type_id = Many2one("mail.activity.type", "Mail Activity Type")

    def _compute_record_name(self, row: Row) -> Any:
        target = self.env.get(row["model"] or "")
        if target is None or not row["res_id"]:
            return False
        return target.display_name_of(row["res_id"])


MODELS = [MailActivityType, MailActivity, MailMessageSubtype, MailMessage]
