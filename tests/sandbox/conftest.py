"""A fresh sandbox served on a loopback port for every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .support import Odoo, make_odoo


@pytest.fixture
def odoo() -> Iterator[Odoo]:
    """A scoped API user: no Access Rights group, no email address."""
    yield from make_odoo()


@pytest.fixture
def admin_odoo() -> Iterator[Odoo]:
    """An API user with the Administration / Access Rights group."""
    yield from make_odoo(access_rights=True)


@pytest.fixture
def customer(odoo: Odoo) -> int:
    return odoo.call(
        "res.partner",
        "create",
        {"name": "Acme GmbH", "is_company": True, "ref": "cus_1", "vat": "DE1"},
    )
