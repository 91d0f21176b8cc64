from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from webhooks.hubspot import parse_hubspot, verify_hubspot
from webhooks.inbound import RejectedDelivery

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
VECTORS = json.loads((FIXTURES / "signature_vectors.json").read_text())
BY_NAME = {vector["name"]: vector for vector in VECTORS["hubspot"]}
V3_VECTORS = [vector for vector in VECTORS["hubspot"] if vector["version"] == "v3"]
LEGACY_VECTORS = [vector for vector in VECTORS["hubspot"] if vector["version"] != "v3"]
NEGATIVE_EXAMPLES = [
    example
    for example in VECTORS["negative_examples"]
    if example["mistake"].startswith("hubspot")
]

SECRET = "3b8f1c2e-4d5a-4e6f-9a7b-1c2d3e4f5a6b"
URL = "https://hooks.example.com/webhooks/hubspot"
TIMESTAMP = "1767268805000"
NOW = 1767268805.0
APP_ID = "1160452"


def body_of(vector: dict[str, Any]) -> bytes:
    if "body_file" in vector:
        return (FIXTURES / str(vector["body_file"])).read_bytes()
    return str(vector["body"]).encode()


def fixture(name: str) -> bytes:
    return (FIXTURES / "hubspot" / name).read_bytes()


def sign_v3(
    body: bytes, timestamp: str, *, uri: str = URL, secret: str = SECRET
) -> str:
    message = b"POST" + uri.encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def v3_headers(signature: str, timestamp: str = TIMESTAMP) -> dict[str, str]:
    return {
        "X-HubSpot-Signature-v3": signature,
        "X-HubSpot-Request-Timestamp": timestamp,
    }


def verify_v3_vector(vector: dict[str, Any], **overrides: Any) -> None:
    arguments: dict[str, Any] = {
        "method": vector["method"],
        "uri": vector["uri"],
        "body": body_of(vector),
        "headers": v3_headers(vector["computed_signature"], vector["timestamp"]),
        "client_secret": vector["secret"],
        "now": int(vector["timestamp"]) / 1000,
    }
    arguments.update(overrides)
    verify_hubspot(**arguments)


def rejection(**overrides: Any) -> RejectedDelivery:
    with pytest.raises(RejectedDelivery) as caught:
        verify_v3_vector(BY_NAME["v3_closedwon_batch_file"], **overrides)
    return caught.value


def parse_one(event: dict[str, Any], app_id: str | None = APP_ID) -> Any:
    (parsed,) = parse_hubspot(json.dumps([event]).encode(), app_id=app_id)
    return parsed


def closed_won_event() -> dict[str, Any]:
    event: dict[str, Any] = json.loads(fixture("webhook_batch_legacy_closedwon.json"))[
        0
    ]
    return event


class TestVerifyV3:
    @pytest.mark.parametrize("vector", V3_VECTORS, ids=lambda vector: vector["name"])
    def test_accepts_vector(self, vector: dict[str, Any]) -> None:
        verify_v3_vector(vector)

    @pytest.mark.parametrize(
        "example", NEGATIVE_EXAMPLES, ids=lambda example: example["mistake"]
    )
    def test_rejects_negative_example(self, example: dict[str, Any]) -> None:
        match = re.search(r"for (v3_\w+)$", example["mistake"])
        assert match is not None
        vector = BY_NAME[match.group(1)]
        headers = v3_headers(example["signature"], vector["timestamp"])

        with pytest.raises(RejectedDelivery) as caught:
            verify_v3_vector(vector, headers=headers)

        assert caught.value.status == 401
        assert caught.value.reason == "bad signature"

    def test_accepts_complete_request_fixture(self) -> None:
        request = json.loads(fixture("webhook_request_example.json"))

        verify_hubspot(
            method=request["method"],
            uri=request["url"],
            body=(FIXTURES / request["body_file"]).read_bytes(),
            headers=request["headers"],
            client_secret=SECRET,
            now=NOW,
        )

    def test_decodes_only_hubspots_escapes_in_url(self) -> None:
        raw = URL + "?a=%3a%2F%40&b=x%20y%26z"
        signed = URL + "?a=:/@&b=x%20y%26z"
        signature = sign_v3(b"[]", TIMESTAMP, uri=signed)

        verify_hubspot(
            method="POST",
            uri=raw,
            body=b"[]",
            headers=v3_headers(signature),
            client_secret=SECRET,
            now=NOW,
        )

    def test_does_not_decode_other_escapes(self) -> None:
        signature = sign_v3(b"[]", TIMESTAMP, uri=URL + "?q=x y")

        with pytest.raises(RejectedDelivery, match="bad signature"):
            verify_hubspot(
                method="POST",
                uri=URL + "?q=x%20y",
                body=b"[]",
                headers=v3_headers(signature),
                client_secret=SECRET,
                now=NOW,
            )

    def test_rejects_url_with_wrong_scheme(self) -> None:
        error = rejection(uri=URL.replace("https://", "http://"))

        assert (error.status, error.reason) == (401, "bad signature")

    def test_accepts_lowercase_method(self) -> None:
        verify_v3_vector(BY_NAME["v3_closedwon_batch_file"], method="post")

    def test_rejects_other_method(self) -> None:
        error = rejection(method="PUT")

        assert error.reason == "bad signature"

    def test_rejects_stale_timestamp(self) -> None:
        error = rejection(now=NOW + 301)

        assert (error.status, error.reason) == (401, "stale timestamp")

    def test_accepts_timestamp_at_edge_of_window(self) -> None:
        verify_v3_vector(BY_NAME["v3_closedwon_batch_file"], now=NOW + 300)

    def test_rejects_future_timestamp(self) -> None:
        error = rejection(now=NOW - 301)

        assert (error.status, error.reason) == (401, "timestamp in the future")

    def test_window_follows_tolerance(self) -> None:
        error = rejection(now=NOW + 61, tolerance=60)

        assert error.reason == "stale timestamp"

    def test_treats_timestamp_as_milliseconds(self) -> None:
        seconds = TIMESTAMP[:-3]
        signature = sign_v3(b"[]", seconds)

        with pytest.raises(RejectedDelivery, match="stale timestamp"):
            verify_hubspot(
                method="POST",
                uri=URL,
                body=b"[]",
                headers=v3_headers(signature, seconds),
                client_secret=SECRET,
                now=NOW,
            )

    def test_rejects_malformed_timestamp(self) -> None:
        timestamp = "2026-01-01T12:00:05Z"
        signature = sign_v3(b"[]", timestamp)

        with pytest.raises(RejectedDelivery, match="malformed timestamp"):
            verify_hubspot(
                method="POST",
                uri=URL,
                body=b"[]",
                headers=v3_headers(signature, timestamp),
                client_secret=SECRET,
                now=NOW,
            )

    def test_rejects_missing_signature(self) -> None:
        error = rejection(headers={"X-HubSpot-Request-Timestamp": TIMESTAMP})

        assert (error.status, error.reason) == (401, "missing signature")

    def test_rejects_missing_timestamp(self) -> None:
        vector = BY_NAME["v3_closedwon_batch_file"]
        headers = {"X-HubSpot-Signature-v3": vector["computed_signature"]}

        error = rejection(headers=headers)

        assert (error.status, error.reason) == (401, "missing timestamp")

    def test_rejects_wrong_secret(self) -> None:
        error = rejection(client_secret="pat-na1-00000000-0000-0000-0000-000000000000")

        assert (error.status, error.reason) == (401, "bad signature")

    def test_rejects_empty_secret(self) -> None:
        error = rejection(client_secret="")

        assert error.status == 401

    def test_rejects_tampered_body(self) -> None:
        body = fixture("webhook_batch_legacy_closedwon.json").replace(
            b"closedwon", b"closedlost"
        )

        error = rejection(body=body)

        assert (error.status, error.reason) == (401, "bad signature")

    def test_rejects_body_with_whitespace_trimmed(self) -> None:
        body = fixture("webhook_batch_legacy_closedwon.json").rstrip()

        error = rejection(body=body)

        assert error.reason == "bad signature"

    @pytest.mark.parametrize("name_case", [str.lower, str.upper])
    def test_header_names_are_case_insensitive(self, name_case: Any) -> None:
        vector = BY_NAME["v3_closedwon_batch_file"]
        headers = {
            name_case(name): value
            for name, value in v3_headers(vector["computed_signature"]).items()
        }

        verify_v3_vector(vector, headers=headers)

    def test_rejects_conflicting_duplicate_headers(self) -> None:
        vector = BY_NAME["v3_closedwon_batch_file"]
        headers = v3_headers(vector["computed_signature"])
        headers["x-hubspot-signature-v3"] = "AAAA"

        error = rejection(headers=headers)

        assert error.reason == "missing signature"

    def test_rejects_non_ascii_signature_without_crashing(self) -> None:
        error = rejection(headers=v3_headers("é" * 44))

        assert error.reason == "bad signature"

    def test_does_not_fall_back_to_v1_when_v3_fails(self) -> None:
        request = json.loads(fixture("webhook_request_example.json"))
        headers = dict(request["headers"], **{"X-HubSpot-Signature-v3": "A" * 44})

        error = rejection(headers=headers, versions=("v3", "v1"))

        assert error.reason == "bad signature"

    def test_reason_reveals_no_secret_or_signature(self) -> None:
        vector = BY_NAME["v3_closedwon_batch_file"]
        wrong = sign_v3(body_of(vector), TIMESTAMP, secret="another-secret")

        error = rejection(headers=v3_headers(wrong))

        assert SECRET not in str(error)
        assert wrong not in str(error)
        assert vector["computed_signature"] not in str(error)

    def test_rejects_unknown_configured_version(self) -> None:
        with pytest.raises(ValueError, match="signature version"):
            verify_v3_vector(BY_NAME["v3_closedwon_batch_file"], versions=("v4",))


class TestVerifyV1V2:
    @pytest.mark.parametrize(
        "vector", LEGACY_VECTORS, ids=lambda vector: vector["name"]
    )
    def test_accepts_vector_when_version_is_allowed(
        self, vector: dict[str, Any]
    ) -> None:
        verify_hubspot(
            method=vector.get("method", "POST"),
            uri=vector.get("uri", URL),
            body=body_of(vector),
            headers={
                "X-HubSpot-Signature": vector["computed_signature"],
                "X-HubSpot-Signature-Version": vector["version"],
            },
            client_secret=vector["secret"],
            now=NOW,
            versions=("v3", vector["version"]),
        )

    @pytest.mark.parametrize(
        "vector", LEGACY_VECTORS, ids=lambda vector: vector["name"]
    )
    def test_rejects_vector_by_default(self, vector: dict[str, Any]) -> None:
        with pytest.raises(RejectedDelivery) as caught:
            verify_hubspot(
                method=vector.get("method", "POST"),
                uri=vector.get("uri", URL),
                body=body_of(vector),
                headers={
                    "X-HubSpot-Signature": vector["computed_signature"],
                    "X-HubSpot-Signature-Version": vector["version"],
                },
                client_secret=vector["secret"],
                now=NOW,
            )

        assert (caught.value.status, caught.value.reason) == (
            401,
            "signature version not accepted",
        )

    def test_accepts_v1_of_request_fixture_when_v3_is_not_allowed(self) -> None:
        request = json.loads(fixture("webhook_request_example.json"))

        verify_hubspot(
            method="POST",
            uri=request["url"],
            body=(FIXTURES / request["body_file"]).read_bytes(),
            headers=request["headers"],
            client_secret=SECRET,
            now=0.0,
            versions=("v1",),
        )

    def test_rejects_tampered_body(self) -> None:
        vector = BY_NAME["v2_docs_post"]

        with pytest.raises(RejectedDelivery, match="bad signature"):
            verify_hubspot(
                method="POST",
                uri=vector["uri"],
                body=b'{"example_field":"other_value"}',
                headers={
                    "x-hubspot-signature": vector["computed_signature"],
                    "x-hubspot-signature-version": "v2",
                },
                client_secret=vector["secret"],
                now=NOW,
                versions=("v2",),
            )

    def test_rejects_v2_signature_labelled_v1(self) -> None:
        vector = BY_NAME["v2_docs_post"]

        with pytest.raises(RejectedDelivery, match="bad signature"):
            verify_hubspot(
                method="POST",
                uri=vector["uri"],
                body=body_of(vector),
                headers={
                    "X-HubSpot-Signature": vector["computed_signature"],
                    "X-HubSpot-Signature-Version": "v1",
                },
                client_secret=vector["secret"],
                now=NOW,
                versions=("v1", "v2"),
            )

    def test_rejects_body_that_is_not_utf8(self) -> None:
        with pytest.raises(RejectedDelivery) as caught:
            verify_hubspot(
                method="POST",
                uri=URL,
                body=b"[\xff]",
                headers={
                    "X-HubSpot-Signature": "0" * 64,
                    "X-HubSpot-Signature-Version": "v1",
                },
                client_secret=SECRET,
                now=NOW,
                versions=("v1",),
            )

        assert caught.value.status == 401

    def test_rejects_non_ascii_signature_without_crashing(self) -> None:
        with pytest.raises(RejectedDelivery, match="bad signature"):
            verify_hubspot(
                method="POST",
                uri=URL,
                body=b"[]",
                headers={
                    "X-HubSpot-Signature": "é" * 64,
                    "X-HubSpot-Signature-Version": "v1",
                },
                client_secret=SECRET,
                now=NOW,
                versions=("v1",),
            )


class TestParseBatch:
    def test_gives_one_event_per_item(self) -> None:
        events = parse_hubspot(
            fixture("webhook_batch_legacy_closedwon.json"), app_id=APP_ID
        )

        assert [event.type for event in events] == [
            "deal.propertyChange",
            "deal.propertyChange",
            "company.creation",
            "deal.creation",
        ]
        assert {event.source for event in events} == {"hubspot"}

    def test_closed_won_event(self) -> None:
        body = fixture("webhook_batch_legacy_closedwon.json")

        event = parse_hubspot(body, app_id=APP_ID)[0]

        assert event.type == "deal.propertyChange"
        assert event.object_ids == {"hubspot_deal": "18764123456"}
        assert event.occurred_at == datetime(2026, 1, 1, 12, 0, 0, 123000, tzinfo=UTC)
        assert event.payload == json.loads(body)[0]
        assert event.skip_reason is None

    def test_company_creation_names_the_company(self) -> None:
        body = fixture("webhook_batch_legacy_closedwon.json")

        event = parse_hubspot(body, app_id=APP_ID)[2]

        assert event.object_ids == {"hubspot_company": "9876543210"}

    def test_event_ids_are_distinct_within_batch(self) -> None:
        body = fixture("webhook_batch_legacy_closedwon.json")

        events = parse_hubspot(body, app_id=APP_ID)

        assert len({event.event_id for event in events}) == 4

    def test_accepts_empty_array(self) -> None:
        assert parse_hubspot(b"[]", app_id=APP_ID) == []

    def test_accepts_100_events(self) -> None:
        events = [dict(closed_won_event(), eventId=n) for n in range(100)]

        parsed = parse_hubspot(json.dumps(events).encode(), app_id=APP_ID)

        assert len(parsed) == 100

    def test_rejects_more_than_100_events(self) -> None:
        events = [dict(closed_won_event(), eventId=n) for n in range(101)]

        with pytest.raises(RejectedDelivery) as caught:
            parse_hubspot(json.dumps(events).encode(), app_id=APP_ID)

        assert caught.value.status == 400

    @pytest.mark.parametrize("body", [b"", b"[{", b"not json", b"[\xff]"])
    def test_rejects_malformed_json(self, body: bytes) -> None:
        with pytest.raises(RejectedDelivery) as caught:
            parse_hubspot(body, app_id=APP_ID)

        assert (caught.value.status, caught.value.reason) == (
            400,
            "body is not valid JSON",
        )

    @pytest.mark.parametrize("body", [b"{}", b'"text"', b"null", b"42"])
    def test_rejects_body_that_is_not_an_array(self, body: bytes) -> None:
        with pytest.raises(RejectedDelivery) as caught:
            parse_hubspot(body, app_id=APP_ID)

        assert caught.value.status == 400

    def test_rejects_event_that_is_not_an_object(self) -> None:
        body = json.dumps([closed_won_event(), [1, 2]]).encode()

        with pytest.raises(RejectedDelivery) as caught:
            parse_hubspot(body, app_id=APP_ID)

        assert (caught.value.status, caught.value.reason) == (
            400,
            "event 1 is not an object",
        )

    @pytest.mark.parametrize(
        "field",
        ["eventId", "subscriptionId", "portalId", "occurredAt", "subscriptionType"],
    )
    def test_rejects_event_missing_required_field(self, field: str) -> None:
        event = closed_won_event()
        del event[field]

        with pytest.raises(RejectedDelivery) as caught:
            parse_one(event)

        assert caught.value.status == 400
        assert field in caught.value.reason

    @pytest.mark.parametrize("value", ["1767268800123", 1.5, True, -1, None])
    def test_rejects_invalid_occurred_at(self, value: Any) -> None:
        with pytest.raises(RejectedDelivery, match="occurredAt"):
            parse_one(dict(closed_won_event(), occurredAt=value))

    def test_reason_reveals_no_payload_value(self) -> None:
        event = dict(closed_won_event(), portalId="ops@acme.example")

        with pytest.raises(RejectedDelivery) as caught:
            parse_one(event)

        assert "ops@acme.example" not in str(caught.value)

    def test_accepts_event_type_as_old_name_of_subscription_type(self) -> None:
        event = closed_won_event()
        event["eventType"] = event.pop("subscriptionType")

        assert parse_one(event).type == "deal.propertyChange"


class TestParseGenericObjectEvents:
    def test_property_change_is_named_like_legacy_deal_event(self) -> None:
        body = fixture("webhook_generic_object_propertychange_deal.json")

        (event,) = parse_hubspot(body, app_id=APP_ID)

        assert event.type == "deal.propertyChange"
        assert event.object_ids == {"hubspot_deal": "18764123456"}

    def test_payload_keeps_original_subscription_type(self) -> None:
        body = fixture("webhook_generic_object_propertychange_deal.json")

        (event,) = parse_hubspot(body, app_id=APP_ID)

        assert event.payload["subscriptionType"] == "object.propertyChange"
        assert event.payload["objectTypeId"] == "0-3"

    @pytest.mark.parametrize(
        ("type_id", "name"),
        [("0-1", "contact"), ("0-2", "company"), ("0-8", "line_item")],
    )
    def test_maps_object_type_id(self, type_id: str, name: str) -> None:
        event = dict(
            closed_won_event(),
            subscriptionType="object.creation",
            objectTypeId=type_id,
        )

        parsed = parse_one(event)

        assert parsed.type == f"{name}.creation"
        assert parsed.object_ids == {f"hubspot_{name}": "18764123456"}

    def test_custom_object_keeps_generic_type(self) -> None:
        event = dict(
            closed_won_event(),
            subscriptionType="object.propertyChange",
            objectTypeId="2-1234567",
        )

        parsed = parse_one(event)

        assert parsed.type == "object.propertyChange"
        assert parsed.object_ids == {"hubspot_object_2-1234567": "18764123456"}


class TestParseSpecialEvents:
    def test_custom_pipeline_stage_keeps_opaque_stage_id(self) -> None:
        (event,) = parse_hubspot(
            fixture("webhook_custom_pipeline_stage.json"), app_id=APP_ID
        )

        assert event.type == "deal.propertyChange"
        assert event.object_ids == {"hubspot_deal": "18764129999"}
        assert event.payload["propertyValue"] == "1f4f1ec1-8174-49f3-a112-4eaa4748e38e"

    def test_association_change_names_both_objects(self) -> None:
        (event,) = parse_hubspot(
            fixture("webhook_deal_association_change.json"), app_id=APP_ID
        )

        assert event.type == "deal.associationChange"
        assert event.object_ids == {
            "hubspot_deal": "18764123456",
            "hubspot_company": "9876543210",
        }

    def test_association_to_line_item(self) -> None:
        event: dict[str, Any] = json.loads(
            fixture("webhook_deal_association_change.json")
        )[0]
        event.update(associationType="DEAL_TO_LINE_ITEM", toObjectId=30031241447)

        assert parse_one(event).object_ids == {
            "hubspot_deal": "18764123456",
            "hubspot_line_item": "30031241447",
        }

    def test_echo_of_own_write_back_is_skipped(self) -> None:
        (event,) = parse_hubspot(
            fixture("webhook_echo_of_own_writeback.json"), app_id=APP_ID
        )

        assert event.skip_reason == "echo of revsync write-back"
        assert event.object_ids == {"hubspot_company": "9876543210"}

    def test_write_back_of_another_app_is_not_skipped(self) -> None:
        (event,) = parse_hubspot(
            fixture("webhook_echo_of_own_writeback.json"), app_id="999"
        )

        assert event.skip_reason is None

    def test_nothing_is_skipped_without_app_id(self) -> None:
        (event,) = parse_hubspot(
            fixture("webhook_echo_of_own_writeback.json"), app_id=None
        )

        assert event.skip_reason is None

    def test_user_change_is_not_skipped(self) -> None:
        event = dict(closed_won_event(), changeSource="CRM_UI", sourceId=APP_ID)

        assert parse_one(event).skip_reason is None


class TestEventIdentity:
    def test_retry_has_same_event_id_as_first_attempt(self) -> None:
        first = parse_hubspot(
            fixture("webhook_batch_legacy_closedwon.json"), app_id=APP_ID
        )[0]
        (retry,) = parse_hubspot(fixture("webhook_retry_attempt1.json"), app_id=APP_ID)

        assert retry.payload["attemptNumber"] == 1
        assert retry.event_id == first.event_id

    def test_event_id_does_not_depend_on_key_order_or_spacing(self) -> None:
        event = closed_won_event()
        reordered = json.dumps([dict(reversed(list(event.items())))], indent=4)

        (parsed,) = parse_hubspot(reordered.encode(), app_id=APP_ID)

        assert parsed.event_id == parse_one(event).event_id

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("portalId", 1),
            ("subscriptionId", 1),
            ("objectId", 1),
            ("occurredAt", 1767268800124),
            ("propertyName", "amount"),
            ("propertyValue", "closedlost"),
        ],
    )
    def test_same_event_id_number_with_other_content_is_another_event(
        self, field: str, value: Any
    ) -> None:
        event = closed_won_event()

        other = parse_one(dict(event, **{field: value}))

        assert other.event_id != parse_one(event).event_id

    def test_event_id_names_portal_subscription_and_event(self) -> None:
        assert parse_one(closed_won_event()).event_id.startswith("62515:25:3816279340:")

    def test_event_id_holds_no_property_value(self) -> None:
        event = dict(closed_won_event(), propertyValue="ops@acme.example")

        assert "acme" not in parse_one(event).event_id

    def test_event_id_fits_inbox_column(self) -> None:
        event = dict(
            closed_won_event(),
            portalId=10**19,
            subscriptionId=10**19,
            eventId=10**19,
            propertyValue="x" * 10_000,
        )

        assert len(parse_one(event).event_id) <= 255
