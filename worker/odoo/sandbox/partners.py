"""Partners, reference data and the technical ``ir.*`` models of Odoo 18.

Behaviours mirrored here:

* ``res.partner``: a contact needs a name ("Contacts require a name", from an
  SQL constraint), parent loops are refused ("You cannot create recursive
  Partner hierarchies."), ``company_type`` follows ``is_company`` and can be
  written, ``commercial_partner_id`` is the top company, a child contact is
  displayed as "Company, Person", and ``customer_rank`` grows when one of its
  invoices is posted. Tags are ``res.partner.category`` records whose names
  need not be unique.
* ``ir.model.data``: external ids, unique on (module, name) with PostgreSQL's
  duplicate-key text. Reading or creating them needs the "Administration /
  Access Rights" group, but ``check_object_reference`` works for any user on
  records that user may read, and fails with "External ID not found in the
  system: module.name" otherwise.
* ``ir.model`` is also restricted to that group; ``ir.module.module`` lists
  the installed modules.
"""

from __future__ import annotations

from typing import Any

from .exceptions import AccessError, ValidationError
from .fields import (
    Boolean,
    Char,
    Float,
    Html,
    Integer,
    Many2many,
    Many2one,
    Many2oneReference,
    One2many,
    Selection,
)
from .mail import MailThread
from .orm import Model, Row, api_model

DUPLICATE_XMLID = (
    "The operation cannot be completed: duplicate key value violates unique "
    'constraint "ir_model_data_module_name_uniq_index"\n'
    "DETAIL:  Key (module, name)=({module}, {name}) already exists."
)


class Country(Model):
    _name = "res.country"
    _description = "Country"
    _order = "name"

    name = Char("Country Name", required=True, index=True)
    code = Char("Country Code", index=True)
    currency_id = Many2one("res.currency", "Currency")
    phone_code = Integer("Country Calling Code")


class Currency(Model):
    _name = "res.currency"
    _description = "Currency"
    _order = "active desc, name"

    name = Char("Currency", required=True, index=True)
    full_name = Char("Name")
    symbol = Char("Symbol")
    rate = Float("Current Rate", default=1.0)
    inverse_rate = Float("Inverse Rate", compute="_compute_inverse_rate")
    rounding = Float("Rounding Factor", default=0.01)
    decimal_places = Integer("Decimal Places", default=2)
    active = Boolean("Active", default=True)
    position = Selection(
        [("after", "After Amount"), ("before", "Before Amount")],
        "Symbol Position",
        default="after",
    )

    def _compute_inverse_rate(self, row: Row) -> float:
        return 1.0 / row["rate"] if row["rate"] else 0.0


class Company(Model):
    _name = "res.company"
    _description = "Companies"
    _order = "sequence, name"

    name = Char("Company Name", required=True, index=True)
    sequence = Integer("Sequence", default=10)
    partner_id = Many2one("res.partner", "Partner")
    currency_id = Many2one("res.currency", "Currency", required=True)
    country_id = Many2one("res.country", "Country")
    email = Char("Email")
    vat = Char("Tax ID")
    account_sale_tax_id = Many2one("account.tax", "Default Sale Tax")
    account_purchase_tax_id = Many2one("account.tax", "Default Purchase Tax")


class PartnerCategory(Model):
    _name = "res.partner.category"
    _description = "Partner Tags"
    _order = "name, id"

    name = Char("Name", required=True, index=True)
    color = Integer("Color")
    parent_id = Many2one(
        "res.partner.category", "Parent Category", index=True, ondelete="cascade"
    )
    child_ids = One2many("res.partner.category", "parent_id", "Child Tags")
    active = Boolean("Active", default=True)

    def _compute_display_name(self, row: Row) -> Any:
        names = [row["name"]]
        seen = {row["id"]}
        parent = row["parent_id"]
        while parent and parent not in seen:
            seen.add(parent)
            parent_row = self.table.rows.get(parent)
            if parent_row is None:
                break
            names.append(parent_row["name"])
            parent = parent_row["parent_id"]
        return " / ".join(reversed(names))


class Partner(MailThread, Model):
    _name = "res.partner"
    _description = "Contact"
    _order = "complete_name ASC, id DESC"

    name = Char("Name", index=True)
    complete_name = Char("Complete Name", compute="_compute_complete_name")
    ref = Char("Reference", index=True)
    email = Char("Email", index=True)
    email_formatted = Char("Formatted Email", compute="_compute_email_formatted")
    phone = Char("Phone")
    mobile = Char("Mobile")
    website = Char("Website Link")
    vat = Char("Tax ID", index=True)
    company_registry = Char("Company ID")
    street = Char("Street")
    street2 = Char("Street2")
    zip = Char("Zip")
    city = Char("City")
    country_id = Many2one("res.country", "Country", ondelete="restrict")
    lang = Char("Language", default="en_US")
    comment = Html("Notes")
    function = Char("Job Position")
    is_company = Boolean("Is a Company", default=False)
    company_type = Selection(
        [("person", "Individual"), ("company", "Company")],
        "Company Type",
        compute="_compute_company_type",
        inverse="_set_company_type",
    )
    type = Selection(
        [
            ("contact", "Contact"),
            ("invoice", "Invoice Address"),
            ("delivery", "Delivery Address"),
            ("other", "Other Address"),
        ],
        "Address Type",
        default="contact",
    )
    parent_id = Many2one("res.partner", "Related Company", index=True)
    child_ids = One2many(
        "res.partner", "parent_id", "Contact", domain=lambda row: row["active"]
    )
    commercial_partner_id = Many2one(
        "res.partner", "Commercial Entity", compute="_compute_commercial_partner"
    )
    commercial_company_name = Char(
        "Company Name Entity", compute="_compute_commercial_company_name"
    )
    category_id = Many2many("res.partner.category", "Tags")
    active = Boolean("Active", default=True)
    customer_rank = Integer("Customer Rank", default=0)
    supplier_rank = Integer("Supplier Rank", default=0)
    user_id = Many2one("res.users", "Salesperson")
    company_id = Many2one("res.company", "Company", index=True)
    user_ids = One2many("res.users", "partner_id", "Users")
    property_account_receivable_id = Many2one(
        "account.account", "Account Receivable", compute="_compute_receivable"
    )
    property_account_payable_id = Many2one(
        "account.account", "Account Payable", compute="_compute_payable"
    )
    invoice_ids = One2many("account.move", "partner_id", "Invoices")
    sale_order_ids = One2many("sale.order", "partner_id", "Sales Order")

    def _compute_commercial_partner(self, row: Row) -> int:
        rows = self.table.rows
        seen = set()
        while not row["is_company"] and row["parent_id"] and row["id"] not in seen:
            seen.add(row["id"])
            parent = rows.get(row["parent_id"])
            if parent is None:
                break
            row = parent
        return row["id"]

    def _compute_commercial_company_name(self, row: Row) -> Any:
        commercial = self.table.rows[self._compute_commercial_partner(row)]
        return commercial["name"] if commercial["is_company"] else False

    def _compute_complete_name(self, row: Row) -> Any:
        name = row["name"] or ""
        if row["parent_id"] and not row["is_company"]:
            parent = self.table.rows.get(row["parent_id"])
            company = self._compute_commercial_company_name(row)
            company = company or (parent["name"] if parent else "")
            if company and name:
                return f"{company}, {name}"
            if company:
                return company
        return name or False

    def _compute_display_name(self, row: Row) -> Any:
        return self._compute_complete_name(row)

    def _compute_email_formatted(self, row: Row) -> Any:
        if not row["email"]:
            return False
        return f'"{row["name"] or ""}" <{row["email"]}>'

    def _compute_company_type(self, row: Row) -> str:
        return "company" if row["is_company"] else "person"

    def _set_company_type(self, rid: int, value: Any) -> None:
        self.table.update(rid, {"is_company": value == "company"})

    def _compute_receivable(self, row: Row) -> Any:
        return self.env["account.account"]._by_code("121000")

    def _compute_payable(self, row: Row) -> Any:
        return self.env["account.account"]._by_code("211000")

    def _check_constraints(self, ids: list[int]) -> None:
        rows = self.table.rows
        for rid in ids:
            row = rows.get(rid)
            if row is None:
                continue
            if row["type"] == "contact" and not row["name"]:
                raise ValidationError(
                    "The operation cannot be completed: Contacts require a name"
                )
            seen = {rid}
            parent = row["parent_id"]
            while parent:
                if parent in seen:
                    raise ValidationError(
                        "You cannot create recursive Partner hierarchies."
                    )
                seen.add(parent)
                parent = rows[parent]["parent_id"] if parent in rows else False

    def _bump_customer_rank(self, rid: int) -> None:
        row = self.table.rows[rid]
        commercial = self._compute_commercial_partner(row)
        rank = self.table.rows[commercial]["customer_rank"]
        self.table.update(commercial, {"customer_rank": rank + 1})


class Users(Model):
    _name = "res.users"
    _description = "User"
    _order = "name, login"

    partner_id = Many2one(
        "res.partner", "Related Partner", required=True, ondelete="restrict"
    )
    name = Char("Name", related="partner_id.name")
    email = Char("Email", related="partner_id.email")
    login = Char("Login", required=True, index=True)
    company_id = Many2one("res.company", "Company", default=1)
    company_ids = Many2many("res.company", "Companies", default=(1,))
    active = Boolean("Active", default=True)
    share = Boolean("Share User")
    tz = Char("Timezone")
    lang = Char("Language", default="en_US")

    def _prepare_create(self, vals: Row) -> Row:
        if not vals.get("partner_id"):
            partner = self.env["res.partner"]._create(
                {
                    "name": vals.pop("name", vals.get("login")),
                    "email": vals.pop("email", False),
                }
            )
            vals["partner_id"] = partner
        return vals

    def _compute_display_name(self, row: Row) -> Any:
        return self.env["res.partner"].table.rows[row["partner_id"]]["name"]


class IrModel(Model):
    _name = "ir.model"
    _description = "Models"
    _order = "model"
    _admin_only = True

    name = Char("Model Description", required=True)
    model = Char("Model", required=True, index=True)
    state = Selection(
        [("manual", "Custom Object"), ("base", "Base Object")], "Type", default="base"
    )
    transient = Boolean("Transient Model")
    modules = Char("In Apps")

    def _id_for(self, model: str) -> int:
        ids = self.table.lookup("model", model)
        return min(ids) if ids else False  # type: ignore[return-value]


class IrModelData(Model):
    _name = "ir.model.data"
    _description = "Model Data"
    _order = "module, model, name"
    _rec_name = "complete_name"
    _admin_only = True
    _acl_free = frozenset({"fields_get", "check_object_reference"})

    name = Char("External Identifier", required=True, index=True)
    complete_name = Char("Complete ID", compute="_compute_complete_name")
    module = Char("Module", required=True, default="")
    model = Char("Model Name", required=True)
    res_id = Many2oneReference("Record ID", index=True)
    noupdate = Boolean("Non Updatable", default=False)
    reference = Char("Reference", compute="_compute_reference")

    def _compute_complete_name(self, row: Row) -> str:
        return f"{row['module']}.{row['name']}"

    def _compute_reference(self, row: Row) -> str:
        return f"{row['model']},{row['res_id']}"

    def _find(self, module: str, name: str) -> int | None:
        rows = self.table.rows
        for rid in self.table.lookup("name", name):
            if rows[rid]["module"] == module:
                return rid
        return None

    def _lookup(self, xmlid: str) -> tuple[str, int] | None:
        module, _, name = xmlid.partition(".")
        rid = self._find(module, name)
        if rid is None:
            return None
        row = self.table.rows[rid]
        return row["model"], row["res_id"]

    def _set_xmlid(
        self, xmlid: str, model: str, res_id: int, noupdate: bool = False
    ) -> int:
        module, _, name = xmlid.partition(".")
        existing = self._find(module, name)
        if existing is not None:
            self.table.update(existing, {"model": model, "res_id": res_id})
            return existing
        return self._create(
            {
                "module": module,
                "name": name,
                "model": model,
                "res_id": res_id,
                "noupdate": noupdate,
            }
        )

    def _forget(self, model: str, ids: list[int]) -> None:
        rows = self.table.rows
        for res_id in ids:
            for rid in list(self.table.lookup("res_id", res_id)):
                if rows[rid]["model"] == model:
                    self.table.delete(rid)

    def _xmlid_of(self, model: str, res_id: int) -> str | None:
        rows = self.table.rows
        found = sorted(
            rid
            for rid in self.table.lookup("res_id", res_id)
            if rows[rid]["model"] == model
        )
        if not found:
            return None
        row = rows[found[0]]
        return f"{row['module']}.{row['name']}"

    def _check_constraints(self, ids: list[int]) -> None:
        rows = self.table.rows
        for rid in ids:
            row = rows[rid]
            for other in self.table.lookup("name", row["name"]):
                if other != rid and rows[other]["module"] == row["module"]:
                    raise ValidationError(
                        DUPLICATE_XMLID.format(module=row["module"], name=row["name"])
                    )

    @api_model
    def check_object_reference(
        self, module: str, xml_id: str, raise_on_access_error: bool = False
    ) -> list[Any]:
        found = self._lookup(f"{module}.{xml_id}")
        if found is None:
            raise ValueError(f"External ID not found in the system: {module}.{xml_id}")
        model, res_id = found
        target = self.env[model]
        # the real method searches the target as the user: ACLs apply, and an
        # archived or deleted record gives (model, False)
        target._check_rpc_access("read")
        row = target.table.rows.get(res_id)
        if row is not None and row.get("active", True):
            return [model, res_id]
        if raise_on_access_error:
            raise AccessError(
                f"Not enough access rights on the external ID '{module}.{xml_id}'"
            )
        return [model, False]


class Module(Model):
    _name = "ir.module.module"
    _description = "Module"
    _order = "application desc, sequence, name"

    name = Char("Technical Name", required=True, index=True)
    shortdesc = Char("Module Name")
    summary = Char("Summary")
    state = Selection(
        [
            ("uninstallable", "Uninstallable"),
            ("uninstalled", "Not Installed"),
            ("installed", "Installed"),
            ("to upgrade", "To be upgraded"),
            ("to remove", "To be removed"),
            ("to install", "To be installed"),
        ],
        "Status",
        default="uninstalled",
    )
    latest_version = Char("Installed Version")
    application = Boolean("Application")
    sequence = Integer("Sequence", default=100)
    author = Char("Author")
    license = Char("License", default="LGPL-3")


MODELS = [
    Country,
    Currency,
    Company,
    PartnerCategory,
    Partner,
    Users,
    IrModel,
    IrModelData,
    Module,
]
