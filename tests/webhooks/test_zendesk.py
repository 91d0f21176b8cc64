from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from webhooks.inbound import RejectedDelivery
from webhooks.zendesk import TRIGGER_BODY_TEMPLATE, parse_zendesk, verify_zendesk

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
VECTORS = json.loads((FIXTURES / "signature_vectors.json").read_text())
BY_NAME = {vector["name"]: vector for vector in VECTORS["zendesk"]}
# Vectors whose timestamp is a real ISO-8601 time; zendesk-go signs "1234".
DATED_VECTORS = [
    vector for vector in VECTORS["zendesk"] if vector["timestamp"] != "1234"
]
NEGATIVE_EXAMPLES = [
    example
    for example in VECTORS["negative_examples"]
    if example["mistake"].startswith("zendesk")
]

SECRET = "Yk3vQ0bX9mJp2LwR7tHs5cNd8fGa1eZu4iOy6qWx0kE="
TIMESTAMP = "2026-01-02T08:00:01Z"
NOW = datetime(2026, 1, 2, 8, 0, 1, tzinfo=UTC).timestamp()


def body_of(vector: dict[str, Any]) -> bytes:
    if "body_file" in vector:
        return (FIXTURES / str(vector["body_file"])).read_bytes()
    return str(vector["body"]).encode()


def fixture(name: str) -> bytes:
    return (FIXTURES / "zendesk" / name).read_bytes()


def sign(body: bytes, timestamp: str, secret: str = SECRET) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


def headers_for(signature: str, timestamp: str = TIMESTAMP) -> dict[str, str]:
    return {
        "X-Zendesk-Webhook-Signature": signature,
        "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
    }


def epoch(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp).timestamp()


def rejection(**overrides: Any) -> RejectedDelivery:
    vector = BY_NAME["org_custom_field_changed_file"]
    arguments: dict[str, Any] = {
        "body": body_of(vector),
        "headers": headers_for(vector["computed_signature"]),
        "secret": SECRET,
        "now": NOW,
    }
    arguments.update(overrides)
    with pytest.raises(RejectedDelivery) as caught:
        verify_zendesk(**arguments)
    return caught.value


def trigger_body() -> dict[str, Any]:
    body: dict[str, Any] = json.loads(fixture("trigger_webhook_body_rendered.json"))
    return body


def parse_trigger(body: dict[str, Any]) -> Any:
    (event,) = parse_zendesk(json.dumps(body).encode())
    return event


class TestVerify:
    @pytest.mark.parametrize("vector", DATED_VECTORS, ids=lambda vector: vector["name"])
    def test_accepts_vector(self, vector: dict[str, Any]) -> None:
        verify_zendesk(
            body=body_of(vector),
            headers=headers_for(vector["computed_signature"], vector["timestamp"]),
            secret=vector["secret"],
            now=epoch(vector["timestamp"]),
        )

    def test_zendesk_go_vector_matches_but_its_timestamp_is_not_a_time(self) -> None:
        vector = BY_NAME["zendesk_go_group_membership_file"]

        error = rejection(
            body=body_of(vector),
            headers=headers_for(vector["computed_signature"], vector["timestamp"]),
            secret=vector["secret"],
        )

        assert (error.status, error.reason) == (401, "malformed timestamp")

    @pytest.mark.parametrize(
        "example", NEGATIVE_EXAMPLES, ids=lambda example: example["mistake"]
    )
    def test_rejects_negative_example(self, example: dict[str, Any]) -> None:
        vector = BY_NAME["static_test_secret_min_body"]

        error = rejection(
            body=body_of(vector),
            headers=headers_for(example["signature"], vector["timestamp"]),
            secret=vector["secret"],
            now=epoch(vector["timestamp"]),
        )

        assert (error.status, error.reason) == (401, "bad signature")

    def test_accepts_complete_request_fixture(self) -> None:
        request = json.loads(fixture("webhook_request_example.json"))

        verify_zendesk(
            body=(FIXTURES / request["body_file"]).read_bytes(),
            headers=request["headers"],
            secret=SECRET,
            now=NOW,
        )

    @pytest.mark.parametrize("name_case", [str.lower, str.upper])
    def test_header_names_are_case_insensitive(self, name_case: Any) -> None:
        vector = BY_NAME["org_custom_field_changed_file"]
        headers = {
            name_case(name): value
            for name, value in headers_for(vector["computed_signature"]).items()
        }

        verify_zendesk(body=body_of(vector), headers=headers, secret=SECRET, now=NOW)

    def test_rejects_stale_timestamp(self) -> None:
        error = rejection(now=NOW + 301)

        assert (error.status, error.reason) == (401, "stale timestamp")

    def test_accepts_timestamp_at_edge_of_window(self) -> None:
        vector = BY_NAME["org_custom_field_changed_file"]

        verify_zendesk(
            body=body_of(vector),
            headers=headers_for(vector["computed_signature"]),
            secret=SECRET,
            now=NOW + 300,
        )

    def test_rejects_future_timestamp(self) -> None:
        error = rejection(now=NOW - 301)

        assert (error.status, error.reason) == (401, "timestamp in the future")

    def test_window_follows_tolerance(self) -> None:
        vector = BY_NAME["org_custom_field_changed_file"]

        verify_zendesk(
            body=body_of(vector),
            headers=headers_for(vector["computed_signature"]),
            secret=SECRET,
            now=NOW + 3600,
            tolerance=3600,
        )

    def test_rejects_timestamp_without_offset(self) -> None:
        timestamp = "2026-01-02T08:00:01"
        body = body_of(BY_NAME["org_custom_field_changed_file"])

        error = rejection(headers=headers_for(sign(body, timestamp), timestamp))

        assert error.reason == "malformed timestamp"

    def test_honours_timestamp_offset(self) -> None:
        timestamp = "2026-01-02T09:00:01+01:00"
        body = body_of(BY_NAME["org_custom_field_changed_file"])

        verify_zendesk(
            body=body,
            headers=headers_for(sign(body, timestamp), timestamp),
            secret=SECRET,
            now=NOW,
        )

    def test_rejects_missing_signature(self) -> None:
        error = rejection(headers={"X-Zendesk-Webhook-Signature-Timestamp": TIMESTAMP})

        assert (error.status, error.reason) == (401, "missing signature")

    def test_rejects_missing_timestamp(self) -> None:
        vector = BY_NAME["org_custom_field_changed_file"]

        error = rejection(
            headers={"X-Zendesk-Webhook-Signature": vector["computed_signature"]}
        )

        assert (error.status, error.reason) == (401, "missing timestamp")

    def test_rejects_wrong_secret(self) -> None:
        error = rejection(secret="dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==")

        assert (error.status, error.reason) == (401, "bad signature")

    def test_rejects_empty_secret(self) -> None:
        assert rejection(secret="").status == 401

    def test_rejects_tampered_body(self) -> None:
        body = body_of(BY_NAME["org_custom_field_changed_file"]).replace(
            b"at_risk", b"healthy"
        )

        error = rejection(body=body)

        assert (error.status, error.reason) == (401, "bad signature")

    def test_rejects_signature_replayed_with_new_timestamp(self) -> None:
        vector = BY_NAME["org_custom_field_changed_file"]
        headers = headers_for(vector["computed_signature"], "2026-01-02T08:04:00Z")

        error = rejection(headers=headers)

        assert error.reason == "bad signature"

    def test_rejects_non_ascii_signature_without_crashing(self) -> None:
        assert rejection(headers=headers_for("é" * 44)).reason == "bad signature"

    def test_reason_reveals_no_secret_or_signature(self) -> None:
        wrong = sign(b"{}", TIMESTAMP, secret="another-secret")

        error = rejection(headers=headers_for(wrong))

        assert SECRET not in str(error)
        assert wrong not in str(error)


class TestParseEventSubscription:
    def test_organization_created(self) -> None:
        body = fixture("event_organization_created.json")

        (event,) = parse_zendesk(body)

        assert event.source == "zendesk"
        assert event.event_id == "a540ab78-88f2-49e1-93a7-16152a6f782c"
        assert event.type == "organization.created"
        assert event.object_ids == {"zendesk_organization": "6607619104125"}
        assert event.occurred_at == datetime(2099, 7, 7, 3, 44, 13, tzinfo=UTC)
        assert event.payload == json.loads(body)
        assert event.skip_reason is None

    def test_organization_custom_field_changed(self) -> None:
        (event,) = parse_zendesk(
            fixture("event_organization_custom_field_changed.json")
        )

        assert event.event_id == "0b8e2c5e-7f0c-4b0e-9d3e-2f1f7f1f8a11"
        assert event.type == "organization.custom_field_changed"
        assert event.object_ids == {"zendesk_organization": "6607619104125"}
        assert event.payload["event"]["current"] == "at_risk"

    def test_user_event_names_the_user(self) -> None:
        (event,) = parse_zendesk(
            fixture("event_user_group_membership_created.raw.json")
        )

        assert event.type == "user.group_membership_created"
        assert event.object_ids == {"zendesk_user": "6596848315901"}

    def test_falls_back_to_detail_id_without_subject(self) -> None:
        envelope = json.loads(fixture("event_organization_created.json"))
        del envelope["subject"]

        (event,) = parse_zendesk(json.dumps(envelope).encode())

        assert event.object_ids == {"zendesk_organization": "6607619104125"}

    @pytest.mark.parametrize("field", ["id", "time"])
    def test_rejects_envelope_missing_field(self, field: str) -> None:
        envelope = json.loads(fixture("event_organization_created.json"))
        del envelope[field]

        with pytest.raises(RejectedDelivery) as caught:
            parse_zendesk(json.dumps(envelope).encode())

        assert caught.value.status == 400

    def test_rejects_unrecognised_event_type(self) -> None:
        envelope = json.loads(fixture("event_organization_created.json"))
        envelope["type"] = "zen:event-type:"

        with pytest.raises(RejectedDelivery) as caught:
            parse_zendesk(json.dumps(envelope).encode())

        assert caught.value.status == 400


class TestParseTrigger:
    def test_rendered_body(self) -> None:
        body = fixture("trigger_webhook_body_rendered.json")

        (event,) = parse_zendesk(body)

        assert event.source == "zendesk"
        assert event.type == "trigger.ticket_solved_or_updated"
        assert event.event_id.startswith("trigger:ticket_solved_or_updated:35436:")
        assert event.object_ids == {
            "zendesk_ticket": "35436",
            "zendesk_organization": "6607619104125",
        }
        assert event.occurred_at == datetime(2026, 1, 2, 9, 15, tzinfo=UTC)
        assert event.payload == json.loads(body)

    def test_redelivery_has_same_event_id(self) -> None:
        body = fixture("trigger_webhook_body_rendered.json")

        assert parse_zendesk(body)[0].event_id == parse_zendesk(body)[0].event_id

    def test_event_id_does_not_depend_on_key_order_or_spacing(self) -> None:
        body = trigger_body()
        reordered = json.dumps(dict(reversed(list(body.items()))), indent=2)

        (event,) = parse_zendesk(reordered.encode())

        assert event.event_id == parse_trigger(body).event_id

    def test_later_update_of_same_ticket_is_another_event(self) -> None:
        body = trigger_body()
        later = dict(body, updated_at="2026-01-02T09:20:00Z")

        assert parse_trigger(later).event_id != parse_trigger(body).event_id

    def test_other_trigger_on_same_update_is_another_event(self) -> None:
        body = trigger_body()
        other = dict(body, trigger="ticket_escalated")

        assert parse_trigger(other).event_id != parse_trigger(body).event_id

    def test_event_id_holds_no_personal_data(self) -> None:
        event_id = parse_trigger(trigger_body()).event_id

        assert "acme" not in event_id.lower()

    def test_ticket_without_organization(self) -> None:
        body = dict(trigger_body(), organization_id="", organization_name="")

        assert parse_trigger(body).object_ids == {"zendesk_ticket": "35436"}

    def test_unreadable_update_time_leaves_occurred_at_empty(self) -> None:
        body = dict(trigger_body(), updated_at="January 2, 2026 09:15")

        assert parse_trigger(body).occurred_at is None

    @pytest.mark.parametrize("ticket_id", ["", "{{ticket.id}}", None, "12a"])
    def test_rejects_body_without_valid_ticket_id(self, ticket_id: Any) -> None:
        with pytest.raises(RejectedDelivery) as caught:
            parse_trigger(dict(trigger_body(), ticket_id=ticket_id))

        assert caught.value.status == 400

    @pytest.mark.parametrize("name", ["", "Ticket Solved", None, "x" * 65])
    def test_rejects_body_without_valid_trigger_name(self, name: Any) -> None:
        with pytest.raises(RejectedDelivery) as caught:
            parse_trigger(dict(trigger_body(), trigger=name))

        assert caught.value.status == 400

    def test_documented_template_matches_fixture(self) -> None:
        template = json.loads(fixture("trigger_webhook_body_template.json"))
        body = {key: value for key, value in template.items() if key[0] != "_"}

        assert body == TRIGGER_BODY_TEMPLATE

    def test_rendered_fixture_has_every_template_field(self) -> None:
        assert trigger_body().keys() == TRIGGER_BODY_TEMPLATE.keys()


class TestParseRejects:
    @pytest.mark.parametrize("body", [b"", b"{", b"not json", b'{"a":"\xff"}'])
    def test_malformed_json(self, body: bytes) -> None:
        with pytest.raises(RejectedDelivery) as caught:
            parse_zendesk(body)

        assert (caught.value.status, caught.value.reason) == (
            400,
            "body is not valid JSON",
        )

    @pytest.mark.parametrize("body", [b"[]", b'"text"', b"null"])
    def test_body_that_is_not_an_object(self, body: bytes) -> None:
        with pytest.raises(RejectedDelivery) as caught:
            parse_zendesk(body)

        assert caught.value.status == 400

    @pytest.mark.parametrize(
        "body",
        [
            b'{"event":"ticket.updated","id":123}',
            b'{"type":"organization.created","id":"a540ab78"}',
            b'{"source":"zendesk_macro","ticket_id":"1"}',
        ],
    )
    def test_body_that_is_neither_mode(self, body: bytes) -> None:
        with pytest.raises(RejectedDelivery) as caught:
            parse_zendesk(body)

        assert (caught.value.status, caught.value.reason) == (
            400,
            "neither a Zendesk event nor a revsync trigger body",
        )
