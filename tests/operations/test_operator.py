"""Exceptions operators can act on: dead letters with reasons, replay, the console."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.conftest import (
    OPERATOR_TOKEN,
    ROOT,
    stripe_event,
    unique,
)
from worker.scenarios import StripeStory

pytestmark = pytest.mark.usefixtures("celery_worker")
REVSYNC = str(Path(sys.executable).parent / "revsync")


def unmapped_invoice(post_stripe) -> tuple[str, str, str]:  # type: ignore[no-untyped-def]
    """Post a finalized invoice for a product no mapping names; return its ids."""
    prefix = unique("u").replace("_", "")
    price = f"price_{prefix}"
    story = StripeStory(customer_id=unique("cus"), shape="basil", prefix=prefix)
    story.customer_created("Unmapped Product GmbH", "ap@unmapped.example", "DE")
    sub = story.subscribe(price, f"prod_{prefix}", 1500, 1)
    invoice = story.invoice(sub)
    story.finalize(invoice)
    for event in story.events:
        assert post_stripe(event).status_code == 200
    return price, story.events[-1]["id"], invoice


def map_price(mapping_path: str, price: str) -> None:
    """Fix the mapping the way an operator would; workers re-read the file."""
    text = Path(mapping_path).read_text()
    Path(mapping_path).write_text(
        text.replace("[products]\n", f'[products]\n{price} = "PRO-M"\n', 1)
    )


class TestDeadLetters:
    def test_an_unmapped_product_goes_dead_naming_it_and_replays_once_mapped(
        self, post_stripe, wait_for_status, mapping_path, service_env, sandbox
    ) -> None:
        price, event_id, invoice = unmapped_invoice(post_stripe)

        row = wait_for_status("stripe", event_id, ("dead",))
        assert row.attempts == 1
        assert f"no Odoo product mapped for Stripe price {price}" in row.reason

        map_price(mapping_path, price)
        result = subprocess.run(
            [REVSYNC, "events", "replay", "--status", "dead", "--note", "mapped"],
            env=service_env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

        assert result.returncode == 0, result.stderr
        wait_for_status("stripe", event_id, ("done",))
        moves = sandbox.records(
            "account.move", domain=[("payment_reference", "=", invoice)]
        )
        assert [(m["state"], m["amount_total"]) for m in moves] == [("posted", 15.0)]


class TestOperatorAuth:
    @pytest.mark.parametrize("path", ["/operator/api/events", "/operator/"])
    def test_a_missing_token_is_401(self, receiver_url, path) -> None:
        assert requests.get(receiver_url + path, timeout=10).status_code == 401

    @pytest.mark.parametrize("path", ["/operator/api/events", "/operator/"])
    def test_a_wrong_token_is_401(self, receiver_url, path) -> None:
        bearer = requests.get(
            receiver_url + path, headers={"Authorization": "Bearer nope"}, timeout=10
        )
        basic = requests.get(receiver_url + path, auth=("ops", "nope"), timeout=10)

        assert bearer.status_code == basic.status_code == 401

    def test_the_right_token_lists_events(self, receiver_url) -> None:
        response = requests.get(
            f"{receiver_url}/operator/api/events",
            headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
            timeout=10,
        )

        assert response.status_code == 200
        assert isinstance(response.json()["events"], list)

    def test_an_api_replay_is_audited_with_its_note(
        self, receiver_url, post_stripe, wait_for_status, store
    ) -> None:
        event = stripe_event("plan.created", {"id": unique("plan"), "object": "plan"})
        post_stripe(event)
        row = wait_for_status("stripe", event["id"], ("skipped",))

        response = requests.post(
            f"{receiver_url}/operator/api/events/replay",
            json={"ids": [row.id], "note": "checking the skip reason"},
            headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
            timeout=10,
        )

        assert response.json() == {"action": "replay", "ids": [row.id]}
        story = requests.get(
            f"{receiver_url}/operator/api/events/{row.id}",
            headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
            timeout=10,
        ).json()
        assert [
            (w["actor"], w["operation"], w["note"])
            for w in story["writes"]
            if w["system"] == "revsync"
        ] == [("operator:api", "replay", "checking the skip reason")]
        again = wait_for_status("stripe", event["id"], ("skipped",))
        assert again.reason == "no handler for stripe event type plan.created"
