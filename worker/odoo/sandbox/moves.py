"""Journal entries, invoices and reconciliation, as in Odoo 18 Community.

What a client of a real server observes, and this module reproduces:

* An invoice (``out_invoice``/``out_refund``) keeps three kinds of lines in
  ``line_ids``: ``product`` lines (the ``invoice_line_ids``), one ``tax`` line
  per tax and a ``payment_term`` line on the receivable account whose label is
  the payment reference. Amounts in the invoice currency are signed in
  ``amount_currency``; ``debit``/``credit``/``balance`` are in the company
  currency (USD), converted at the currency's rate.
* A product line without explicit ``tax_ids`` gets the product's taxes or the
  company's default 15 % sale tax; ``tax_ids: [(6, 0, [])]`` removes them.
* A draft has ``name: False``. ``action_post`` returns ``False`` and names the
  move from its journal: ``INV/2026/00001``, ``RINV/2026/00001`` for credit
  notes, ``STRP/2026/00001`` for entries in a bank journal and
  ``MISC/2026/05/0001`` (monthly) in a general journal. Posting twice fails
  with "The entry INV/2026/00001 (id 3) must be in draft.", posting without
  lines with "You need to add a line before posting.". Posting an invoice
  without a payment reference uses its name, and bumps the customer's
  ``customer_rank``.
* A posted move refuses writes to its accounting fields with "You cannot modify
  the following readonly fields on a posted move: ..."; ``ref``,
  ``narration`` or ``invoice_origin`` can still be written.
* ``button_draft`` and ``button_cancel`` return nothing, which XML-RPC cannot
  marshal: the caller gets a fault although the state changed.
* ``payment_state`` is ``paid`` once the residual is zero (Community never
  says ``in_payment``), ``partial`` with a partial reconciliation,
  ``reversed`` when the residual was cleared by the move's own credit note.
  Posting a credit note reconciles it with the invoice it reverses.
* A manual entry (``move_type='entry'``) must balance, otherwise the create
  fails with Odoo's "The move ... is not balanced" error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

from .accounting import float_round
from .exceptions import UserError
from .fields import (
    Boolean,
    Char,
    Date,
    Float,
    Html,
    Integer,
    Many2many,
    Many2one,
    Monetary,
    One2many,
    Selection,
)
from .mail import MailThread, recordset
from .orm import Model, Row, api_records

INVOICE_TYPES = (
    "out_invoice",
    "out_refund",
    "in_invoice",
    "in_refund",
    "out_receipt",
    "in_receipt",
)
SALE_TYPES = ("out_invoice", "out_refund", "out_receipt")
REFUND_TYPES = ("out_refund", "in_refund")
# fields a posted move refuses, in the words of the real error
POSTED_READONLY = (
    "partner_id",
    "currency_id",
    "journal_id",
    "invoice_line_ids",
    "line_ids",
    "invoice_date",
    "date",
    "company_id",
    "invoice_payment_term_id",
    "fiscal_position_id",
    "commercial_partner_id",
    "partner_shipping_id",
)
LINE_PROTECTED = (
    "account_id",
    "debit",
    "credit",
    "balance",
    "amount_currency",
    "currency_id",
    "partner_id",
    "tax_ids",
    "quantity",
    "price_unit",
    "discount",
    "product_id",
    "move_id",
)
DRAFT_LABELS = {
    "out_invoice": "Draft Invoice",
    "out_refund": "Draft Credit Note",
    "in_invoice": "Draft Bill",
    "in_refund": "Draft Vendor Credit Note",
    "out_receipt": "Draft Sales Receipt",
    "in_receipt": "Draft Purchase Receipt",
    "entry": "Draft Entry",
}


def product_sign(move_type: str) -> int:
    """The sign of a product line's ``amount_currency`` in such a move."""
    return -1 if move_type in ("out_invoice", "out_receipt", "in_refund") else 1


class MoveLine(Model):
    _name = "account.move.line"
    _description = "Journal Item"
    _module = "account"
    _order = "date desc, move_name desc, id"

    move_id = Many2one(
        "account.move", "Journal Entry", required=True, index=True, ondelete="cascade"
    )
    move_name = Char("Number", related="move_id.name")
    date = Date("Date", related="move_id.date")
    parent_state = Char("Status", related="move_id.state")
    journal_id = Many2one("account.journal", "Journal", related="move_id.journal_id")
    company_id = Many2one("res.company", "Company", default=1)
    company_currency_id = Many2one(
        "res.currency", "Company Currency", related="company_id.currency_id"
    )
    move_type = Char("Type", related="move_id.move_type")
    sequence = Integer("Sequence", default=10)
    name = Char("Label")
    ref = Char("Reference", related="move_id.ref")
    display_type = Selection(
        [
            ("product", "Product"),
            ("cogs", "Cost of Goods Sold"),
            ("tax", "Tax"),
            ("discount", "Discount"),
            ("rounding", "Rounding"),
            ("payment_term", "Payment Term"),
            ("line_section", "Section"),
            ("line_note", "Note"),
            ("epd", "Early Payment Discount"),
        ],
        "Display Type",
        required=True,
        default="product",
    )
    account_id = Many2one("account.account", "Account", index=True)
    partner_id = Many2one("res.partner", "Partner", index=True)
    product_id = Many2one("product.product", "Product")
    quantity = Float("Quantity", default=1.0)
    price_unit = Float("Unit Price")
    discount = Float("Discount (%)")
    tax_ids = Many2many("account.tax", "Taxes")
    tax_line_id = Many2one("account.tax", "Originator Tax")
    price_subtotal = Monetary("Subtotal")
    price_total = Monetary("Total")
    currency_id = Many2one("res.currency", "Currency")
    amount_currency = Monetary("Amount in Currency")
    debit = Monetary("Debit")
    credit = Monetary("Credit")
    balance = Monetary("Balance")
    amount_residual = Monetary("Residual Amount")
    amount_residual_currency = Monetary("Residual Amount in Currency")
    reconciled = Boolean("Reconciled")
    date_maturity = Date("Due Date")
    matched_debit_ids = One2many(
        "account.partial.reconcile", "credit_move_id", "Matched Debits"
    )
    matched_credit_ids = One2many(
        "account.partial.reconcile", "debit_move_id", "Matched Credits"
    )
    payment_id = Many2one("account.payment", "Originator Payment", index=True)
    sale_line_ids = Many2many("sale.order.line", "Sales Order Lines", copy=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._batching = 0

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Let the move resynchronise once after many line changes."""
        self._batching += 1
        try:
            yield
        finally:
            self._batching -= 1

    def _compute_display_name(self, row: Row) -> Any:
        move = self.env["account.move"].display_name_of(row["move_id"])
        return f"{move} {row['name']}" if row["name"] else move

    def _prepare_create(self, vals: Row) -> Row:
        move_id = vals.get("move_id")
        moves = self.env["account.move"]
        if not move_id or move_id not in moves.table.rows:
            return vals
        move = moves.table.rows[move_id]
        vals.setdefault("currency_id", move["currency_id"])
        vals.setdefault("partner_id", moves._commercial_partner(move))
        kind = vals.get("display_type") or "product"
        if move["move_type"] in INVOICE_TYPES and kind == "product":
            self._product_defaults(move, vals)
        elif move["move_type"] not in INVOICE_TYPES:
            self._entry_amounts(move, vals)
        return vals

    def _product_defaults(self, move: Row, vals: Row) -> None:
        product_id = vals.get("product_id")
        sale = move["move_type"] in SALE_TYPES
        env = self.env
        if product_id:
            products = env["product.product"]
            product = products.table.rows[product_id]
            template = env["product.template"].table.rows[product["product_tmpl_id"]]
            vals.setdefault("name", products.display_name_of(product_id))
            if "price_unit" not in vals:
                rate = env["res.currency"].table.rows[move["currency_id"]]["rate"]
                price = template["list_price"] if sale else template["standard_price"]
                vals["price_unit"] = price * rate
            if "tax_ids" not in vals:
                taxes = template["taxes_id"] if sale else template["supplier_taxes_id"]
                if taxes:
                    vals["tax_ids"] = [(6, 0, list(taxes))]
        if "tax_ids" not in vals:
            company = env["res.company"].table.rows[1]
            default = company[
                "account_sale_tax_id" if sale else "account_purchase_tax_id"
            ]
            vals["tax_ids"] = [(6, 0, [default] if default else [])]
        if not vals.get("account_id"):
            code = "400000" if sale else "600000"
            vals["account_id"] = env["account.account"]._by_code(code)

    def _entry_amounts(self, move: Row, vals: Row) -> None:
        currencies = self.env["res.currency"].table.rows
        company_currency = self.sandbox.company_currency
        currency = vals.get("currency_id") or company_currency
        if "balance" in vals:
            balance = float(vals["balance"] or 0.0)
        elif "debit" in vals or "credit" in vals:
            balance = float(vals.get("debit") or 0.0) - float(vals.get("credit") or 0.0)
        elif "amount_currency" in vals:
            rate = currencies[currency]["rate"] or 1.0
            balance = float(vals["amount_currency"]) / rate
        else:
            balance = 0.0
        digits = currencies[company_currency]["decimal_places"]
        balance = float_round(balance, digits)
        vals["balance"] = balance
        vals["debit"] = balance if balance > 0 else 0.0
        vals["credit"] = -balance if balance < 0 else 0.0
        if "amount_currency" not in vals or currency == company_currency:
            vals["amount_currency"] = balance
        account = vals.get("account_id")
        reconcilable = bool(
            account and self.env["account.account"].table.rows[account]["reconcile"]
        )
        vals["amount_residual"] = balance if reconcilable else 0.0
        vals["amount_residual_currency"] = (
            vals["amount_currency"] if reconcilable else 0.0
        )
        vals.setdefault("display_type", "product")

    def _after_create(self, rid: int, vals: Row) -> None:
        if not self._batching:
            self.env["account.move"]._lines_changed({self.table.rows[rid]["move_id"]})

    def _before_write(self, ids: list[int], vals: Row) -> None:
        moves = self.env["account.move"]
        refused = [name for name in vals if name in LINE_PROTECTED]
        if not refused:
            return
        for rid in ids:
            if moves.table.rows[self.table.rows[rid]["move_id"]]["state"] == "posted":
                raise UserError(
                    "You cannot modify the following readonly fields on a posted "
                    f"move: {', '.join(refused)}"
                )

    def _after_write(self, ids: list[int], vals: Row) -> None:
        if self._batching:
            return
        moves = self.env["account.move"]
        amounts = {"debit", "credit", "balance", "amount_currency", "account_id"}
        if amounts & set(vals):
            for rid in ids:
                row = self.table.rows[rid]
                move = moves.table.rows[row["move_id"]]
                if move["move_type"] in INVOICE_TYPES:
                    continue
                merged = {
                    k: row[k] for k in ("account_id", "currency_id", "amount_currency")
                }
                if {"debit", "credit"} & set(vals):
                    merged.update(debit=row["debit"], credit=row["credit"])
                else:
                    merged["balance"] = row["balance"]
                self._entry_amounts(move, merged)
                self._set_amounts(row, merged["amount_currency"], merged["balance"], {})
        moves._lines_changed({self.table.rows[rid]["move_id"] for rid in ids})

    def _before_unlink(self, ids: list[int]) -> None:
        moves = self.env["account.move"]
        for rid in ids:
            if moves.table.rows[self.table.rows[rid]["move_id"]]["state"] == "posted":
                raise UserError("You cannot delete an item linked to a posted entry.")

    def _unlink(self, ids: list[int]) -> None:
        moves = {self.table.rows[rid]["move_id"] for rid in ids}
        super()._unlink(ids)
        if not self._batching:
            self.env["account.move"]._lines_changed(moves)

    def _set_amounts(
        self, line: Row, amount_currency: float, balance: float, extra: Row
    ) -> None:
        """Write a computed line's amounts, its residuals and extra values."""
        accounts = self.env["account.account"].table.rows
        account = extra.get("account_id", line["account_id"])
        reconcilable = bool(account and accounts[account]["reconcile"])
        values = {
            "amount_currency": amount_currency,
            "balance": balance,
            "debit": balance if balance > 0 else 0.0,
            "credit": -balance if balance < 0 else 0.0,
            "amount_residual": balance if reconcilable else 0.0,
            "amount_residual_currency": amount_currency if reconcilable else 0.0,
            **extra,
        }
        changed = {k: v for k, v in values.items() if line.get(k) != v}
        if changed:
            self.table.update(line["id"], changed)

    # -- reconciliation ------------------------------------------------------

    def _reconcile(self, ids: list[int]) -> list[int]:
        """Match debit and credit residuals of lines on one account.

        Lines in the same currency are matched in that currency; once a
        line's residual in currency is zero its company residual is cleared too
        (a real server would book the rounding as an exchange difference).
        """
        rows = self.table.rows
        lines = [
            rows[i]
            for i in ids
            if rows[i]["amount_residual"] or rows[i]["amount_residual_currency"]
        ]
        key = lambda row: (row["date_maturity"] or "", row["id"])  # noqa: E731
        debits = sorted((r for r in lines if _positive(r)), key=key)
        credits = sorted((r for r in lines if not _positive(r)), key=key)
        partials = self.env["account.partial.reconcile"]
        created = []
        touched: set[int] = set()
        while debits and credits:
            debit, credit = debits[0], credits[0]
            same = debit["currency_id"] == credit["currency_id"]
            if same:
                amount_currency = min(
                    debit["amount_residual_currency"],
                    -credit["amount_residual_currency"],
                )
                debit_amount = _company_part(debit, amount_currency)
                credit_amount = _company_part(credit, -amount_currency)
                amount = min(debit_amount, -credit_amount)
                debit_currency = credit_currency = amount_currency
            else:
                amount = min(debit["amount_residual"], -credit["amount_residual"])
                debit_currency = _currency_part(debit, amount)
                credit_currency = -_currency_part(credit, -amount)
                debit_amount, credit_amount = amount, -amount
            created.append(
                partials._create(
                    {
                        "debit_move_id": debit["id"],
                        "credit_move_id": credit["id"],
                        "amount": amount,
                        "debit_amount_currency": debit_currency,
                        "credit_amount_currency": credit_currency,
                        "debit_currency_id": debit["currency_id"],
                        "credit_currency_id": credit["currency_id"],
                        "max_date": max(
                            self.raw_getter("date")(debit) or "",
                            self.raw_getter("date")(credit) or "",
                        )
                        or False,
                    }
                )
            )
            self._reduce(debit, debit_amount, debit_currency)
            self._reduce(credit, credit_amount, -credit_currency)
            touched.update((debit["move_id"], credit["move_id"]))
            if debit["reconciled"]:
                debits.pop(0)
            if credit["reconciled"]:
                credits.pop(0)
            if not debit["reconciled"] and not credit["reconciled"]:
                break
        self.env["account.move"]._refresh_payments(touched)
        return created

    def _reduce(self, row: Row, amount: float, amount_currency: float) -> None:
        currencies = self.env["res.currency"].table.rows
        digits = currencies[row["currency_id"]]["decimal_places"]
        company_digits = currencies[self.sandbox.company_currency]["decimal_places"]
        residual_currency = float_round(
            row["amount_residual_currency"] - amount_currency, digits
        )
        residual = float_round(row["amount_residual"] - amount, company_digits)
        if residual_currency == 0.0:
            residual = 0.0
        elif residual == 0.0 and row["currency_id"] != self.sandbox.company_currency:
            residual_currency = 0.0
        self.table.update(
            row["id"],
            {
                "amount_residual": residual,
                "amount_residual_currency": residual_currency,
                "reconciled": residual == 0.0 and residual_currency == 0.0,
            },
        )

    def _unreconcile(self, ids: list[int]) -> set[int]:
        """Drop every partial touching these lines; return the moves affected."""
        partials = self.env["account.partial.reconcile"]
        ptable = partials.table
        found = set()
        for rid in ids:
            found |= ptable.lookup("debit_move_id", rid)
            found |= ptable.lookup("credit_move_id", rid)
        rows = self.table.rows
        touched = set()
        for pid in sorted(found):
            partial = ptable.rows[pid]
            debit = rows[partial["debit_move_id"]]
            credit = rows[partial["credit_move_id"]]
            self._restore(debit, partial["amount"], partial["debit_amount_currency"])
            self._restore(
                credit, -partial["amount"], -partial["credit_amount_currency"]
            )
            touched.update((debit["move_id"], credit["move_id"]))
            ptable.delete(pid)
        return touched

    def _restore(self, row: Row, amount: float, amount_currency: float) -> None:
        residual = float_round(row["amount_residual"] + amount, 6)
        residual_currency = float_round(
            row["amount_residual_currency"] + amount_currency, 6
        )
        # a cleared company residual is restored from the balance when needed
        if abs(residual_currency) >= abs(row["amount_currency"]):
            residual, residual_currency = row["balance"], row["amount_currency"]
        self.table.update(
            row["id"],
            {
                "amount_residual": residual,
                "amount_residual_currency": residual_currency,
                "reconciled": False,
            },
        )

    @api_records
    def reconcile(self, ids: Any) -> None:
        """Match the given journal items all together, like Odoo 18's button.

        The items must be posted, not yet reconciled, and on one account that
        allows reconciliation (or a bank account); otherwise the real server's
        UserError. It returns nothing, so a caller over XML-RPC gets the "cannot
        marshal None" fault after the work is committed.
        """
        ids = self.existing(ids)
        if not ids:
            return None
        rows = [self.table.rows[i] for i in ids]
        moves = self.env["account.move"].table.rows
        if any(row["reconciled"] for row in rows):
            raise UserError(
                "You are trying to reconcile some entries that are already reconciled."
            )
        if any(moves[row["move_id"]]["state"] != "posted" for row in rows):
            raise UserError("You can only reconcile posted entries.")
        accounts = self.env["account.account"]
        account_ids = sorted({row["account_id"] for row in rows})
        if len(account_ids) > 1:
            names = ", ".join(accounts.display_name_of(a) for a in account_ids)
            raise UserError(f"Entries are not from the same account: {names}")
        account = accounts.table.rows[account_ids[0]]
        if not account["reconcile"] and account["account_type"] not in (
            "asset_cash",
            "liability_credit_card",
        ):
            raise UserError(
                f"Account {accounts.display_name_of(account_ids[0])} does not allow "
                "reconciliation. First change the configuration of this account "
                "to allow it."
            )
        self._reconcile(ids)
        return None

    def _counterparts(self, ids: list[int]) -> list[int]:
        ptable = self.env["account.partial.reconcile"].table
        found = []
        for rid in ids:
            for pid in sorted(ptable.lookup("debit_move_id", rid)):
                found.append(ptable.rows[pid]["credit_move_id"])
            for pid in sorted(ptable.lookup("credit_move_id", rid)):
                found.append(ptable.rows[pid]["debit_move_id"])
        return found


def _positive(row: Row) -> bool:
    if row["amount_residual"]:
        return row["amount_residual"] > 0
    return row["amount_residual_currency"] > 0


def _company_part(row: Row, amount_currency: float) -> float:
    if amount_currency == row["amount_residual_currency"]:
        return row["amount_residual"]
    if not row["amount_currency"]:
        return amount_currency
    return float_round(amount_currency * row["balance"] / row["amount_currency"], 2)


def _currency_part(row: Row, amount: float) -> float:
    if amount == row["amount_residual"]:
        return row["amount_residual_currency"]
    if not row["balance"]:
        return amount
    return float_round(amount * row["amount_currency"] / row["balance"], 2)


class PartialReconcile(Model):
    _name = "account.partial.reconcile"
    _description = "Partial Reconcile"
    _module = "account"
    _rec_name = None

    debit_move_id = Many2one(
        "account.move.line", "Debit line", index=True, ondelete="cascade"
    )
    credit_move_id = Many2one(
        "account.move.line", "Credit line", index=True, ondelete="cascade"
    )
    amount = Monetary("Amount")
    debit_amount_currency = Monetary("Debit Amount in Currency")
    credit_amount_currency = Monetary("Credit Amount in Currency")
    debit_currency_id = Many2one("res.currency", "Debit Currency")
    credit_currency_id = Many2one("res.currency", "Credit Currency")
    max_date = Date("Max Date of Matched Lines")


class Move(MailThread, Model):
    _name = "account.move"
    _description = "Journal Entry"
    _module = "account"
    _order = "date desc, name desc, invoice_date desc, id desc"

    name = Char("Number", index=True, copy=False)
    ref = Char("Reference", index=True, copy=False)
    payment_reference = Char("Payment Reference", index=True, copy=False)
    narration = Html("Terms and Conditions")
    invoice_origin = Char("Origin", index=True)
    move_type = Selection(
        [
            ("entry", "Journal Entry"),
            ("out_invoice", "Customer Invoice"),
            ("out_refund", "Customer Credit Note"),
            ("in_invoice", "Vendor Bill"),
            ("in_refund", "Vendor Credit Note"),
            ("out_receipt", "Sales Receipt"),
            ("in_receipt", "Purchase Receipt"),
        ],
        "Type",
        required=True,
        default="entry",
    )
    state = Selection(
        [("draft", "Draft"), ("posted", "Posted"), ("cancel", "Cancelled")],
        "Status",
        required=True,
        default="draft",
        copy=False,
    )
    date = Date(
        "Date", required=True, default=lambda self: self.sandbox.today, copy=False
    )
    invoice_date = Date("Invoice/Bill Date", copy=False)
    invoice_date_due = Date("Due Date")
    partner_id = Many2one("res.partner", "Partner", index=True, ondelete="restrict")
    commercial_partner_id = Many2one(
        "res.partner", "Commercial Entity", compute="_compute_commercial"
    )
    currency_id = Many2one(
        "res.currency",
        "Currency",
        required=True,
        default=lambda self: self.sandbox.company_currency,
    )
    company_id = Many2one("res.company", "Company", default=1)
    company_currency_id = Many2one(
        "res.currency", "Company Currency", related="company_id.currency_id"
    )
    journal_id = Many2one("account.journal", "Journal", required=True, index=True)
    line_ids = One2many("account.move.line", "move_id", "Journal Items", copy=False)
    invoice_line_ids = One2many(
        "account.move.line",
        "move_id",
        "Invoice lines",
        domain=lambda row: (
            row["display_type"] in ("product", "line_section", "line_note")
        ),
    )
    amount_untaxed = Monetary("Untaxed Amount", copy=False)
    amount_tax = Monetary("Tax", copy=False)
    amount_total = Monetary("Total", copy=False)
    amount_residual = Monetary("Amount Due", copy=False)
    amount_untaxed_signed = Monetary("Untaxed Amount Signed", copy=False)
    amount_tax_signed = Monetary("Tax Signed", copy=False)
    amount_total_signed = Monetary("Total Signed", copy=False)
    amount_total_in_currency_signed = Monetary("Total in Currency Signed", copy=False)
    amount_residual_signed = Monetary("Amount Due Signed", copy=False)
    payment_state = Selection(
        [
            ("not_paid", "Not Paid"),
            ("in_payment", "In Payment"),
            ("paid", "Paid"),
            ("partial", "Partially Paid"),
            ("reversed", "Reversed"),
            ("blocked", "Blocked"),
            ("invoicing_legacy", "Invoicing App Legacy"),
        ],
        "Payment Status",
        default="not_paid",
        copy=False,
    )
    status_in_payment = Selection(
        [
            ("draft", "Draft"),
            ("cancel", "Cancelled"),
            ("not_paid", "Not Paid"),
            ("in_payment", "In Payment"),
            ("paid", "Paid"),
            ("partial", "Partially Paid"),
            ("reversed", "Reversed"),
        ],
        "Status In Payment",
        compute="_compute_status_in_payment",
    )
    reversed_entry_id = Many2one("account.move", "Reversal of", index=True, copy=False)
    reversal_move_ids = One2many("account.move", "reversed_entry_id", "Reversal Moves")
    origin_payment_id = Many2one("account.payment", "Payment", index=True, copy=False)
    invoice_user_id = Many2one(
        "res.users", "Salesperson", default=lambda self: self.uid
    )
    invoice_payment_term_id = Many2one("account.payment.term", "Payment Terms")
    fiscal_position_id = Many2one("account.fiscal.position", "Fiscal Position")
    posted_before = Boolean("Posted Before", copy=False)
    auto_post = Selection(
        [
            ("no", "No"),
            ("at_date", "At Date"),
            ("monthly", "Monthly"),
            ("quarterly", "Quarterly"),
            ("yearly", "Yearly"),
        ],
        "Auto-post",
        default="no",
    )
    is_move_sent = Boolean("Is Move Sent", copy=False)

    def _compute_display_name(self, row: Row) -> Any:
        label = ""
        if row["state"] == "draft":
            label = DRAFT_LABELS.get(row["move_type"], "Draft Entry") + " "
        if not row["name"] or row["name"] == "/":
            label += f"(* {row['id']})"
        else:
            label += row["name"]
        if row["ref"]:
            ref = row["ref"] if len(row["ref"]) <= 50 else row["ref"][:45] + " [...]"
            label += f" ({ref})"
        return label

    def _compute_commercial(self, row: Row) -> Any:
        return self._commercial_partner(row)

    def _commercial_partner(self, row: Row) -> Any:
        if not row["partner_id"]:
            return False
        partners = self.env["res.partner"]
        return partners._compute_commercial_partner(
            partners.table.rows[row["partner_id"]]
        )

    def _compute_status_in_payment(self, row: Row) -> str:
        return row["payment_state"] if row["state"] == "posted" else row["state"]

    def _default_journal(self, move_type: str) -> Any:
        journals = self.env["account.journal"]
        kind = (
            "sale"
            if move_type in SALE_TYPES
            else "purchase"
            if move_type in INVOICE_TYPES
            else "general"
        )
        ids = journals.table.lookup(
            "code", {"sale": "INV", "purchase": "BILL", "general": "MISC"}[kind]
        )
        if ids:
            return min(ids)
        found = journals._search([("type", "=", kind)], limit=1)
        return found[0] if found else False

    # -- create / write ------------------------------------------------------

    def _prepare_create(self, vals: Row) -> Row:
        move_type = vals.get("move_type") or "entry"
        if not vals.get("journal_id"):
            vals["journal_id"] = self._default_journal(move_type)
        if "invoice_line_ids" in vals and "line_ids" in vals and not vals["line_ids"]:
            vals.pop("line_ids")
        return vals

    def _create(self, vals: Row) -> int:
        lines = self.env["account.move.line"]
        with lines.batch():
            rid = super()._create(vals)
        self._lines_changed({rid})
        self._check_balanced([rid])
        return rid

    def _before_write(self, ids: list[int], vals: Row) -> None:
        for rid in ids:
            if self.table.rows[rid]["state"] == "posted":
                refused = [name for name in vals if name in POSTED_READONLY]
                if refused:
                    raise UserError(
                        "You cannot modify the following readonly fields on a posted "
                        f"move: {', '.join(refused)}"
                    )

    def _write(self, ids: list[int], vals: Row) -> None:
        with self.env["account.move.line"].batch():
            super()._write(ids, vals)

    def _after_write(self, ids: list[int], vals: Row) -> None:
        drafts = {rid for rid in ids if self.table.rows[rid]["state"] == "draft"}
        if drafts:
            self._lines_changed(drafts)
            self._check_balanced(sorted(drafts))

    def _before_unlink(self, ids: list[int]) -> None:
        for rid in ids:
            if self.table.rows[rid]["state"] == "posted":
                raise UserError("You cannot delete an item linked to a posted entry.")

    def _unlink(self, ids: list[int]) -> None:
        with self.env["account.move.line"].batch():
            super()._unlink(ids)

    def _copy(self, rid: int, default: Row) -> int:
        row = self.table.rows[rid]
        lines = self.env["account.move.line"]
        commands = []
        for line_id in sorted(lines.table.lookup("move_id", rid)):
            line = lines.table.rows[line_id]
            if row["move_type"] in INVOICE_TYPES and line["display_type"] not in (
                "product",
                "line_section",
                "line_note",
            ):
                continue
            commands.append((0, 0, self._line_copy_vals(line, row["move_type"])))
        key = "invoice_line_ids" if row["move_type"] in INVOICE_TYPES else "line_ids"
        return super()._copy(rid, {key: commands, **default})

    @staticmethod
    def _line_copy_vals(line: Row, move_type: str, swap: bool = False) -> Row:
        if move_type in INVOICE_TYPES:
            return {
                "display_type": line["display_type"],
                "name": line["name"],
                "product_id": line["product_id"],
                "quantity": line["quantity"],
                "price_unit": line["price_unit"],
                "discount": line["discount"],
                "tax_ids": [(6, 0, list(line["tax_ids"]))],
                "account_id": line["account_id"],
                "sequence": line["sequence"],
            }
        sign = -1 if swap else 1
        return {
            "name": line["name"],
            "account_id": line["account_id"],
            "partner_id": line["partner_id"],
            "currency_id": line["currency_id"],
            "balance": sign * line["balance"],
            "amount_currency": sign * line["amount_currency"],
        }

    # -- synchronisation of invoice lines ------------------------------------

    def _lines_changed(self, ids: set[int]) -> None:
        for rid in ids:
            row = self.table.rows.get(rid)
            if row is None:
                continue
            if row["move_type"] in INVOICE_TYPES and row["state"] == "draft":
                self._sync_invoice(rid)
            self._compute_amounts(rid)

    def _sync_invoice(self, rid: int) -> None:
        """Rebuild tax and payment term lines from the product lines."""
        env = self.env
        move = self.table.rows[rid]
        lines = env["account.move.line"]
        ltable = lines.table
        currencies = env["res.currency"].table.rows
        currency = currencies[move["currency_id"]]
        digits = currency["decimal_places"]
        rate = currency["rate"] or 1.0
        company_digits = currencies[self.sandbox.company_currency]["decimal_places"]
        sign = product_sign(move["move_type"])
        taxes = env["account.tax"]
        partner = self._commercial_partner(move)
        line_rows = [ltable.rows[i] for i in sorted(ltable.lookup("move_id", rid))]
        tax_totals: dict[int, float] = {}
        total_currency = 0.0
        total_balance = 0.0
        with lines.batch():
            for line in line_rows:
                if line["display_type"] != "product":
                    continue
                base = (
                    line["quantity"] * line["price_unit"] * (1 - line["discount"] / 100)
                )
                line_taxes = 0.0
                included = 0.0
                for tax_id in line["tax_ids"]:
                    amount = float_round(
                        taxes._tax_amount(tax_id, base, line["quantity"]), digits
                    )
                    if taxes.table.rows[tax_id]["price_include"]:
                        included += amount
                    line_taxes += amount
                    tax_totals[tax_id] = tax_totals.get(tax_id, 0.0) + amount
                subtotal = float_round(base - included, digits)
                amount_currency = sign * subtotal
                balance = float_round(amount_currency / rate, company_digits)
                total_currency += amount_currency
                total_balance += balance
                lines._set_amounts(
                    line,
                    amount_currency,
                    balance,
                    {
                        "price_subtotal": subtotal,
                        "price_total": float_round(subtotal + line_taxes, digits),
                        "currency_id": move["currency_id"],
                        "partner_id": partner,
                    },
                )
            existing_tax = {
                row["tax_line_id"]: row
                for row in line_rows
                if row["display_type"] == "tax"
            }
            tax_account = env["account.account"]._by_code(
                "251000" if move["move_type"] in SALE_TYPES else "131000"
            )
            for tax_id, amount in tax_totals.items():
                amount = float_round(amount, digits)
                if not amount:
                    continue
                amount_currency = sign * amount
                balance = float_round(amount_currency / rate, company_digits)
                total_currency += amount_currency
                total_balance += balance
                line = existing_tax.pop(tax_id, None)
                if line is None:
                    line = ltable.rows[
                        lines._create(
                            {
                                "move_id": rid,
                                "display_type": "tax",
                                "name": taxes.display_name_of(tax_id),
                                "tax_line_id": tax_id,
                                "account_id": tax_account,
                                "quantity": 0.0,
                            }
                        )
                    ]
                lines._set_amounts(
                    line,
                    amount_currency,
                    balance,
                    {
                        "currency_id": move["currency_id"],
                        "partner_id": partner,
                    },
                )
            for line in existing_tax.values():
                lines._unlink([line["id"]])
            terms = [row for row in line_rows if row["display_type"] == "payment_term"]
            has_products = any(row["display_type"] == "product" for row in line_rows)
            if not has_products:
                for line in terms:
                    lines._unlink([line["id"]])
            else:
                receivable = env["account.account"]._by_code(
                    "121000" if move["move_type"] in SALE_TYPES else "211000"
                )
                due = (
                    move["invoice_date_due"]
                    or move["invoice_date"]
                    or self.sandbox.today
                )
                term_vals = {
                    "name": move["payment_reference"] or "",
                    "currency_id": move["currency_id"],
                    "partner_id": partner,
                    "date_maturity": due,
                    "account_id": receivable,
                }
                if terms:
                    term = terms[0]
                    for extra in terms[1:]:
                        lines._unlink([extra["id"]])
                else:
                    term = ltable.rows[
                        lines._create(
                            {
                                "move_id": rid,
                                "display_type": "payment_term",
                                "quantity": 0.0,
                                **term_vals,
                            }
                        )
                    ]
                lines._set_amounts(
                    term,
                    float_round(-total_currency, digits),
                    float_round(-total_balance, company_digits),
                    term_vals,
                )
        due = move["invoice_date_due"] or move["invoice_date"] or self.sandbox.today
        if move["invoice_date_due"] != due:
            self.table.update(rid, {"invoice_date_due": due})

    def _compute_amounts(self, rid: int) -> None:
        env = self.env
        move = self.table.rows[rid]
        ltable = env["account.move.line"].table
        currencies = env["res.currency"].table.rows
        digits = currencies[move["currency_id"]]["decimal_places"]
        company_digits = currencies[self.sandbox.company_currency]["decimal_places"]
        lines = [ltable.rows[i] for i in ltable.lookup("move_id", rid)]
        values: Row
        if move["move_type"] in INVOICE_TYPES:
            sign = product_sign(move["move_type"])
            untaxed = sum(
                r["price_subtotal"] for r in lines if r["display_type"] == "product"
            )
            tax = sign * sum(
                r["amount_currency"] for r in lines if r["display_type"] == "tax"
            )
            terms = [r for r in lines if r["display_type"] == "payment_term"]
            residual = -sign * sum(r["amount_residual_currency"] for r in terms)
            values = {
                "amount_untaxed": float_round(untaxed, digits),
                "amount_tax": float_round(tax, digits),
                "amount_total": float_round(untaxed + tax, digits),
                "amount_residual": float_round(residual, digits),
                "amount_untaxed_signed": float_round(
                    -sum(r["balance"] for r in lines if r["display_type"] == "product"),
                    company_digits,
                ),
                "amount_tax_signed": float_round(
                    -sum(r["balance"] for r in lines if r["display_type"] == "tax"),
                    company_digits,
                ),
                "amount_total_signed": float_round(
                    sum(r["balance"] for r in terms), company_digits
                ),
                "amount_total_in_currency_signed": float_round(
                    sum(r["amount_currency"] for r in terms), digits
                ),
                "amount_residual_signed": float_round(
                    sum(r["amount_residual"] for r in terms), company_digits
                ),
            }
        else:
            total = sum(r["balance"] for r in lines if r["balance"] > 0)
            total_currency = sum(
                r["amount_currency"] for r in lines if r["amount_currency"] > 0
            )
            values = {
                "amount_untaxed": float_round(total_currency, digits),
                "amount_tax": 0.0,
                "amount_total": float_round(total_currency, digits),
                "amount_residual": 0.0,
                "amount_untaxed_signed": float_round(total, company_digits),
                "amount_tax_signed": 0.0,
                "amount_total_signed": float_round(total, company_digits),
                "amount_total_in_currency_signed": float_round(total_currency, digits),
                "amount_residual_signed": 0.0,
            }
        values["payment_state"] = self._payment_state(move, values["amount_residual"])
        changed = {k: v for k, v in values.items() if move[k] != v}
        if changed:
            self.table.update(rid, changed)

    def _payment_state(self, move: Row, residual: float) -> str:
        if move["state"] != "posted" or move["move_type"] not in INVOICE_TYPES:
            return "not_paid"
        lines = self.env["account.move.line"]
        terms = [
            i
            for i in lines.table.lookup("move_id", move["id"])
            if lines.table.rows[i]["display_type"] == "payment_term"
        ]
        counterparts = lines._counterparts(terms)
        if residual == 0.0:
            if not counterparts:
                return "paid"
            moves = {lines.table.rows[i]["move_id"] for i in counterparts}
            if all(
                self.table.rows[m]["reversed_entry_id"] == move["id"] for m in moves
            ):
                return "reversed"
            return "paid"
        if counterparts:
            return "partial"
        return "not_paid"

    def _check_balanced(self, ids: list[int]) -> None:
        ltable = self.env["account.move.line"].table
        for rid in ids:
            move = self.table.rows.get(rid)
            if move is None or move["move_type"] in INVOICE_TYPES:
                continue
            lines = [ltable.rows[i] for i in ltable.lookup("move_id", rid)]
            debit = float_round(sum(r["debit"] for r in lines), 2)
            credit = float_round(sum(r["credit"] for r in lines), 2)
            if debit != credit:
                journal = self.env["account.journal"].table.rows[move["journal_id"]]
                raise UserError(
                    "An error has occurred.\n\n"
                    f"The move ({self._compute_display_name(move)}) is not balanced.\n"
                    f"The total of debits equals $ {debit:,.2f} and the total of "
                    f"credits equals $ {credit:,.2f}.\n"
                    "You might want to specify a default account on journal "
                    f'"{journal["name"]}" to automatically balance each move.'
                )

    # -- posting -------------------------------------------------------------

    @api_records
    def action_post(self, ids: Any) -> bool:
        ids = self.existing(ids)
        self._post(ids)
        return False

    def _post(self, ids: list[int], payment: bool = False) -> None:
        env = self.env
        ltable = env["account.move.line"].table
        for rid in ids:
            move = self.table.rows[rid]
            if move["state"] != "draft":
                raise UserError(
                    f"The entry {move['name']} (id {rid}) must be in draft."
                )
            lines = [ltable.rows[i] for i in ltable.lookup("move_id", rid)]
            invoice = move["move_type"] in INVOICE_TYPES
            if not any(
                r["display_type"] not in ("line_section", "line_note") for r in lines
            ):
                raise UserError("You need to add a line before posting.")
            if invoice and not move["partner_id"]:
                kind = "Customer" if move["move_type"] in SALE_TYPES else "Vendor"
                label = dict(self._fields["move_type"].selection)[  # type: ignore
                    move["move_type"]
                ]
                raise UserError(
                    f"The field '{kind}' is required, please complete it to validate "
                    f"the {label}."
                )
            changes: Row = {}
            if invoice:
                invoice_date = move["invoice_date"] or self.sandbox.today
                changes["invoice_date"] = invoice_date
                changes["date"] = invoice_date
                if (
                    not move["invoice_date_due"]
                    or move["invoice_date_due"] < invoice_date
                ):
                    changes["invoice_date_due"] = invoice_date
            if changes:
                self.table.update(rid, changes)
                self._lines_changed({rid})
            self._check_balanced([rid])
            move = self.table.rows[rid]
            changes = {"state": "posted", "posted_before": True}
            if not move["name"] or move["name"] == "/":
                changes["name"] = self._next_name(move, payment)
            if move["move_type"] == "out_invoice" and not move["payment_reference"]:
                changes["payment_reference"] = changes.get("name", move["name"])
            self.table.update(rid, changes)
            if "payment_reference" in changes:
                for line in lines:
                    if line["display_type"] == "payment_term":
                        ltable.update(
                            line["id"], {"name": changes["payment_reference"]}
                        )
            if (
                move["move_type"] in ("out_invoice", "out_refund")
                and move["partner_id"]
            ):
                env["res.partner"]._bump_customer_rank(move["partner_id"])
            self._compute_amounts(rid)
            reversed_id = move["reversed_entry_id"]
            if (
                reversed_id
                and self.table.rows.get(reversed_id, {}).get("state") == "posted"
                and self._offsets_fully(reversed_id, rid)
            ):
                self._reconcile_moves([reversed_id, rid])

    def _offsets_fully(self, *ids: int) -> bool:
        """Whether the open receivables of the moves cancel out exactly.

        Odoo reconciles a posted reversal with its origin by itself only then: a
        credit note for part of an invoice, or for an invoice already partly paid,
        stays open for someone to match.
        """
        lines = self.env["account.move.line"].table.rows
        residual = sum(
            lines[line]["amount_residual"]
            for rid in ids
            for line in self._receivable_lines(rid)
        )
        currency = self.env["res.currency"].table.rows[self.sandbox.company_currency]
        return abs(residual) < 10 ** -int(currency.get("decimal_places", 2)) / 2

    def _next_name(self, move: Row, payment: bool = False) -> str:
        journal = self.env["account.journal"].table.rows[move["journal_id"]]
        day = date.fromisoformat(move["date"])
        prefix = journal["code"]
        if payment and journal["payment_sequence"]:
            prefix = "P" + prefix
        elif move["move_type"] in REFUND_TYPES and journal["refund_sequence"]:
            prefix = "R" + prefix
        if journal["type"] in ("sale", "bank", "cash", "credit"):
            number = self.sandbox.store.next_number((journal["id"], prefix, day.year))
            return f"{prefix}/{day.year}/{number:05d}"
        key = (journal["id"], prefix, day.year, day.month)
        number = self.sandbox.store.next_number(key)
        return f"{prefix}/{day.year}/{day.month:02d}/{number:04d}"

    def _receivable_lines(self, rid: int) -> list[int]:
        lines = self.env["account.move.line"]
        accounts = self.env["account.account"].table.rows
        return sorted(
            i
            for i in lines.table.lookup("move_id", rid)
            if accounts[lines.table.rows[i]["account_id"]]["account_type"]
            in ("asset_receivable", "liability_payable")
        )

    def _reconcile_moves(self, ids: list[int]) -> None:
        lines = self.env["account.move.line"]
        by_account: dict[int, list[int]] = {}
        for rid in ids:
            for line_id in self._receivable_lines(rid):
                account = lines.table.rows[line_id]["account_id"]
                by_account.setdefault(account, []).append(line_id)
        for line_ids in by_account.values():
            lines._reconcile(line_ids)

    def _refresh_payments(self, ids: set[int]) -> None:
        """Recompute residuals and payment states after (un)reconciliation."""
        lines = self.env["account.move.line"]
        for rid in ids:
            self._compute_amounts(rid)
        payments: set[int] = set()
        for rid in ids:
            moves = {rid} | {
                lines.table.rows[line]["move_id"]
                for line in lines._counterparts(self._receivable_lines(rid))
            }
            for move in moves:
                if self.table.rows[move]["origin_payment_id"]:
                    payments.add(self.table.rows[move]["origin_payment_id"])
        self.env["account.payment"]._refresh_state(payments)

    @api_records
    def button_draft(self, ids: Any) -> None:
        ids = self.existing(ids)
        for rid in ids:
            if self.table.rows[rid]["state"] not in ("posted", "cancel"):
                raise UserError(
                    "Only posted/cancelled journal entries can be reset to draft."
                )
        self._reset_to_draft(ids)
        return None

    def _reset_to_draft(self, ids: list[int]) -> None:
        lines = self.env["account.move.line"]
        touched: set[int] = set()
        for rid in ids:
            touched |= lines._unreconcile(sorted(lines.table.lookup("move_id", rid)))
            self.table.update(rid, {"state": "draft", "is_move_sent": False})
        self._lines_changed(set(ids))
        self._refresh_payments(touched - set(ids))

    @api_records
    def button_cancel(self, ids: Any) -> None:
        ids = self.existing(ids)
        posted = [rid for rid in ids if self.table.rows[rid]["state"] == "posted"]
        if posted:
            self._reset_to_draft(posted)
        for rid in ids:
            if self.table.rows[rid]["state"] != "draft":
                raise UserError("Only draft journal entries can be cancelled.")
            self.table.update(rid, {"state": "cancel", "auto_post": "no"})
            self._compute_amounts(rid)
        return None

    @api_records
    def js_assign_outstanding_line(self, ids: Any, line_id: int) -> Any:
        (rid,) = self.existing(ids)
        lines = self.env["account.move.line"]
        (line_id,) = lines.existing([line_id])
        account = lines.table.rows[line_id]["account_id"]
        mine = [
            i
            for i in self._receivable_lines(rid)
            if lines.table.rows[i]["account_id"] == account
            and not lines.table.rows[i]["reconciled"]
        ]
        created = lines._reconcile([line_id, *mine])
        # the real method returns recordsets, which XML-RPC cannot marshal
        return {"partials": recordset("account.partial.reconcile", created)}


MODELS = [MoveLine, PartialReconcile, Move]
