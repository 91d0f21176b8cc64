"""The sandbox matches journal items the way Odoo 18's ``reconcile`` does."""

from __future__ import annotations

import xmlrpc.client
from collections.abc import Iterator

import pytest

from tests.sandbox.support import Odoo, make_odoo


@pytest.fixture
def odoo() -> Iterator[Odoo]:
    yield from make_odoo()


def account(odoo: Odoo, code: str) -> int:
    return int(odoo.sandbox.records("account.account", [("code", "=", code)])[0]["id"])


def entry(odoo: Odoo, *lines: tuple[str, float], post: bool = True) -> list[int]:
    """A balanced entry in the bank journal; returns its line ids in order."""
    move = odoo.call(
        "account.move",
        "create",
        {
            "move_type": "entry",
            "journal_id": odoo.journal("BNK1"),
            "line_ids": [
                (0, 0, {"account_id": account(odoo, code), "balance": amount})
                for code, amount in lines
            ],
        },
    )
    if post:
        odoo.call("account.move", "action_post", [move])
    found = odoo.call(
        "account.move.line", "search_read", [("move_id", "=", move)], fields=["id"]
    )
    return sorted(row["id"] for row in found)


def residuals(odoo: Odoo, ids: list[int]) -> list[tuple[float, bool]]:
    rows = odoo.call(
        "account.move.line", "read", ids, fields=["amount_residual", "reconciled"]
    )
    return [(row["amount_residual"], row["reconciled"]) for row in rows]


def test_items_that_net_to_zero_are_all_reconciled(odoo: Odoo) -> None:
    paid = entry(odoo, ("101403", 40.0), ("121000", -40.0))
    cleared = entry(odoo, ("101401", 40.0), ("101403", -40.0))

    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.call("account.move.line", "reconcile", [paid[0], cleared[1]])

    # It returns nothing, which XML-RPC cannot marshal; the work is done.
    assert "cannot marshal None" in str(caught.value.faultCode)
    assert residuals(odoo, [paid[0], cleared[1]]) == [(0.0, True), (0.0, True)]


def test_a_partial_match_leaves_the_rest_open(odoo: Odoo) -> None:
    paid = entry(odoo, ("101403", 40.0), ("121000", -40.0))
    cleared = entry(odoo, ("101401", 25.0), ("101403", -25.0))

    with pytest.raises(xmlrpc.client.Fault):
        odoo.call("account.move.line", "reconcile", [paid[0], cleared[1]])

    assert residuals(odoo, [paid[0], cleared[1]]) == [(15.0, False), (0.0, True)]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("two accounts", "Entries are not from the same account"),
        ("not reconcilable", "does not allow reconciliation"),
        ("draft", "You can only reconcile posted entries."),
        ("reconciled", "already reconciled"),
    ],
)
def test_what_odoo_refuses_to_reconcile(odoo: Odoo, case: str, message: str) -> None:
    paid = entry(odoo, ("101403", 40.0), ("121000", -40.0))
    if case == "two accounts":
        ids = paid
    elif case == "not reconcilable":
        ids = entry(odoo, ("620000", 5.0), ("620000", -5.0))
    elif case == "draft":
        ids = [paid[0], entry(odoo, ("101401", 40.0), ("101403", -40.0), post=False)[1]]
    else:
        cleared = entry(odoo, ("101401", 40.0), ("101403", -40.0))
        with pytest.raises(xmlrpc.client.Fault):
            odoo.call("account.move.line", "reconcile", [paid[0], cleared[1]])
        ids = [paid[0], cleared[1]]
    before = residuals(odoo, ids)

    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.call("account.move.line", "reconcile", ids)

    assert caught.value.faultCode.startswith("warning -- UserError")
    assert message in caught.value.faultCode
    assert residuals(odoo, ids) == before
