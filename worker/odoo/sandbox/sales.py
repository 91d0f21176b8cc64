"""Products and sales orders, as Odoo 18's ``product`` and ``sale`` modules.

* A product is a ``product.template`` with one ``product.product`` variant;
  creating either creates both, and the variant reads the template's fields.
  ``type`` is ``consu``/``service``/``combo`` (18 dropped
  ``detailed_type``); ``taxes_id`` defaults to the company's 15 % sale tax;
  a product with an internal reference is displayed as ``[CODE] Name``.
* A ``sale.order`` is named ``S00001`` on creation and starts in ``draft``;
  ``action_confirm`` returns ``True`` and moves it to ``sale`` with
  ``invoice_status`` ``to invoice``; confirming again fails with "Some orders
  are not in a state requiring confirmation.". ``action_cancel`` on an order
  that is no longer a draft only returns the cancellation wizard's action,
  unless the context says ``disable_cancel_warning``.
* ``sale.advance.payment.inv.create_invoices`` creates the draft invoice
  (``invoice_origin`` = the order name, ``ref`` = ``client_order_ref``) and
  then returns ``None``: a real server commits the invoice and the client
  receives the "cannot marshal None" fault.
"""

from __future__ import annotations

from typing import Any

from .accounting import float_round
from .exceptions import UserError
from .fields import (
    Boolean,
    Char,
    Datetime,
    Float,
    Html,
    Integer,
    Many2many,
    Many2one,
    Monetary,
    One2many,
    Selection,
    Text,
)
from .mail import MailThread
from .orm import Model, Row, api_records

PRODUCT_TYPES = [("consu", "Goods"), ("service", "Service"), ("combo", "Combo")]
POLICIES = [("order", "Ordered quantities"), ("delivery", "Delivered quantities")]
# fields kept on the template and read through the variant
SHARED = (
    "name",
    "type",
    "list_price",
    "standard_price",
    "taxes_id",
    "supplier_taxes_id",
    "invoice_policy",
    "sale_ok",
    "purchase_ok",
    "description_sale",
    "uom_name",
    "categ_id",
)
NOTHING_TO_INVOICE = (
    "There is no invoiceable line. If a product has a Delivered quantities "
    "invoicing policy, please make sure that a quantity has been delivered."
)


def _default_sale_tax(model: Model) -> tuple[int, ...]:
    tax = model.env["res.company"].table.rows[1]["account_sale_tax_id"]
    return (tax,) if tax else ()


def _default_purchase_tax(model: Model) -> tuple[int, ...]:
    tax = model.env["res.company"].table.rows[1]["account_purchase_tax_id"]
    return (tax,) if tax else ()


def _product_label(code: Any, name: Any) -> Any:
    return f"[{code}] {name}" if code else name


class ProductCategory(Model):
    _name = "product.category"
    _description = "Product Category"
    _module = "product"

    name = Char("Name", required=True, index=True)
    parent_id = Many2one("product.category", "Parent Category", index=True)


class ProductTemplate(Model):
    _name = "product.template"
    _description = "Product"
    _module = "product"
    _order = "is_favorite desc, name"

    name = Char("Name", required=True, index=True)
    type = Selection(PRODUCT_TYPES, "Product Type", required=True, default="consu")
    list_price = Float("Sales Price", default=1.0)
    standard_price = Float("Cost")
    default_code = Char("Internal Reference", index=True)
    barcode = Char("Barcode")
    taxes_id = Many2many("account.tax", "Sales Taxes", default=_default_sale_tax)
    supplier_taxes_id = Many2many(
        "account.tax", "Purchase Taxes", default=_default_purchase_tax
    )
    invoice_policy = Selection(POLICIES, "Invoicing Policy", default="order")
    sale_ok = Boolean("Can be Sold", default=True)
    purchase_ok = Boolean("Can be Purchased", default=True)
    description_sale = Text("Sales Description")
    uom_name = Char("Unit of Measure Name", default="Units")
    categ_id = Many2one("product.category", "Product Category", default=1)
    active = Boolean("Active", default=True)
    is_favorite = Boolean("Favorite")
    company_id = Many2one("res.company", "Company")
    product_variant_ids = One2many("product.product", "product_tmpl_id", "Products")
    product_variant_id = Many2one(
        "product.product", "Product", compute="_compute_variant"
    )

    def _compute_display_name(self, row: Row) -> Any:
        return _product_label(row["default_code"], row["name"])

    def _compute_variant(self, row: Row) -> Any:
        ids = self.env["product.product"].table.lookup("product_tmpl_id", row["id"])
        return min(ids) if ids else False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._variant_pending = False

    def _after_create(self, rid: int, vals: Row) -> None:
        # a variant being created makes its own template: no second variant
        if self._variant_pending:
            return
        products = self.env["product.product"]
        if not products.table.lookup("product_tmpl_id", rid):
            products._create_variant(rid, vals.get("default_code") or False)

    def _after_write(self, ids: list[int], vals: Row) -> None:
        if "default_code" in vals or "active" in vals:
            products = self.env["product.product"]
            for rid in ids:
                for variant in products.table.lookup("product_tmpl_id", rid):
                    changes = {
                        k: self.table.rows[rid][k]
                        for k in vals
                        if k in ("default_code", "active")
                    }
                    products.table.update(variant, changes)


class Product(Model):
    _name = "product.product"
    _description = "Product Variant"
    _module = "product"
    _order = "default_code, name, id"

    product_tmpl_id = Many2one(
        "product.template",
        "Product Template",
        required=True,
        index=True,
        ondelete="cascade",
    )
    default_code = Char("Internal Reference", index=True)
    barcode = Char("Barcode")
    active = Boolean("Active", default=True)
    name = Char("Name", related="product_tmpl_id.name")
    type = Selection(PRODUCT_TYPES, "Product Type", related="product_tmpl_id.type")
    list_price = Float("Sales Price", related="product_tmpl_id.list_price")
    lst_price = Float("Sales Price", related="product_tmpl_id.list_price")
    standard_price = Float("Cost", related="product_tmpl_id.standard_price")
    taxes_id = Many2many(
        "account.tax", "Sales Taxes", related="product_tmpl_id.taxes_id"
    )
    supplier_taxes_id = Many2many(
        "account.tax", "Purchase Taxes", related="product_tmpl_id.supplier_taxes_id"
    )
    invoice_policy = Selection(
        POLICIES, "Invoicing Policy", related="product_tmpl_id.invoice_policy"
    )
    sale_ok = Boolean("Can be Sold", related="product_tmpl_id.sale_ok")
    purchase_ok = Boolean("Can be Purchased", related="product_tmpl_id.purchase_ok")
    description_sale = Text(
        "Sales Description", related="product_tmpl_id.description_sale"
    )
    uom_name = Char("Unit of Measure Name", related="product_tmpl_id.uom_name")
    categ_id = Many2one(
        "product.category", "Product Category", related="product_tmpl_id.categ_id"
    )
    company_id = Many2one(
        "res.company", "Company", related="product_tmpl_id.company_id"
    )

    def _compute_display_name(self, row: Row) -> Any:
        template = self.env["product.template"].table.rows.get(row["product_tmpl_id"])
        name = template["name"] if template else ""
        return _product_label(row["default_code"], name)

    def _search_by_name(self, operator: str, value: Any) -> list[int]:
        found = self._search([("name", operator, value)], active_test=False)
        return found or self._search(
            [("default_code", operator, value)], active_test=False
        )

    def _create(self, vals: Row) -> int:
        if vals.get("product_tmpl_id"):
            return super()._create(vals)
        self._check_field_names(vals)
        shared = {k: vals.pop(k) for k in list(vals) if k in SHARED}
        if "default_code" in vals:
            shared["default_code"] = vals["default_code"]
        templates = self.env["product.template"]
        templates._variant_pending = True
        try:
            template = templates._create(shared)
        finally:
            templates._variant_pending = False
        return super()._create({**vals, "product_tmpl_id": template})

    def _create_variant(self, template: int, code: Any) -> int:
        return super()._create({"product_tmpl_id": template, "default_code": code})

    def _after_write(self, ids: list[int], vals: Row) -> None:
        if "default_code" in vals:
            templates = self.env["product.template"]
            for rid in ids:
                row = self.table.rows[rid]
                templates.table.update(
                    row["product_tmpl_id"], {"default_code": row["default_code"]}
                )


class SaleOrder(MailThread, Model):
    _name = "sale.order"
    _description = "Sales Order"
    _module = "sale"
    _order = "date_order desc, id desc"

    name = Char("Order Reference", required=True, index=True, copy=False)
    state = Selection(
        [
            ("draft", "Quotation"),
            ("sent", "Quotation Sent"),
            ("sale", "Sales Order"),
            ("cancel", "Cancelled"),
        ],
        "Status",
        default="draft",
        copy=False,
    )
    partner_id = Many2one("res.partner", "Customer", required=True, index=True)
    partner_invoice_id = Many2one("res.partner", "Invoice Address")
    partner_shipping_id = Many2one("res.partner", "Delivery Address")
    client_order_ref = Char("Customer Reference", index=True, copy=False)
    origin = Char("Source Document")
    reference = Char("Payment Ref.", copy=False)
    date_order = Datetime(
        "Order Date", required=True, default=lambda self: self.sandbox.now
    )
    validity_date = Char("Expiration")
    currency_id = Many2one(
        "res.currency", "Currency", default=lambda self: self.sandbox.company_currency
    )
    company_id = Many2one("res.company", "Company", default=1)
    user_id = Many2one("res.users", "Salesperson", default=lambda self: self.uid)
    note = Html("Terms and conditions")
    order_line = One2many("sale.order.line", "order_id", "Order Lines", copy=True)
    amount_untaxed = Monetary("Untaxed Amount")
    amount_tax = Monetary("Taxes")
    amount_total = Monetary("Total")
    invoice_ids = Many2many("account.move", "Invoices", copy=False)
    invoice_count = Integer("Invoice Count", compute="_compute_invoice_count")
    invoice_status = Selection(
        [
            ("upselling", "Upselling Opportunity"),
            ("invoiced", "Fully Invoiced"),
            ("to invoice", "To Invoice"),
            ("no", "Nothing to Invoice"),
        ],
        "Invoice Status",
        compute="_compute_invoice_status",
    )

    def _prepare_create(self, vals: Row) -> Row:
        if not vals.get("name") or vals.get("name") == "/":
            number = self.sandbox.store.next_number("sale.order")
            vals["name"] = f"S{number:05d}"
        partner = vals.get("partner_id")
        if partner:
            vals.setdefault("partner_invoice_id", partner)
            vals.setdefault("partner_shipping_id", partner)
        return vals

    def _create(self, vals: Row) -> int:
        rid = super()._create(vals)
        self._compute_amounts(rid)
        return rid

    def _after_write(self, ids: list[int], vals: Row) -> None:
        for rid in ids:
            self._compute_amounts(rid)

    def _before_unlink(self, ids: list[int]) -> None:
        for rid in ids:
            if self.table.rows[rid]["state"] == "sale":
                raise UserError(
                    "You can not delete a sent quotation or a confirmed sales order. "
                    "You must first cancel it."
                )

    def _compute_invoice_count(self, row: Row) -> int:
        return len(row["invoice_ids"])

    def _line_rows(self, rid: int) -> list[Row]:
        lines = self.env["sale.order.line"].table
        return [lines.rows[i] for i in sorted(lines.lookup("order_id", rid))]

    def _compute_invoice_status(self, row: Row) -> str:
        if row["state"] != "sale":
            return "no"
        lines = self.env["sale.order.line"]
        rows = [r for r in self._line_rows(row["id"]) if not r["display_type"]]
        if any(lines._compute_qty_to_invoice(r) for r in rows):
            return "to invoice"
        if rows and all(
            lines._compute_qty_invoiced(r) >= r["product_uom_qty"] for r in rows
        ):
            return "invoiced"
        return "no"

    def _compute_amounts(self, rid: int) -> None:
        row = self.table.rows[rid]
        lines = self.env["sale.order.line"]
        digits = self.env["res.currency"].table.rows[row["currency_id"]][
            "decimal_places"
        ]
        untaxed = tax = 0.0
        for line in self._line_rows(rid):
            lines._compute_line_amounts(line, digits)
            untaxed += line["price_subtotal"]
            tax += line["price_tax"]
        values = {
            "amount_untaxed": float_round(untaxed, digits),
            "amount_tax": float_round(tax, digits),
            "amount_total": float_round(untaxed + tax, digits),
        }
        changed = {k: v for k, v in values.items() if row[k] != v}
        if changed:
            self.table.update(rid, changed)

    @api_records
    def action_confirm(self, ids: Any) -> bool:
        ids = self.existing(ids)
        if any(self.table.rows[rid]["state"] not in ("draft", "sent") for rid in ids):
            raise UserError("Some orders are not in a state requiring confirmation.")
        for rid in ids:
            self.table.update(rid, {"state": "sale", "date_order": self.sandbox.now})
        return True

    @api_records
    def action_quotation_sent(self, ids: Any) -> bool:
        ids = self.existing(ids)
        for rid in ids:
            if self.table.rows[rid]["state"] == "draft":
                self.table.update(rid, {"state": "sent"})
        return True

    @api_records
    def action_cancel(self, ids: Any) -> Any:
        ids = self.existing(ids)
        if not self.sandbox.context.get("disable_cancel_warning") and any(
            self.table.rows[rid]["state"] != "draft" for rid in ids
        ):
            # a real server opens the cancellation wizard and cancels nothing
            (rid,) = ids
            return {
                "name": "Cancel Sales Order",
                "view_mode": "form",
                "res_model": "sale.order.cancel",
                "type": "ir.actions.act_window",
                "context": {"default_order_id": rid, "mark_so_as_canceled": True},
                "target": "new",
            }
        moves = self.env["account.move"]
        for rid in ids:
            for move in self.table.rows[rid]["invoice_ids"]:
                if moves.table.rows.get(move, {}).get("state") == "draft":
                    moves.button_cancel([move])
            self.table.update(rid, {"state": "cancel"})
        return True

    @api_records
    def action_draft(self, ids: Any) -> bool:
        ids = self.existing(ids)
        for rid in ids:
            if self.table.rows[rid]["state"] in ("cancel", "sent"):
                self.table.update(rid, {"state": "draft"})
        return True

    def _create_invoice(self, rid: int) -> int | None:
        order = self.table.rows[rid]
        lines = self.env["sale.order.line"]
        commands = []
        for line in self._line_rows(rid):
            quantity = lines._compute_qty_to_invoice(line)
            if line["display_type"] or not quantity:
                continue
            commands.append(
                (
                    0,
                    0,
                    {
                        "product_id": line["product_id"],
                        "name": line["name"],
                        "quantity": quantity,
                        "price_unit": line["price_unit"],
                        "discount": line["discount"],
                        "tax_ids": [(6, 0, list(line["tax_id"]))],
                        "sale_line_ids": [(6, 0, [line["id"]])],
                        "sequence": line["sequence"],
                    },
                )
            )
        if not commands:
            return None
        moves = self.env["account.move"]
        invoice = moves._create(
            {
                "move_type": "out_invoice",
                "partner_id": order["partner_invoice_id"] or order["partner_id"],
                "currency_id": order["currency_id"],
                "invoice_origin": order["name"],
                "ref": order["client_order_ref"],
                "payment_reference": order["reference"],
                "narration": order["note"],
                "invoice_user_id": order["user_id"],
                "invoice_line_ids": commands,
            }
        )
        move_lines = self.env["account.move.line"].table
        for line_id in move_lines.lookup("move_id", invoice):
            for sale_line in move_lines.rows[line_id]["sale_line_ids"]:
                current = lines.table.rows[sale_line]["invoice_lines"]
                lines.table.update(sale_line, {"invoice_lines": (*current, line_id)})
        self.table.update(rid, {"invoice_ids": (*order["invoice_ids"], invoice)})
        return invoice


class SaleOrderLine(Model):
    _name = "sale.order.line"
    _description = "Sales Order Line"
    _module = "sale"
    _order = "order_id, sequence, id"

    order_id = Many2one(
        "sale.order", "Order Reference", required=True, index=True, ondelete="cascade"
    )
    sequence = Integer("Sequence", default=10)
    display_type = Selection(
        [("line_section", "Section"), ("line_note", "Note")], "Display Type"
    )
    product_id = Many2one("product.product", "Product")
    name = Text("Description")
    product_uom_qty = Float("Quantity", default=1.0)
    price_unit = Float("Unit Price")
    discount = Float("Discount (%)")
    tax_id = Many2many("account.tax", "Taxes")
    price_subtotal = Monetary("Subtotal")
    price_tax = Float("Total Tax")
    price_total = Monetary("Total")
    currency_id = Many2one("res.currency", "Currency", related="order_id.currency_id")
    state = Char("Order Status", related="order_id.state")
    qty_delivered = Float("Delivery Quantity")
    qty_invoiced = Float("Invoiced Quantity", compute="_compute_qty_invoiced")
    qty_to_invoice = Float("Quantity To Invoice", compute="_compute_qty_to_invoice")
    invoice_lines = Many2many("account.move.line", "Invoice Lines", copy=False)
    invoice_status = Selection(
        [
            ("upselling", "Upselling Opportunity"),
            ("invoiced", "Fully Invoiced"),
            ("to invoice", "To Invoice"),
            ("no", "Nothing to Invoice"),
        ],
        "Invoice Status",
        compute="_compute_invoice_status",
    )

    def _prepare_create(self, vals: Row) -> Row:
        product_id = vals.get("product_id")
        if product_id:
            products = self.env["product.product"]
            (product_id,) = products.existing([product_id])
            template = self.env["product.template"].table.rows[
                products.table.rows[product_id]["product_tmpl_id"]
            ]
            vals.setdefault("name", products.display_name_of(product_id))
            if "price_unit" not in vals:
                order = self.env["sale.order"].table.rows.get(vals.get("order_id"))
                rate = 1.0
                if order:
                    rate = self.env["res.currency"].table.rows[order["currency_id"]][
                        "rate"
                    ]
                vals["price_unit"] = template["list_price"] * rate
            if "tax_id" not in vals:
                vals["tax_id"] = [(6, 0, list(template["taxes_id"]))]
        return vals

    def _after_create(self, rid: int, vals: Row) -> None:
        self._refresh_order(rid)

    def _after_write(self, ids: list[int], vals: Row) -> None:
        for rid in ids:
            self._refresh_order(rid)

    def _unlink(self, ids: list[int]) -> None:
        orders = {self.table.rows[rid]["order_id"] for rid in ids}
        super()._unlink(ids)
        for order in orders:
            if order in self.env["sale.order"].table.rows:
                self.env["sale.order"]._compute_amounts(order)

    def _refresh_order(self, rid: int) -> None:
        order = self.table.rows[rid]["order_id"]
        self.env["sale.order"]._compute_amounts(order)

    def _compute_line_amounts(self, line: Row, digits: int) -> None:
        taxes = self.env["account.tax"]
        base = (
            line["product_uom_qty"] * line["price_unit"] * (1 - line["discount"] / 100)
        )
        tax = included = 0.0
        for tax_id in line["tax_id"]:
            amount = float_round(
                taxes._tax_amount(tax_id, base, line["product_uom_qty"]), digits
            )
            tax += amount
            if taxes.table.rows[tax_id]["price_include"]:
                included += amount
        subtotal = float_round(base - included, digits)
        values = {
            "price_subtotal": subtotal,
            "price_tax": float_round(tax, digits),
            "price_total": float_round(subtotal + tax, digits),
        }
        changed = {k: v for k, v in values.items() if line[k] != v}
        if changed:
            self.table.update(line["id"], changed)

    def _compute_qty_invoiced(self, row: Row) -> float:
        lines = self.env["account.move.line"].table.rows
        moves = self.env["account.move"].table.rows
        total = 0.0
        for line_id in row["invoice_lines"]:
            line = lines.get(line_id)
            if line is None:
                continue
            move = moves[line["move_id"]]
            if move["state"] == "cancel":
                continue
            sign = -1 if move["move_type"] == "out_refund" else 1
            total += sign * line["quantity"]
        return total

    def _compute_qty_to_invoice(self, row: Row) -> float:
        order = self.env["sale.order"].table.rows[row["order_id"]]
        if order["state"] != "sale" or row["display_type"]:
            return 0.0
        policy = "order"
        if row["product_id"]:
            products = self.env["product.product"]
            template = products.table.rows[row["product_id"]]["product_tmpl_id"]
            policy = self.env["product.template"].table.rows[template]["invoice_policy"]
        wanted = row["product_uom_qty"] if policy == "order" else row["qty_delivered"]
        return wanted - self._compute_qty_invoiced(row)

    def _compute_invoice_status(self, row: Row) -> str:
        order = self.env["sale.order"].table.rows[row["order_id"]]
        if order["state"] != "sale":
            return "no"
        if self._compute_qty_to_invoice(row):
            return "to invoice"
        if self._compute_qty_invoiced(row) >= row["product_uom_qty"]:
            return "invoiced"
        return "no"


class AdvancePaymentWizard(Model):
    _name = "sale.advance.payment.inv"
    _description = "Sales Advance Payment Invoice"
    _module = "sale"
    _transient = True
    _rec_name = None

    advance_payment_method = Selection(
        [
            ("delivered", "Regular invoice"),
            ("percentage", "Down payment (percentage)"),
            ("fixed", "Down payment (fixed amount)"),
        ],
        "Create Invoice",
        default="delivered",
        required=True,
    )
    sale_order_ids = Many2many("sale.order", "Sales Orders")
    amount = Float("Down Payment Amount")
    fixed_amount = Monetary("Down Payment Amount (Fixed)")
    count = Integer("Order Count", compute="_compute_count")

    def _prepare_create(self, vals: Row) -> Row:
        context = self.sandbox.context
        if "sale_order_ids" not in vals and context.get("active_model") == "sale.order":
            orders = self.env["sale.order"].existing(context.get("active_ids") or [])
            vals["sale_order_ids"] = [(6, 0, orders)]
        return vals

    def _compute_count(self, row: Row) -> int:
        return len(row["sale_order_ids"])

    @api_records
    def create_invoices(self, ids: Any) -> Any:
        (rid,) = self.existing(ids)
        wizard = self.table.rows[rid]
        if wizard["advance_payment_method"] != "delivered":
            raise UserError("Down payments are not available in this sandbox.")
        orders = self.env["sale.order"]
        created = [orders._create_invoice(order) for order in wizard["sale_order_ids"]]
        if not any(created):
            raise UserError(NOTHING_TO_INVOICE)
        if self.sandbox.context.get("open_invoices"):
            # the real action carries a None too, so it cannot be marshalled either
            return {
                "type": "ir.actions.act_window",
                "res_model": "account.move",
                "res_id": created[0],
                "views": [[None, "form"]],
            }
        return None


MODELS = [
    ProductCategory,
    ProductTemplate,
    Product,
    SaleOrder,
    SaleOrderLine,
    AdvancePaymentWizard,
]
