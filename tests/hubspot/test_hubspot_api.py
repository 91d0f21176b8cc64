"""The HubSpot client against the fake: reads, the company write, and errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.hubspot import FakeHubSpot
from worker.errors import PermanentError, RetryableError
from worker.hubspot_api import HubSpotAPI, NotFound


@pytest.fixture
def fake() -> Iterator[FakeHubSpot]:
    with FakeHubSpot() as served:
        assert isinstance(served, FakeHubSpot)
        yield served


@pytest.fixture
def api(fake: FakeHubSpot) -> HubSpotAPI:
    return HubSpotAPI(fake.url, fake.token, timeout=(2, 5))


class TestReads:
    def test_the_primary_company_is_chosen_among_several(self, fake, api) -> None:
        fake.add_company("11")
        fake.add_company("22")
        fake.add_deal("7", company="22", other_companies=("11",), dealstage="x")

        deal = api.deal("7")

        assert api.primary_company_id(deal) == "22"

    def test_a_deal_s_line_items_come_back_in_its_order(self, fake, api) -> None:
        fake.add_line_item("2", hs_sku="B", price="5.00")
        fake.add_line_item("1", hs_sku="A", price="7.00")
        fake.add_deal("7", line_items=("2", "1"))

        items = api.line_items(api.deal_line_item_ids(api.deal("7")))

        assert [item["properties"]["hs_sku"] for item in items] == ["B", "A"]

    def test_a_missing_deal_is_not_found(self, api) -> None:
        with pytest.raises(NotFound):
            api.deal("404404")


class TestErrors:
    def test_429_is_retryable_after_the_delay_hubspot_asks(self, fake, api) -> None:
        fake.add_company("11")
        fake.throttle_next(1, retry_after=7)

        with pytest.raises(RetryableError) as raised:
            api.company("11")

        assert raised.value.retry_after == 7
        assert api.company("11")["id"] == "11"

    def test_a_wrong_token_is_permanent_and_not_echoed(self, fake) -> None:
        api = HubSpotAPI(fake.url, "pat-wrong-token", timeout=(2, 5))
        with pytest.raises(PermanentError) as raised:
            api.company("11")
        assert "401" in str(raised.value) and "pat-wrong" not in str(raised.value)
