"""Chart of accounts, taxes and journals of an Odoo 18 Community company.

* Accounts are shown as ``code name`` (``121000 Account Receivable``);
  receivable and payable accounts allow reconciliation.
* Taxes are computed like Odoo's default "round per line" method, with
  Odoo's half-up rounding.
* Creating a bank or cash journal without a default account creates one with
  the next free code of the bank prefix (``101405 Stripe`` after the seeded
  ``101401``-``101404``) and gives the journal one inbound and one outbound
  "Manual Payment" method line, displayed as ``Manual Payment (Stripe)``,
  without an outstanding account of its own.
"""

from __future__ import annotations

import math
from typing import Any

from .fields import (
    Boolean,
    Char,
    Float,
    Integer,
    Many2many,
    Many2one,
    One2many,
    Selection,
)
from .orm import Model, Row

ACCOUNT_TYPES = [
    ("asset_receivable", "Receivable"),
    ("asset_cash", "Bank and Cash"),
    ("asset_current", "Current Assets"),
    ("asset_non_current", "Non-current Assets"),
    ("asset_prepayments", "Prepayments"),
    ("asset_fixed", "Fixed Assets"),
    ("liability_payable", "Payable"),
    ("liability_credit_card", "Credit Card"),
    ("liability_current", "Current Liabilities"),
    ("liability_non_current", "Non-current Liabilities"),
    ("equity", "Equity"),
    ("equity_unaffected", "Current Year Earnings"),
    ("income", "Income"),
    ("income_other", "Other Income"),
    ("expense", "Expenses"),
    ("expense_depreciation", "Depreciation"),
    ("expense_direct_cost", "Cost of Revenue"),
    ("off_balance", "Off-Balance Sheet"),
]


def float_round(value: float, digits: int) -> float:
    """Round half away from zero, like Odoo's ``float_round``.

    The value is nudged by one unit in the last place before rounding, so that
    a binary representation just below a half (2.675) still rounds up.
    """
    scale = 10.0**digits
    normalized = abs(value) * scale
    if not normalized:
        return 0.0
    normalized += 2.0 ** (math.frexp(normalized)[1] - 53)
    result = math.floor(normalized + 0.5) / scale
    return round(math.copysign(result, value), digits) + 0.0


class Account(Model):
    _name = "account.account"
    _description = "Account"
    _module = "account"
    _order = "code, id"

    name = Char("Account Name", required=True, index=True)
    code = Char("Code", index=True)
    account_type = Selection(ACCOUNT_TYPES, "Type", required=True)
    reconcile = Boolean("Allow Reconciliation")
    deprecated = Boolean("Deprecated")
    active = Boolean("Active", default=True)
    currency_id = Many2one("res.currency", "Account Currency")
    tax_ids = Many2many("account.tax", "Default Taxes")
    note = Char("Internal Notes")

    def _compute_display_name(self, row: Row) -> Any:
        return f"{row['code']} {row['name']}" if row["code"] else row["name"]

    def _prepare_create(self, vals: Row) -> Row:
        if "reconcile" not in vals and vals.get("account_type") in (
            "asset_receivable",
            "liability_payable",
        ):
            vals["reconcile"] = True
        return vals

    def _by_code(self, code: str) -> Any:
        ids = self.table.lookup("code", code)
        return min(ids) if ids else False

    def _search_by_name(self, operator: str, value: Any) -> list[int]:
        by_name = super()._search_by_name(operator, value)
        return by_name or self._search([("code", operator, value)], active_test=False)

    def _new_code(self, prefix: str) -> str:
        number = 1
        while self._by_code(f"{prefix}{number:02d}"):
            number += 1
        return f"{prefix}{number:02d}"


class Tax(Model):
    _name = "account.tax"
    _description = "Tax"
    _module = "account"
    _order = "sequence, id"

    name = Char("Tax Name", required=True, index=True)
    amount = Float("Amount", required=True, default=0.0)
    amount_type = Selection(
        [
            ("group", "Group of Taxes"),
            ("fixed", "Fixed"),
            ("percent", "Percentage"),
            ("division", "Percentage Tax Included"),
        ],
        "Tax Computation",
        required=True,
        default="percent",
    )
    type_tax_use = Selection(
        [("sale", "Sales"), ("purchase", "Purchases"), ("none", "None")],
        "Tax Type",
        default="sale",
    )
    price_include = Boolean("Included in Price")
    description = Char("Label on Invoices")
    sequence = Integer("Sequence", default=1)
    active = Boolean("Active", default=True)
    company_id = Many2one("res.company", "Company", default=1)

    def _tax_amount(self, tax_id: int, base: float, quantity: float) -> float:
        row = self.table.rows[tax_id]
        if row["amount_type"] == "fixed":
            return row["amount"] * quantity
        if row["price_include"] or row["amount_type"] == "division":
            return base - base / (1 + row["amount"] / 100.0)
        return base * row["amount"] / 100.0


class PaymentMethod(Model):
    _name = "account.payment.method"
    _description = "Payment Methods"
    _module = "account"

    name = Char("Name", required=True)
    code = Char("Code", required=True)
    payment_type = Selection(
        [("inbound", "Inbound"), ("outbound", "Outbound")],
        "Payment Type",
        required=True,
    )


class PaymentMethodLine(Model):
    _name = "account.payment.method.line"
    _description = "Payment Methods"
    _module = "account"
    _order = "sequence, id"

    name = Char("Name")
    sequence = Integer("Sequence", default=10)
    payment_method_id = Many2one(
        "account.payment.method", "Payment Method", required=True
    )
    payment_account_id = Many2one("account.account", "Outstanding Account")
    journal_id = Many2one("account.journal", "Journal", index=True, ondelete="cascade")
    payment_type = Selection(
        [("inbound", "Inbound"), ("outbound", "Outbound")],
        related="payment_method_id.payment_type",
    )
    code = Char("Code", related="payment_method_id.code")

    def _compute_display_name(self, row: Row) -> Any:
        journal = self.env["account.journal"].display_name_of(row["journal_id"])
        return f"{row['name']} ({journal})" if journal else row["name"]


class Journal(Model):
    _name = "account.journal"
    _description = "Journal"
    _module = "account"
    _order = "sequence, type, code"

    name = Char("Journal Name", required=True, index=True)
    code = Char("Short Code", required=True, index=True)
    type = Selection(
        [
            ("sale", "Sales"),
            ("purchase", "Purchase"),
            ("cash", "Cash"),
            ("bank", "Bank"),
            ("credit", "Credit Card"),
            ("general", "Miscellaneous"),
        ],
        "Type",
        required=True,
    )
    active = Boolean("Active", default=True)
    sequence = Integer("Sequence", default=10)
    default_account_id = Many2one("account.account", "Default Account")
    suspense_account_id = Many2one("account.account", "Suspense Account")
    currency_id = Many2one("res.currency", "Currency")
    company_id = Many2one("res.company", "Company", default=1)
    refund_sequence = Boolean("Dedicated Credit Note Sequence")
    payment_sequence = Boolean("Dedicated Payment Sequence", default=True)
    inbound_payment_method_line_ids = One2many(
        "account.payment.method.line",
        "journal_id",
        "Inbound Payment Methods",
        domain=lambda row: row["payment_method_id"] == 1,
    )
    outbound_payment_method_line_ids = One2many(
        "account.payment.method.line",
        "journal_id",
        "Outbound Payment Methods",
        domain=lambda row: row["payment_method_id"] == 2,
    )

    def _prepare_create(self, vals: Row) -> Row:
        kind = vals.get("type")
        if "refund_sequence" not in vals:
            vals["refund_sequence"] = kind in ("sale", "purchase")
        if kind in ("bank", "cash", "credit") and not vals.get("default_account_id"):
            accounts = self.env["account.account"]
            prefix = "1014" if kind == "bank" else "1015" if kind == "cash" else "2014"
            vals["default_account_id"] = accounts._create(
                {
                    "name": vals.get("name") or "Bank",
                    "code": accounts._new_code(prefix),
                    "account_type": "liability_credit_card"
                    if kind == "credit"
                    else "asset_cash",
                }
            )
        return vals

    def _after_create(self, rid: int, vals: Row) -> None:
        if self.table.rows[rid]["type"] in ("bank", "cash", "credit"):
            lines = self.env["account.payment.method.line"]
            for method in (1, 2):
                lines._create(
                    {
                        "name": "Manual Payment",
                        "payment_method_id": method,
                        "journal_id": rid,
                    }
                )

    def _method_line(self, rid: int, payment_type: str) -> Any:
        method = 1 if payment_type == "inbound" else 2
        lines = self.env["account.payment.method.line"].table
        found = sorted(
            i
            for i in lines.lookup("journal_id", rid)
            if lines.rows[i]["payment_method_id"] == method
        )
        return found[0] if found else False


class PaymentTerm(Model):
    _name = "account.payment.term"
    _description = "Payment Terms"
    _module = "account"

    name = Char("Payment Terms", required=True)
    active = Boolean("Active", default=True)


class FiscalPosition(Model):
    _name = "account.fiscal.position"
    _description = "Fiscal Position"
    _module = "account"

    name = Char("Fiscal Position", required=True)
    active = Boolean("Active", default=True)


MODELS = [
    Account,
    Tax,
    PaymentMethod,
    PaymentMethodLine,
    Journal,
    PaymentTerm,
    FiscalPosition,
]
