"""``revsync odoo check``: is Odoo reachable and set up the way revsync needs it?"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from worker.errors import PermanentError, RetryableError
from worker.mapping import load as load_mapping
from worker.odoo.client import OdooClient
from worker.settings import Settings

REQUIRED_MODULES = ("contacts", "account", "sale_management")
SUPPORTED_MAJOR = (17, 18)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def run_checks(settings: Settings) -> Iterator[Check]:
    """Yield one result per check, stopping where later checks cannot run."""
    try:
        mapping = load_mapping(settings.revsync_config)
    except PermanentError as error:
        yield Check("mapping", False, str(error))
        return
    journal_name = mapping.stripe_journal
    assert settings.odoo_url and settings.odoo_db and settings.odoo_username
    assert settings.odoo_password
    client = OdooClient(
        settings.odoo_url,
        settings.odoo_db,
        settings.odoo_username,
        settings.odoo_password.get_secret_value(),
        timeout=15,
    )
    try:
        version = client.version()
    except (RetryableError, PermanentError) as error:
        yield Check(
            "reachable", False, f"{settings.odoo_url} does not answer ({error})"
        )
        return
    yield Check("reachable", True, settings.odoo_url)

    info = version.get("server_version_info") or [0]
    major = int(info[0]) if info and str(info[0]).isdigit() else 0
    yield Check(
        "version",
        major in SUPPORTED_MAJOR,
        f"{version.get('server_version')}"
        + ("" if major in SUPPORTED_MAJOR else " (revsync supports 17 and 18)"),
    )

    try:
        uid = client.login()
    except PermanentError:
        yield Check(
            "login",
            False,
            f"database {settings.odoo_db} refused ODOO_USERNAME/ODOO_PASSWORD",
        )
        return
    yield Check("login", True, f"user id {uid}")

    installed = {
        row["name"]
        for row in client.search_read(
            "ir.module.module",
            [("name", "in", list(REQUIRED_MODULES)), ("state", "=", "installed")],
            ["name"],
        )
    }
    missing = [name for name in REQUIRED_MODULES if name not in installed]
    yield Check(
        "modules",
        not missing,
        "installed: " + ", ".join(REQUIRED_MODULES)
        if not missing
        else "not installed: " + ", ".join(missing),
    )

    journals = client.search_read(
        "account.journal", [("name", "=", journal_name)], ["type", "code"]
    )
    bank = [row for row in journals if row["type"] == "bank"]
    yield Check(
        "journal",
        bool(bank),
        f"bank journal {journal_name!r} ({bank[0]['code']})"
        if bank
        else f"no bank journal named {journal_name!r}: create it in Invoicing",
    )
    sales = client.search_read(
        "account.journal", [("name", "=", mapping.sales_journal)], ["type"]
    )
    yield Check(
        "sales journal",
        any(row["type"] == "sale" for row in sales),
        f"sales journal {mapping.sales_journal!r}"
        if sales
        else f"no sales journal named {mapping.sales_journal!r}",
    )

    codes = sorted(
        {*mapping.products.values(), *filter(None, [mapping.fallback_product])}
    )
    found = (
        {
            row["default_code"]
            for row in client.search_read(
                "product.product", [("default_code", "in", codes)], ["default_code"]
            )
        }
        if codes
        else set()
    )
    missing_codes = [code for code in codes if code not in found]
    yield Check(
        "products",
        bool(codes) and not missing_codes,
        f"{len(codes)} mapped product(s) found"
        if codes and not missing_codes
        else "no products mapped: add [products] to the mapping file"
        if not codes
        else "no product with internal reference " + ", ".join(missing_codes),
    )

    user = client.read("res.users", [uid], ["email"])
    has_email = bool(user and user[0].get("email"))
    yield Check(
        "api user e-mail",
        has_email,
        "set"
        if has_email
        else "the API user needs an e-mail address: Odoo refuses "
        "to complete activities (chatter) for a user without one",
    )
