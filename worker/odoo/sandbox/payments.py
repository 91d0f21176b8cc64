"""Payments and the two accounting wizards, as in Odoo 18 Community.

* ``account.payment`` is a model of its own in 18 (no longer a kind of move):
  ``state`` goes ``draft`` → ``in_process`` → ``paid`` (or ``canceled``),
  ``memo`` holds the label, ``move_id`` the journal entry, named
  ``PSTRP/2026/00001`` from a bank journal ``STRP``. It books the amount on the
  journal's "Outstanding Receipts" (or "Outstanding Payments") account, so it
  is ``is_reconciled`` once its invoice is paid but never ``is_matched``
  without a bank statement, and it becomes ``paid`` when all its invoices are.
  ``action_post`` returns nothing, like the real method.
* ``account.payment.register`` is created with ``active_model``/``active_ids``
  in the context and defaults the amount to what is due, the currency to the
  invoice's, the payment type from the sign (a credit note gives
  ``outbound``). A draft or fully paid move gives "You can't register a
  payment because there is nothing left to pay on the selected journal
  items.". ``action_create_payments`` returns the window action whose
  ``res_id`` is the new payment. ``payment_difference_handling='open'`` leaves
  the rest due (``partial``), ``'reconcile'`` writes it off.
* ``account.move.reversal`` has ``move_ids``, ``date``, ``reason`` and a
  ``journal_id`` that a real server does not fill in over RPC, so creating
  the wizard without it fails with the NOT NULL error. ``refund_moves``
  returns an action whose ``res_id`` is a draft credit note whose ``ref`` is
  "Reversal of: INV/2026/00001, <reason>"; ``modify_moves`` also posts the
  credit note and returns a new draft copy of the invoice.
"""

from __future__ import annotations

from typing import Any

from .accounting import float_round
from .exceptions import UserError, not_null_error
from .fields import (
    Boolean,
    Char,
    Date,
    Integer,
    Many2many,
    Many2one,
    Monetary,
    Selection,
)
from .mail import MailThread
from .moves import INVOICE_TYPES
from .orm import Model, Row, api_records

NOTHING_TO_PAY = (
    "You can't register a payment because there is nothing left to pay on the "
    "selected journal items."
)
REVERSE_TYPES = {
    "out_invoice": "out_refund",
    "out_refund": "out_invoice",
    "in_invoice": "in_refund",
    "in_refund": "in_invoice",
    "out_receipt": "out_refund",
    "in_receipt": "in_refund",
    "entry": "entry",
}
PAYMENT_TYPES = [("outbound", "Send"), ("inbound", "Receive")]
PARTNER_TYPES = [("customer", "Customer"), ("supplier", "Vendor")]


def _first_bank_journal(model: Model) -> Any:
    journals = model.env["account.journal"]
    found = journals._search([("type", "in", ("bank", "cash"))], limit=1)
    return found[0] if found else False


class Payment(MailThread, Model):
    _name = "account.payment"
    _description = "Payments"
    _module = "account"
    _order = "date desc, name desc"

    name = Char("Number", index=True, copy=False)
    date = Date("Date", required=True, default=lambda self: self.sandbox.today)
    state = Selection(
        [
            ("draft", "Draft"),
            ("in_process", "In Process"),
            ("paid", "Paid"),
            ("canceled", "Canceled"),
            ("rejected", "Rejected"),
        ],
        "Status",
        required=True,
        default="draft",
        copy=False,
    )
    payment_type = Selection(
        PAYMENT_TYPES, "Payment Type", required=True, default="inbound"
    )
    partner_type = Selection(PARTNER_TYPES, default="customer")
    amount = Monetary("Amount")
    currency_id = Many2one(
        "res.currency",
        "Currency",
        required=True,
        default=lambda self: self.sandbox.company_currency,
    )
    partner_id = Many2one("res.partner", "Customer/Vendor", index=True)
    journal_id = Many2one(
        "account.journal", "Journal", required=True, default=_first_bank_journal
    )
    company_id = Many2one("res.company", "Company", default=1)
    payment_method_line_id = Many2one("account.payment.method.line", "Payment Method")
    payment_method_id = Many2one(
        "account.payment.method",
        "Method",
        related="payment_method_line_id.payment_method_id",
    )
    memo = Char("Memo", index=True)
    payment_reference = Char("Payment Reference", index=True, copy=False)
    move_id = Many2one("account.move", "Journal Entry", index=True, copy=False)
    outstanding_account_id = Many2one("account.account", "Outstanding Account")
    destination_account_id = Many2one("account.account", "Destination Account")
    invoice_ids = Many2many("account.move", "Invoices", copy=False)
    is_reconciled = Boolean("Is Reconciled", compute="_compute_is_reconciled")
    is_matched = Boolean(
        "Is Matched With a Bank Statement", compute="_compute_is_matched"
    )
    reconciled_invoice_ids = Many2many(
        "account.move", "Reconciled Invoices", compute="_compute_reconciled_invoices"
    )
    reconciled_invoices_count = Integer(
        "# Reconciled Invoices", compute="_compute_reconciled_count"
    )
    amount_signed = Monetary("Amount Signed", compute="_compute_amount_signed")
    amount_company_currency_signed = Monetary(
        "Amount Company Currency Signed", compute="_compute_amount_company"
    )

    def _compute_display_name(self, row: Row) -> Any:
        return row["name"] or "Draft Payment"

    def _prepare_create(self, vals: Row) -> Row:
        journals = self.env["account.journal"]
        journal = vals.get("journal_id") or _first_bank_journal(self)
        vals["journal_id"] = journal
        kind = vals.get("payment_type") or "inbound"
        if not vals.get("payment_method_line_id") and journal:
            vals["payment_method_line_id"] = journals._method_line(journal, kind)
        accounts = self.env["account.account"]
        if not vals.get("outstanding_account_id"):
            line = vals.get("payment_method_line_id")
            mapped = (
                line
                and self.env["account.payment.method.line"].table.rows[line][
                    "payment_account_id"
                ]
            )
            default = "101403" if kind == "inbound" else "101404"
            vals["outstanding_account_id"] = mapped or accounts._by_code(default)
        if not vals.get("destination_account_id"):
            supplier = vals.get("partner_type") == "supplier"
            vals["destination_account_id"] = accounts._by_code(
                "211000" if supplier else "121000"
            )
        return vals

    def _lines(self, row: Row, account_field: str) -> list[Row]:
        if not row["move_id"]:
            return []
        lines = self.env["account.move.line"].table
        return [
            lines.rows[i]
            for i in sorted(lines.lookup("move_id", row["move_id"]))
            if lines.rows[i]["account_id"] == row[account_field]
        ]

    def _compute_is_reconciled(self, row: Row) -> bool:
        lines = self._lines(row, "destination_account_id")
        return bool(lines) and all(line["reconciled"] for line in lines)

    def _compute_is_matched(self, row: Row) -> bool:
        lines = self._lines(row, "outstanding_account_id")
        return bool(lines) and all(
            line["amount_residual"] == 0.0 and line["amount_residual_currency"] == 0.0
            for line in lines
        )

    def _compute_reconciled_invoices(self, row: Row) -> tuple[int, ...]:
        lines = self.env["account.move.line"]
        moves = self.env["account.move"].table.rows
        counterpart = [
            line["id"] for line in self._lines(row, "destination_account_id")
        ]
        found = {
            lines.table.rows[i]["move_id"] for i in lines._counterparts(counterpart)
        }
        return tuple(sorted(m for m in found if moves[m]["move_type"] in INVOICE_TYPES))

    def _compute_reconciled_count(self, row: Row) -> int:
        return len(self._compute_reconciled_invoices(row))

    def _compute_amount_signed(self, row: Row) -> float:
        return row["amount"] if row["payment_type"] == "inbound" else -row["amount"]

    def _compute_amount_company(self, row: Row) -> float:
        rate = self.env["res.currency"].table.rows[row["currency_id"]]["rate"] or 1.0
        return float_round(self._compute_amount_signed(row) / rate, 2)

    @api_records
    def action_post(self, ids: Any) -> None:
        ids = self.existing(ids)
        for rid in ids:
            if self.table.rows[rid]["state"] == "draft":
                self._post(rid)
        return None

    def _post(self, rid: int, writeoff: Row | None = None) -> None:
        """Create and post the payment's journal entry."""
        env = self.env
        row = self.table.rows[rid]
        currencies = env["res.currency"].table.rows
        currency = currencies[row["currency_id"]]
        sign = 1 if row["payment_type"] == "inbound" else -1
        amount = sign * row["amount"]
        rate = currency["rate"] or 1.0
        label = row["memo"] or (
            "Customer Payment"
            if row["partner_type"] == "customer"
            else "Vendor Payment"
        )
        difference = sign * (writeoff or {}).get("amount", 0.0)
        lines = [
            (
                0,
                0,
                {
                    "name": label,
                    "account_id": row["outstanding_account_id"],
                    "currency_id": row["currency_id"],
                    "amount_currency": amount,
                    "balance": float_round(amount / rate, 2),
                    "partner_id": row["partner_id"],
                },
            ),
            (
                0,
                0,
                {
                    "name": label,
                    "account_id": row["destination_account_id"],
                    "currency_id": row["currency_id"],
                    "amount_currency": -(amount + difference),
                    "balance": float_round(-(amount + difference) / rate, 2),
                    "partner_id": row["partner_id"],
                },
            ),
        ]
        if writeoff and difference:
            if not writeoff.get("account_id"):
                raise not_null_error(
                    "Journal Item", "account.move.line", "Account", "account_id"
                )
            lines.append(
                (
                    0,
                    0,
                    {
                        "name": writeoff.get("label") or "Write-Off",
                        "account_id": writeoff["account_id"],
                        "currency_id": row["currency_id"],
                        "amount_currency": difference,
                        "balance": float_round(difference / rate, 2),
                        "partner_id": row["partner_id"],
                    },
                )
            )
        moves = env["account.move"]
        move_id = row["move_id"]
        if not move_id:
            move_id = moves._create(
                {
                    "move_type": "entry",
                    "journal_id": row["journal_id"],
                    "date": row["date"],
                    "partner_id": row["partner_id"],
                    "currency_id": row["currency_id"],
                    "ref": row["memo"],
                    "origin_payment_id": rid,
                    "line_ids": lines,
                }
            )
            line_table = env["account.move.line"].table
            for line_id in line_table.lookup("move_id", move_id):
                line_table.update(line_id, {"payment_id": rid})
        moves._post([move_id], payment=True)
        outstanding = env["account.account"].table.rows[row["outstanding_account_id"]]
        state = "paid" if outstanding["account_type"] == "asset_cash" else "in_process"
        self.table.update(
            rid,
            {
                "move_id": move_id,
                "state": state,
                "name": moves.table.rows[move_id]["name"],
            },
        )

    def _refresh_state(self, ids: set[int]) -> None:
        """An in-process payment is paid when matched or its invoices are."""
        moves = self.env["account.move"].table.rows
        for rid in sorted(ids):
            row = self.table.rows.get(rid)
            if row is None or row["state"] != "in_process":
                continue
            invoices = row["invoice_ids"] or self._compute_reconciled_invoices(row)
            paid = invoices and all(
                moves[m]["payment_state"] == "paid" for m in invoices if m in moves
            )
            if paid or self._compute_is_matched(row):
                self.table.update(rid, {"state": "paid"})

    @api_records
    def action_cancel(self, ids: Any) -> None:
        ids = self.existing(ids)
        moves = self.env["account.move"]
        for rid in ids:
            move = self.table.rows[rid]["move_id"]
            if move and moves.table.rows[move]["state"] != "cancel":
                moves.button_cancel([move])
            self.table.update(rid, {"state": "canceled"})
        return None

    @api_records
    def action_draft(self, ids: Any) -> None:
        ids = self.existing(ids)
        moves = self.env["account.move"]
        for rid in ids:
            move = self.table.rows[rid]["move_id"]
            if move and moves.table.rows[move]["state"] != "draft":
                moves._reset_to_draft([move])
            self.table.update(rid, {"state": "draft"})
        return None


class PaymentRegister(Model):
    _name = "account.payment.register"
    _description = "Pay"
    _module = "account"
    _transient = True
    _rec_name = None

    payment_date = Date(
        "Payment Date", required=True, default=lambda self: self.sandbox.today
    )
    amount = Monetary("Amount")
    communication = Char("Memo")
    group_payment = Boolean("Group Payments", default=True)
    currency_id = Many2one("res.currency", "Currency")
    journal_id = Many2one("account.journal", "Journal", required=True)
    partner_id = Many2one("res.partner", "Customer/Vendor")
    partner_type = Selection(PARTNER_TYPES, "Partner Type")
    payment_type = Selection(PAYMENT_TYPES, "Payment Type")
    payment_method_line_id = Many2one("account.payment.method.line", "Payment Method")
    payment_difference = Monetary("Payment Difference", compute="_compute_difference")
    payment_difference_handling = Selection(
        [("open", "Keep open"), ("reconcile", "Mark as fully paid")],
        "Payment Difference Handling",
        default="open",
    )
    writeoff_account_id = Many2one("account.account", "Difference Account")
    writeoff_label = Char("Journal Item Label", default="Write-Off")
    line_ids = Many2many("account.move.line", "Journal items")
    source_amount = Monetary("Amount to Pay (company currency)")
    source_amount_currency = Monetary("Amount to Pay (foreign currency)")
    source_currency_id = Many2one("res.currency", "Source Currency")
    company_id = Many2one("res.company", "Company", default=1)
    can_edit_wizard = Boolean("Can Edit Wizard", default=True)
    can_group_payments = Boolean("Can Group Payments")

    def _compute_difference(self, row: Row) -> float:
        if row["currency_id"] != row["source_currency_id"]:
            rate = self.env["res.currency"].table.rows[row["currency_id"]]["rate"]
            due = row["source_amount"] * (rate or 1.0)
        else:
            due = row["source_amount_currency"]
        return float_round(due - row["amount"], 2)

    def _prepare_create(self, vals: Row) -> Row:
        env = self.env
        context = self.sandbox.context
        lines = env["account.move.line"]
        moves = env["account.move"]
        if "line_ids" not in vals:
            if context.get("active_model") == "account.move":
                move_ids = moves.existing(context.get("active_ids") or [])
                candidates = [i for m in move_ids for i in moves._receivable_lines(m)]
            elif context.get("active_model") == "account.move.line":
                candidates = lines.existing(context.get("active_ids") or [])
            else:
                candidates = []
            vals["line_ids"] = [(6, 0, candidates)]
        commands = vals["line_ids"]
        ids = lines.existing(
            commands[0][2] if commands and commands[0][0] == 6 else commands
        )
        rows = [lines.table.rows[i] for i in ids]
        rows = [
            row
            for row in rows
            if moves.table.rows[row["move_id"]]["state"] == "posted"
            and not row["reconciled"]
            and (row["amount_residual"] or row["amount_residual_currency"])
        ]
        if not rows:
            raise UserError(NOTHING_TO_PAY)
        vals["line_ids"] = [(6, 0, [row["id"] for row in rows])]
        first_move = moves.table.rows[rows[0]["move_id"]]
        residual = sum(row["amount_residual"] for row in rows)
        residual_currency = sum(row["amount_residual_currency"] for row in rows)
        source_currency = rows[0]["currency_id"]
        vals.setdefault("payment_type", "inbound" if residual > 0 else "outbound")
        vals.setdefault(
            "partner_type",
            "customer" if first_move["move_type"].startswith("out_") else "supplier",
        )
        vals.setdefault("partner_id", moves._commercial_partner(first_move))
        vals["source_amount"] = abs(residual)
        vals["source_amount_currency"] = abs(residual_currency)
        vals["source_currency_id"] = source_currency
        vals["can_group_payments"] = len({row["move_id"] for row in rows}) > 1
        journal = vals.get("journal_id") or _first_bank_journal(self)
        vals["journal_id"] = journal
        journal_currency = (
            journal and env["account.journal"].table.rows[journal]["currency_id"]
        )
        currency = vals.setdefault("currency_id", journal_currency or source_currency)
        if "amount" not in vals:
            if currency == source_currency:
                vals["amount"] = abs(residual_currency)
            else:
                rate = env["res.currency"].table.rows[currency]["rate"] or 1.0
                vals["amount"] = float_round(abs(residual) * rate, 2)
        if not vals.get("payment_method_line_id") and journal:
            vals["payment_method_line_id"] = env["account.journal"]._method_line(
                journal, vals["payment_type"]
            )
        if "communication" not in vals:
            seen: list[str] = []
            for row in rows:
                move = moves.table.rows[row["move_id"]]
                label = move["payment_reference"] or move["ref"] or move["name"]
                if label and label not in seen:
                    seen.append(label)
            vals["communication"] = " ".join(seen) or False
        return vals

    @api_records
    def action_create_payments(self, ids: Any) -> Any:
        (rid,) = self.existing(ids)
        payments = self._create_payments(rid)
        if self.sandbox.context.get("dont_redirect_to_payments"):
            return True
        action: Row = {
            "name": "Payments",
            "type": "ir.actions.act_window",
            "res_model": "account.payment",
            "context": {"create": False},
        }
        if len(payments) == 1:
            action.update(view_mode="form", res_id=payments[0])
        else:
            action.update(view_mode="list,form", domain=[["id", "in", payments]])
        return action

    def _create_payments(self, rid: int) -> list[int]:
        env = self.env
        wizard = self.table.rows[rid]
        lines = env["account.move.line"]
        moves = env["account.move"]
        rows = [lines.table.rows[i] for i in wizard["line_ids"]]
        batches: dict[tuple[Any, ...], list[Row]] = {}
        for row in rows:
            key = (
                moves._commercial_partner(moves.table.rows[row["move_id"]]),
                row["account_id"],
                row["currency_id"],
            )
            batches.setdefault(key, []).append(row)
        groups = list(batches.values())
        if not wizard["group_payment"]:
            groups = [[row] for group in groups for row in group]
        edited = len(groups) == 1
        created = []
        for group in groups:
            residual_currency = sum(row["amount_residual_currency"] for row in group)
            if edited:
                amount = wizard["amount"]
                currency = wizard["currency_id"]
                difference = self._compute_difference(wizard)
            else:
                amount, currency, difference = (
                    abs(residual_currency),
                    group[0]["currency_id"],
                    0.0,
                )
            move_ids = sorted({row["move_id"] for row in group})
            payment = env["account.payment"]
            pid = payment._create(
                {
                    "date": wizard["payment_date"],
                    "amount": amount,
                    "payment_type": wizard["payment_type"],
                    "partner_type": wizard["partner_type"],
                    "memo": wizard["communication"],
                    "journal_id": wizard["journal_id"],
                    "currency_id": currency,
                    "partner_id": moves._commercial_partner(
                        moves.table.rows[group[0]["move_id"]]
                    ),
                    "payment_method_line_id": wizard["payment_method_line_id"],
                    "destination_account_id": group[0]["account_id"],
                    "invoice_ids": [(6, 0, move_ids)],
                }
            )
            writeoff = None
            if wizard["payment_difference_handling"] == "reconcile" and difference:
                writeoff = {
                    "account_id": wizard["writeoff_account_id"],
                    "amount": difference,
                    "label": wizard["writeoff_label"],
                }
            payment._post(pid, writeoff)
            move = payment.table.rows[pid]["move_id"]
            counterpart = [
                i
                for i in lines.table.lookup("move_id", move)
                if lines.table.rows[i]["account_id"] == group[0]["account_id"]
            ]
            lines._reconcile(sorted(counterpart) + [row["id"] for row in group])
            created.append(pid)
        return created


class MoveReversal(Model):
    _name = "account.move.reversal"
    _description = "Account Move Reversal"
    _module = "account"
    _transient = True
    _rec_name = None

    move_ids = Many2many("account.move", "Move")
    new_move_ids = Many2many("account.move", "New Move")
    date = Date("Reversal date", default=lambda self: self.sandbox.today)
    reason = Char("Reason displayed on Credit Note")
    journal_id = Many2one("account.journal", "Journal", required=True)
    company_id = Many2one("res.company", "Company", default=1)
    residual = Monetary("Residual", compute="_compute_residual")
    currency_id = Many2one("res.currency", "Currency", compute="_compute_currency")
    move_type = Char("Move Type", compute="_compute_move_type")

    def _prepare_create(self, vals: Row) -> Row:
        context = self.sandbox.context
        moves = self.env["account.move"]
        if "move_ids" not in vals and context.get("active_model") == "account.move":
            vals["move_ids"] = [(6, 0, moves.existing(context.get("active_ids") or []))]
        targets = self._fields["move_ids"].to_raw(self, vals.get("move_ids"))
        if any(moves.table.rows[m]["state"] != "posted" for m in targets):
            raise UserError("You can only reverse posted moves.")
        return vals

    def _first_move(self, row: Row) -> Row | None:
        moves = self.env["account.move"].table.rows
        return moves[row["move_ids"][0]] if row["move_ids"] else None

    def _compute_residual(self, row: Row) -> float:
        moves = self.env["account.move"].table.rows
        return sum(moves[m]["amount_residual"] for m in row["move_ids"])

    def _compute_currency(self, row: Row) -> Any:
        move = self._first_move(row)
        return move["currency_id"] if move else False

    def _compute_move_type(self, row: Row) -> Any:
        move = self._first_move(row)
        return move["move_type"] if move else False

    @api_records
    def refund_moves(self, ids: Any) -> Row:
        return self.reverse_moves(ids, is_modify=False)

    @api_records
    def modify_moves(self, ids: Any) -> Row:
        return self.reverse_moves(ids, is_modify=True)

    @api_records
    def reverse_moves(self, ids: Any, is_modify: bool = False) -> Row:
        (rid,) = self.existing(ids)
        wizard = self.table.rows[rid]
        moves = self.env["account.move"]
        today = self.sandbox.today
        day = wizard["date"] or today
        reversals = []
        for move_id in wizard["move_ids"]:
            move = moves.table.rows[move_id]
            reversals.append(self._reverse_one(move, wizard, day))
        result = reversals
        if is_modify:
            moves._post(reversals)
            result = [
                moves._copy(move_id, {"date": day, "invoice_date": day})
                for move_id in wizard["move_ids"]
            ]
        self.table.update(rid, {"new_move_ids": tuple(result)})
        first_type = moves.table.rows[result[0]]["move_type"]
        action: Row = {
            "name": "Reverse Moves",
            "type": "ir.actions.act_window",
            "res_model": "account.move",
            "context": {"default_move_type": first_type},
        }
        if len(result) == 1:
            action.update(view_mode="form", res_id=result[0])
        else:
            action.update(view_mode="list,form", domain=[["id", "in", result]])
        return action

    def _reverse_one(self, move: Row, wizard: Row, day: str) -> int:
        moves = self.env["account.move"]
        lines = self.env["account.move.line"]
        invoice = move["move_type"] in INVOICE_TYPES
        reason = wizard["reason"]
        ref = (
            f"Reversal of: {move['name']}, {reason}"
            if reason
            else f"Reversal of: {move['name']}"
        )
        commands = []
        for line_id in sorted(lines.table.lookup("move_id", move["id"])):
            line = lines.table.rows[line_id]
            if invoice and line["display_type"] not in (
                "product",
                "line_section",
                "line_note",
            ):
                continue
            commands.append(
                (0, 0, moves._line_copy_vals(line, move["move_type"], True))
            )
        return moves._create(
            {
                "move_type": REVERSE_TYPES[move["move_type"]],
                "partner_id": move["partner_id"],
                "currency_id": move["currency_id"],
                "journal_id": wizard["journal_id"],
                "ref": ref,
                "date": day,
                "invoice_date": day if invoice else False,
                "invoice_date_due": day if invoice else False,
                "invoice_origin": move["invoice_origin"],
                "invoice_user_id": move["invoice_user_id"],
                "reversed_entry_id": move["id"],
                "auto_post": "at_date" if day > self.sandbox.today else "no",
                "narration": move["narration"],
                "invoice_line_ids" if invoice else "line_ids": commands,
            }
        )


MODELS = [Payment, PaymentRegister, MoveReversal]
