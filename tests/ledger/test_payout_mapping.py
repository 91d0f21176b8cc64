"""The ``[payouts]`` section of the mapping file."""

from __future__ import annotations

import pytest

from worker.errors import PermanentError
from worker.mapping import PayoutAccounts, parse


def test_payouts_default_to_the_generic_chart() -> None:
    assert parse({}).payouts == PayoutAccounts("Bank", "620000", "101404")


def test_payouts_are_read_from_the_mapping_file() -> None:
    mapping = parse({"payouts": {"bank_journal": "Wise", "fee_account": "627000"}})

    assert mapping.payouts == PayoutAccounts("Wise", "627000", "101404")


def test_an_unknown_payout_key_is_refused_by_name() -> None:
    with pytest.raises(PermanentError, match=r"\[payouts\] has unknown keys: bank"):
        parse({"payouts": {"bank": "Wise"}})
