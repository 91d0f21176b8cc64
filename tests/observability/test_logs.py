"""JSON logs carry ids, never e-mail addresses, names, payloads or secrets."""

from __future__ import annotations

import json
import sys
from typing import Any

from tests.conftest import (
    ODOO_CREDENTIALS,
    OPERATOR_TOKEN,
    STRIPE_SECRET,
    stripe_customer,
    stripe_event,
    wait_until,
)
from tests.observability.conftest import CUSTOMER_EMAIL, CUSTOMER_NAME, STREET
from worker.logs import redact, safe_traceback
from worker.store import InboxEvent


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` parsed as JSON; fails on the first that is not."""
    parsed = []
    for line in text.splitlines():
        if line.strip():
            try:
                parsed.append(json.loads(line))
            except ValueError:
                raise AssertionError(f"not a JSON log line: {line[:200]!r}") from None
    return parsed


def status_of(store: Any, event_id: str) -> tuple[int, str] | None:
    with store.session() as session:
        row = session.query(InboxEvent).filter_by(event_id=event_id).one_or_none()
        return (row.id, row.status) if row is not None else None


def status_account(store: Any, event_id: str) -> int | None:
    with store.session() as session:
        row = session.query(InboxEvent).filter_by(event_id=event_id).one()
        return row.account_id


class TestJsonLogs:
    def test_a_scenario_logs_ids_and_no_personal_data(self, stack, store) -> None:
        customer = stripe_customer(
            name=CUSTOMER_NAME,
            email=CUSTOMER_EMAIL,
            address={"line1": STREET, "city": "Springfield", "country": "US"},
        )
        created = stripe_event("customer.created", customer)
        updated = stripe_event(
            "customer.updated",
            dict(customer, phone="+1 555 0199"),
            created=created["created"] + 1,
        )
        crashing = stripe_event(
            "customer.created",
            stripe_customer(name=CUSTOMER_NAME, address=f"{STREET} {CUSTOMER_EMAIL}"),
        )

        def reaches(event: dict[str, Any], status: str) -> None:
            wait_until(
                lambda: (status_of(store, event["id"]) or (0, ""))[1] == status,
                30,
                f"{event['type']} to be {status}",
            )

        assert stack.post_stripe(created).status_code == 200
        reaches(created, "done")
        assert stack.post_stripe(updated).status_code == 200
        assert stack.post_stripe(crashing).status_code == 200
        assert stack.post_stripe(created, signature="t=1,v1=0").status_code == 401
        reaches(updated, "done")
        reaches(crashing, "dead")
        inbox_id = status_of(store, updated["id"])[0]  # type: ignore[index]
        worker_lines = wait_until(
            lambda: [
                line
                for line in json_lines(stack.worker.stderr())
                if line.get("event") == "inbox.finished"
                and line.get("inbox_id") == inbox_id
            ],
            10,
            "the worker to log the event finished",
        )

        line = worker_lines[0]
        assert line["event_id"] == updated["id"]
        assert line["event_type"] == "customer.updated"
        assert line["task_id"]
        account = status_account(store, updated["id"])
        assert account is not None
        assert line["account_id"] == account
        assert line["level"] == "info"
        receiver_lines = json_lines(stack.receiver.stderr())
        assert any(
            inbox_id in (entry.get("inbox_ids") or [])
            for entry in receiver_lines
            if entry.get("event") == "webhook.accepted"
        )
        assert any(
            entry.get("event") == "inbox.unexpected_error" and "exception" in entry
            for entry in json_lines(stack.worker.stderr())
        )
        logs = stack.logs()
        for secret in (
            CUSTOMER_EMAIL,
            CUSTOMER_NAME,
            STREET,
            "555 0199",
            STRIPE_SECRET,
            ODOO_CREDENTIALS["password"],
            OPERATOR_TOKEN,
        ):
            assert secret not in logs


class TestRedaction:
    def test_masks_addresses_secrets_and_personal_fields(self) -> None:
        event = redact(
            None,
            "info",
            {
                "event": f"mail from {CUSTOMER_EMAIL}",
                "name": CUSTOMER_NAME,
                "password": "hunter2-but-longer",
                "url": "redis://user:pa55word@redis:6379/0",
                "detail": {"api_key": "sk_live_abcdef123", "inbox_id": 3},
                "note": "key sk_test_abc123 and whsec_abc123",
            },
        )

        text = json.dumps(event)
        for secret in (
            CUSTOMER_EMAIL,
            CUSTOMER_NAME,
            "hunter2",
            "pa55word",
            "sk_live_abcdef123",
            "sk_test_abc123",
            "whsec_abc123",
        ):
            assert secret not in text
        assert event["detail"]["inbox_id"] == 3

    def test_tracebacks_keep_revsync_messages_only(self) -> None:
        from worker.errors import PermanentError

        try:
            try:
                raise ValueError(f"duplicate key ({CUSTOMER_NAME})")
            except ValueError as error:
                raise PermanentError(f"odoo refused {CUSTOMER_EMAIL}") from error
        except PermanentError:
            text = safe_traceback(sys.exc_info())  # type: ignore[arg-type]

        assert CUSTOMER_NAME not in text
        assert CUSTOMER_EMAIL not in text
        assert "builtins.ValueError: [redacted]" in text
        assert "worker.errors.PermanentError: odoo refused [email]" in text
        assert "test_tracebacks_keep_revsync_messages_only" in text
