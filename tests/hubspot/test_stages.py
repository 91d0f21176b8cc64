"""Which deals are won, and which webhook forms reach the deal handler."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.conftest import FIXTURES, load_fixture
from webhooks.hubspot import parse_hubspot
from worker.sync.hubspot.deals import deal_id_of
from worker.sync.hubspot.stages import deal_is_won
from worker.sync.registry import find_handler

PIPELINES: list[dict[str, Any]] = load_fixture("hubspot/api_pipelines_deals.json")[
    "results"
]
RENEWED = "1f4f1ec1-8174-49f3-a112-4eaa4748e38e"


def deal(stage: str, pipeline: str = "default", **extra: str) -> dict[str, str]:
    return {"dealstage": stage, "pipeline": pipeline, **extra}


class TestWonStage:
    def test_closedwon_of_the_default_pipeline_is_won(self) -> None:
        assert deal_is_won(deal("closedwon"), PIPELINES) is True

    def test_closedlost_is_closed_but_not_won(self) -> None:
        assert deal_is_won(deal("closedlost"), PIPELINES) is False

    @pytest.mark.parametrize("stage", ["contractsent", "decisionmakerboughtin"])
    def test_an_open_stage_is_not_won_however_likely(self, stage: str) -> None:
        assert deal_is_won(deal(stage), PIPELINES) is False

    def test_an_opaque_custom_pipeline_stage_closed_at_probability_one_is_won(
        self,
    ) -> None:
        assert deal_is_won(deal(RENEWED, "11348541"), PIPELINES) is True

    def test_a_custom_pipeline_stage_closed_at_probability_zero_is_not_won(
        self,
    ) -> None:
        assert deal_is_won(deal("11348544", "11348541"), PIPELINES) is False

    def test_a_renamed_label_does_not_change_the_answer(self) -> None:
        renamed = copy.deepcopy(PIPELINES)
        for stage in renamed[0]["stages"]:
            stage["label"] = {"closedwon": "Lost", "closedlost": "Won"}.get(
                stage["id"], stage["label"]
            )
        assert deal_is_won(deal("closedwon"), renamed) is True
        assert deal_is_won(deal("closedlost"), renamed) is False

    def test_a_stage_unknown_to_the_pipelines_falls_back_on_hs_is_closed_won(
        self,
    ) -> None:
        won = deal("99999", "11348541", hs_is_closed_won="true")
        lost = deal("99999", "11348541", hs_is_closed_won="false")
        assert deal_is_won(won, PIPELINES) is True
        assert deal_is_won(lost, PIPELINES) is False

    def test_a_stage_is_looked_up_in_the_deal_s_own_pipeline(self) -> None:
        # "closedwon" is no stage of the Renewals pipeline; nothing says it is won.
        assert deal_is_won(deal("closedwon", "11348541"), PIPELINES) is None


class TestWebhookForms:
    @pytest.mark.parametrize(
        ("fixture", "deal_id"),
        [
            ("webhook_batch_legacy_closedwon.json", "18764123456"),
            ("webhook_generic_object_propertychange_deal.json", "18764123456"),
            ("webhook_custom_pipeline_stage.json", "18764129999"),
            ("webhook_deal_association_change.json", "18764123456"),
            ("webhook_retry_attempt1.json", "18764123456"),
        ],
    )
    def test_deal_events_in_every_form_reach_the_deal_handler(
        self, fixture: str, deal_id: str
    ) -> None:
        body = (FIXTURES / "hubspot" / fixture).read_bytes()
        deal_events = [
            event
            for event in parse_hubspot(body, app_id=None)
            if event.type.startswith("deal.")
        ]
        assert deal_events
        for event in deal_events:
            handler = find_handler("hubspot", event.type)
            assert handler is not None and handler.name == "sync_deal"
            assert deal_id_of(event.payload) == deal_id

    def test_company_creation_and_write_back_echoes_have_no_deal_handler(
        self,
    ) -> None:
        body = (FIXTURES / "hubspot/webhook_echo_of_own_writeback.json").read_bytes()
        (echo,) = parse_hubspot(body, app_id="1160452")
        assert echo.skip_reason is not None
        assert find_handler("hubspot", "company.creation") is None
