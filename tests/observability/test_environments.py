"""Test and live Stripe data never mix: a mismatched livemode event is held."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from tests.conftest import stripe_customer, stripe_event, wait_until
from tests.observability.conftest import BIN
from worker.pipeline import livemode_refusal
from worker.runtime import Runtime
from worker.settings import Settings
from worker.store import CrossReference, InboxEvent
from worker.sync import Event


def row_of(store: Any, event_id: str) -> InboxEvent | None:
    with store.session() as session:
        return session.query(InboxEvent).filter_by(event_id=event_id).one_or_none()


class TestLivemodeInSandbox:
    def test_a_live_event_is_held_and_release_holds_it_again(
        self, stack, store, sandbox
    ) -> None:
        customer = stripe_customer()
        event = stripe_event("customer.created", customer)
        event["livemode"] = True

        assert stack.post_stripe(event).status_code == 200

        def held() -> InboxEvent | None:
            row = row_of(store, event["id"])
            return row if row is not None and row.status == "held" else None

        row = wait_until(held, 30, "the live event to be held")
        assert "live-mode" in (row.reason or "")
        assert "sandbox" in (row.reason or "")
        assert row.attempts == 0

        released = subprocess.run(
            [str(BIN / "revsync"), "holds", "release", str(row.id), "--note", "try"],
            env=stack.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert released.returncode == 0, released.stderr

        def held_again() -> InboxEvent | None:
            again = row_of(store, event["id"])
            if again is None or again.released_at is None:
                return None
            refused = again.status == "held" and (again.reason or "").startswith(
                "refused"
            )
            return again if refused else None

        again = wait_until(held_again, 30, "the released event to be held again")
        assert again.released_by
        assert (
            sandbox.records("res.partner", domain=[("ref", "=", customer["id"])]) == []
        )
        with store.session() as session:
            xrefs = (
                session.query(CrossReference)
                .filter_by(system="stripe", external_id=customer["id"])
                .all()
            )
        assert xrefs == []


def event_in(livemode: bool | None, source: str = "stripe") -> Event:
    return Event(1, source, "evt_1", "customer.created", {}, None, livemode)


class TestLivemodeRule:
    @pytest.mark.parametrize(
        ("environment", "livemode", "refused"),
        [
            ("sandbox", False, False),
            ("sandbox", True, True),
            ("staging", False, False),
            ("staging", True, True),
            ("production", True, False),
            ("production", False, True),
        ],
    )
    def test_environment_decides_which_mode_is_applied(
        self, environment: str, livemode: bool, refused: bool
    ) -> None:
        runtime = Runtime(Settings(revsync_env=environment))

        reason = livemode_refusal(runtime, event_in(livemode))

        assert (reason is not None) == refused
        if reason is not None:
            assert environment in reason

    def test_other_sources_have_no_livemode(self) -> None:
        runtime = Runtime(Settings(revsync_env="production"))

        assert livemode_refusal(runtime, event_in(None, "hubspot")) is None
