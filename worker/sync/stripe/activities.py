"""Follow-ups for people in Odoo (collections, disputes) as ``mail.activity``.

Activities are loaded under an external id of their own, so a redelivered failure
never schedules the same follow-up twice, and marked done (Odoo then removes them)
when what they were about is resolved.
"""

from __future__ import annotations

from datetime import date, timedelta

from worker.errors import PermanentError
from worker.odoo.client import external_id, qualified
from worker.sync.context import SyncContext

# Odoo names every model's ir.model row base.model_<model with underscores>; load
# resolves it although a scoped API user may not read ir.model itself.
MODEL_XMLIDS = {
    "res.partner": "base.model_res_partner",
    "account.move": "account.model_account_move",
}
TO_DO_TYPE = "mail.mail_activity_data_todo"
# The state of a follow-up's cross-reference while it is being scheduled.
OPENING = "opening"


def open_activity(
    ctx: SyncContext,
    key: str,
    *,
    model: str,
    res_id: int,
    summary: str,
    due_in_days: int = 2,
) -> int:
    """Schedule the follow-up ``key`` once; later calls return the same activity."""
    xref = ctx.xref("stripe", "activity", key)
    if xref is not None and xref.odoo_id and xref.state == "open":
        return int(xref.odoo_id)
    # Recorded before Odoo is written: an attempt cut off between the two leaves
    # "opening", and whoever closes the follow-up then looks for it in Odoo.
    ctx.link(
        "stripe",
        "activity",
        key,
        odoo_model=None,
        odoo_id=None,
        account_id=ctx.account_id,
        state=OPENING,
    )
    values = {
        "res_model_id/id": MODEL_XMLIDS[model],
        "res_id": res_id,
        "activity_type_id/id": TO_DO_TYPE,
        "summary": summary,
        "date_deadline": (date.today() + timedelta(days=due_in_days)).isoformat(),
    }
    activity_id = ctx.odoo.load_record(
        "mail.activity", qualified(external_id("stripe", "activity", key)), values
    )
    ctx.audit(
        system="odoo",
        model="mail.activity",
        record_id=activity_id,
        operation="create",
        fields=["res_model_id", "res_id", "activity_type_id", "summary"],
        note=key,
    )
    ctx.link(
        "stripe",
        "activity",
        key,
        odoo_model="mail.activity",
        odoo_id=activity_id,
        account_id=ctx.account_id,
        state="open",
    )
    return activity_id


def close_activity(ctx: SyncContext, key: str, feedback: str) -> bool:
    """Mark the follow-up ``key`` done; False when there was none open."""
    xref = ctx.xref("stripe", "activity", key)
    if xref is None or xref.state not in ("open", OPENING):
        return False
    activity_id = xref.odoo_id
    if xref.state == OPENING:
        activity_id = ctx.odoo.ref(qualified(external_id("stripe", "activity", key)))
        if activity_id is not None:
            ctx.adopt("mail.activity", activity_id, f"found by its external id ({key})")
    if not activity_id:
        ctx.link("stripe", "activity", key, odoo_model=None, odoo_id=None, state="done")
        return False
    try:
        ctx.odoo.act(
            "mail.activity", "action_feedback", [activity_id], feedback=feedback
        )
    except PermanentError as error:
        # Someone in Odoo completed or deleted it already; that is the same outcome.
        if "does not exist" not in str(error):
            raise
    ctx.audit(
        system="odoo",
        model="mail.activity",
        record_id=activity_id,
        operation="done",
        note=key,
    )
    # The activity is gone from Odoo; keep the key so a late event does not reopen it.
    ctx.link("stripe", "activity", key, odoo_model=None, odoo_id=None, state="done")
    return True
