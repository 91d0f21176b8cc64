"""The data a fresh Odoo 18 database holds after installing revsync's modules.

It mirrors a USD company on the generic chart of accounts, with the external
ids a client may look up (``base.us``, ``base.EUR``,
``mail.mail_activity_data_todo``, ``base.model_res_partner``...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .sandbox import Sandbox

CURRENCIES = [
    # code, name, symbol, rate per USD, decimals, position
    ("USD", "US Dollar", "$", 1.0, 2, "before"),
    ("EUR", "Euro", "€", 0.92, 2, "after"),
    ("GBP", "Pound Sterling", "£", 0.79, 2, "before"),
    ("JPY", "Japanese Yen", "¥", 150.0, 0, "before"),
    ("CAD", "Canadian Dollar", "$", 1.36, 2, "before"),
    ("AUD", "Australian Dollar", "$", 1.52, 2, "before"),
    ("CHF", "Swiss Franc", "CHF", 0.88, 2, "after"),
]
COUNTRIES = [
    ("AT", "Austria", "EUR", 43),
    ("AU", "Australia", "AUD", 61),
    ("BE", "Belgium", "EUR", 32),
    ("CA", "Canada", "CAD", 1),
    ("CH", "Switzerland", "CHF", 41),
    ("DE", "Germany", "EUR", 49),
    ("DK", "Denmark", False, 45),
    ("ES", "Spain", "EUR", 34),
    ("FI", "Finland", "EUR", 358),
    ("FR", "France", "EUR", 33),
    ("GB", "United Kingdom", "GBP", 44),
    ("IE", "Ireland", "EUR", 353),
    ("IT", "Italy", "EUR", 39),
    ("JP", "Japan", "JPY", 81),
    ("NL", "Netherlands", "EUR", 31),
    ("NO", "Norway", False, 47),
    ("PL", "Poland", False, 48),
    ("PT", "Portugal", "EUR", 351),
    ("SE", "Sweden", False, 46),
    ("US", "United States", "USD", 1),
]
ACCOUNTS = [
    ("101401", "Bank", "asset_cash", False),
    ("101402", "Cash", "asset_cash", False),
    ("101403", "Outstanding Receipts", "asset_current", True),
    ("101404", "Outstanding Payments", "asset_current", True),
    ("121000", "Account Receivable", "asset_receivable", True),
    ("131000", "Tax Paid", "asset_current", False),
    ("211000", "Account Payable", "liability_payable", True),
    ("251000", "Tax Received", "liability_current", False),
    ("400000", "Product Sales", "income", False),
    ("441000", "Foreign Exchange Gain", "income_other", False),
    ("600000", "Expenses", "expense", False),
    ("620000", "Bank Fees", "expense", False),
    ("641000", "Foreign Exchange Loss", "expense", False),
    ("999999", "Undistributed Profits/Losses", "equity_unaffected", False),
]
MODULES = [
    ("base", "Base", "installed", True),
    ("web", "Web", "installed", False),
    ("mail", "Discuss", "installed", True),
    ("contacts", "Contacts", "installed", True),
    ("product", "Products & Pricelists", "installed", False),
    ("account", "Invoicing", "installed", True),
    ("sale", "Sales", "installed", False),
    ("sale_management", "Sales", "installed", True),
    ("crm", "CRM", "uninstalled", True),
    ("stock", "Inventory", "uninstalled", True),
    ("helpdesk", "Helpdesk", "uninstallable", True),
]
ACTIVITY_TYPES = [
    ("mail_activity_data_email", "Email", "default"),
    ("mail_activity_data_call", "Call", "phonecall"),
    ("mail_activity_data_meeting", "Meeting", "default"),
    ("mail_activity_data_todo", "To-Do", "default"),
    ("mail_activity_data_upload_document", "Upload Document", "upload_file"),
]


def seed(
    sandbox: Sandbox, username: str, user_email: str | None, stripe_journal: bool
) -> int:
    """Create the reference data and the API user; return that user's id."""
    env = sandbox.models
    data = env["ir.model.data"]

    def make(model: str, xmlid: str | None, vals: dict[str, Any]) -> int:
        rid = env[model]._create(vals)
        if xmlid:
            data._set_xmlid(xmlid, model, rid, noupdate=True)
        return rid

    for name, model in sorted(env.items()):
        xmlid = f"{model._module}.model_{name.replace('.', '_')}"
        make(
            "ir.model",
            xmlid,
            {
                "model": name,
                "name": model._description,
                "transient": model._transient,
                "modules": model._module,
            },
        )
    for name, label, state, application in MODULES:
        make(
            "ir.module.module",
            f"base.module_{name}",
            {
                "name": name,
                "shortdesc": label,
                "state": state,
                "application": application,
                "latest_version": "18.0.1.0" if state == "installed" else False,
            },
        )
    currencies = {}
    for code, name, symbol, rate, digits, position in CURRENCIES:
        currencies[code] = make(
            "res.currency",
            f"base.{code}",
            {
                "name": code,
                "full_name": name,
                "symbol": symbol,
                "rate": rate,
                "decimal_places": digits,
                "rounding": 10.0**-digits,
                "position": position,
            },
        )
    countries = {}
    for code, name, currency, phone in COUNTRIES:
        countries[code] = make(
            "res.country",
            f"base.{code.lower()}",
            {
                "name": name,
                "code": code,
                "phone_code": phone,
                "currency_id": currencies.get(currency or "", False),
            },
        )
    company_partner = make(
        "res.partner",
        "base.main_partner",
        {
            "name": "YourCompany",
            "is_company": True,
            "country_id": countries["US"],
            "email": "info@yourcompany.com",
        },
    )
    company = make(
        "res.company",
        "base.main_company",
        {
            "name": "YourCompany",
            "partner_id": company_partner,
            "currency_id": currencies["USD"],
            "country_id": countries["US"],
            "email": "info@yourcompany.com",
        },
    )
    env["res.partner"].table.update(company_partner, {"company_id": company})
    root = make(
        "res.partner",
        "base.partner_root",
        {"name": "OdooBot", "active": False, "email": "odoobot@example.com"},
    )
    make(
        "res.users",
        "base.user_root",
        {"login": "__system__", "partner_id": root, "active": False},
    )
    admin = make(
        "res.partner",
        "base.partner_admin",
        {
            "name": "Administrator",
            "email": "admin@yourcompany.example.com",
            "parent_id": company_partner,
        },
    )
    admin_user = make(
        "res.users", "base.user_admin", {"login": "admin", "partner_id": admin}
    )
    if username == "admin":
        user = admin_user
        if user_email:
            env["res.partner"].table.update(admin, {"email": user_email})
    else:
        partner = make(
            "res.partner",
            None,
            {"name": username.title(), "email": user_email or False},
        )
        user = make("res.users", None, {"login": username, "partner_id": partner})

    accounts = {}
    for code, name, kind, reconcile in ACCOUNTS:
        accounts[code] = make(
            "account.account",
            None,
            {
                "code": code,
                "name": name,
                "account_type": kind,
                "reconcile": reconcile,
            },
        )
    sale_tax = make(
        "account.tax",
        "account.1_sale_tax_template",
        {
            "name": "15%",
            "amount": 15.0,
            "type_tax_use": "sale",
            "description": "15%",
        },
    )
    purchase_tax = make(
        "account.tax",
        "account.1_purchase_tax_template",
        {
            "name": "15%",
            "amount": 15.0,
            "type_tax_use": "purchase",
            "description": "15%",
        },
    )
    env["res.company"].table.update(
        company,
        {
            "account_sale_tax_id": sale_tax,
            "account_purchase_tax_id": purchase_tax,
        },
    )
    make(
        "account.payment.method",
        "account.account_payment_method_manual_in",
        {"name": "Manual Payment", "code": "manual", "payment_type": "inbound"},
    )
    make(
        "account.payment.method",
        "account.account_payment_method_manual_out",
        {"name": "Manual Payment", "code": "manual", "payment_type": "outbound"},
    )
    journals = [
        ("sale", "Customer Invoices", "INV", "sale", accounts["400000"], 5),
        ("purchase", "Vendor Bills", "BILL", "purchase", accounts["600000"], 6),
        ("general", "Miscellaneous Operations", "MISC", "general", False, 9),
        ("bank", "Bank", "BNK1", "bank", accounts["101401"], 10),
        ("cash", "Cash", "CSH1", "cash", accounts["101402"], 10),
    ]
    for xmlid, name, code, kind, account, sequence in journals:
        make(
            "account.journal",
            f"account.1_{xmlid}",
            {
                "name": name,
                "code": code,
                "type": kind,
                "default_account_id": account,
                "sequence": sequence,
            },
        )
    if stripe_journal:
        make(
            "account.journal",
            None,
            {"name": "Stripe", "code": "STRP", "type": "bank", "sequence": 11},
        )

    make("product.category", "product.product_category_all", {"name": "All"})
    for xmlid, name, internal in (
        ("mt_comment", "Discussions", False),
        ("mt_note", "Note", True),
        ("mt_activities", "Activities", True),
    ):
        make(
            "mail.message.subtype",
            f"mail.{xmlid}",
            {"name": name, "internal": internal},
        )
    for sequence, (xmlid, name, category) in enumerate(ACTIVITY_TYPES):
        make(
            "mail.activity.type",
            f"mail.{xmlid}",
            {"name": name, "category": category, "sequence": sequence},
        )
    return user
