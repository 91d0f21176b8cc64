from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from webhooks.hubspot import verify_hubspot
from webhooks.inbound import RejectedDelivery
from webhooks.proxy import header_value, public_url

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PATH = "/webhooks/hubspot"


def url(**overrides: Any) -> str:
    arguments: dict[str, Any] = {
        "scheme": "http",
        "host": "10.0.0.7:8000",
        "path": PATH,
        "query_string": b"",
        "headers": {},
        "public_base_url": None,
        "trusted_proxy_hops": 0,
    }
    arguments.update(overrides)
    return public_url(**arguments)


class TestPublicBaseUrl:
    def test_wins_over_request_and_forwarded_headers(self) -> None:
        headers = {"X-Forwarded-Proto": "http", "X-Forwarded-Host": "evil.example"}

        result = url(
            public_base_url="https://hooks.example.com",
            headers=headers,
            trusted_proxy_hops=1,
        )

        assert result == "https://hooks.example.com/webhooks/hubspot"

    def test_ignores_trailing_slash(self) -> None:
        result = url(public_base_url="https://hooks.example.com/")

        assert result == "https://hooks.example.com/webhooks/hubspot"

    def test_keeps_path_prefix(self) -> None:
        result = url(public_base_url="https://example.com/revsync")

        assert result == "https://example.com/revsync/webhooks/hubspot"

    def test_appends_raw_query(self) -> None:
        result = url(
            public_base_url="https://hooks.example.com",
            query_string=b"tenant=acme%3Aeu&q=x%20y",
        )

        assert (
            result
            == "https://hooks.example.com/webhooks/hubspot?tenant=acme%3Aeu&q=x%20y"
        )


class TestWithoutTrustedProxies:
    def test_uses_request_scheme_and_host(self) -> None:
        assert url() == "http://10.0.0.7:8000/webhooks/hubspot"

    def test_ignores_spoofed_forwarded_headers(self) -> None:
        headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}

        assert url(headers=headers) == "http://10.0.0.7:8000/webhooks/hubspot"

    def test_ignores_forwarded_header(self) -> None:
        headers = {"Forwarded": "proto=https;host=evil.example"}

        assert url(headers=headers) == "http://10.0.0.7:8000/webhooks/hubspot"

    def test_drops_default_port(self) -> None:
        result = url(scheme="https", host="hooks.example.com:443")

        assert result == "https://hooks.example.com/webhooks/hubspot"

    def test_keeps_other_port(self) -> None:
        result = url(scheme="https", host="hooks.example.com:8443")

        assert result == "https://hooks.example.com:8443/webhooks/hubspot"

    def test_omits_question_mark_without_query(self) -> None:
        assert "?" not in url(query_string=b"")

    def test_rejects_negative_hops(self) -> None:
        with pytest.raises(ValueError, match="trusted_proxy_hops"):
            url(trusted_proxy_hops=-1)


class TestWithTrustedProxies:
    def test_one_hop_uses_forwarded_scheme_and_host(self) -> None:
        headers = {
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "hooks.example.com",
        }

        result = url(headers=headers, trusted_proxy_hops=1)

        assert result == "https://hooks.example.com/webhooks/hubspot"

    def test_one_hop_takes_right_most_value(self) -> None:
        headers = {
            "X-Forwarded-Proto": "http, https",
            "X-Forwarded-Host": "evil.example, hooks.example.com",
        }

        result = url(headers=headers, trusted_proxy_hops=1)

        assert result == "https://hooks.example.com/webhooks/hubspot"

    def test_two_hops_take_second_value_from_right(self) -> None:
        headers = {
            "X-Forwarded-Proto": "http, https, http",
            "X-Forwarded-Host": "evil.example, hooks.example.com, lb.internal",
        }

        result = url(headers=headers, trusted_proxy_hops=2)

        assert result == "https://hooks.example.com/webhooks/hubspot"

    def test_ignores_header_with_fewer_values_than_hops(self) -> None:
        headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}

        result = url(headers=headers, trusted_proxy_hops=2)

        assert result == "http://10.0.0.7:8000/webhooks/hubspot"

    def test_ignores_invalid_forwarded_values(self) -> None:
        headers = {
            "X-Forwarded-Proto": "javascript",
            "X-Forwarded-Host": "evil.example/path",
        }

        result = url(headers=headers, trusted_proxy_hops=1)

        assert result == "http://10.0.0.7:8000/webhooks/hubspot"

    def test_falls_back_per_header(self) -> None:
        headers = {"X-Forwarded-Proto": "https"}

        result = url(headers=headers, trusted_proxy_hops=1)

        assert result == "https://10.0.0.7:8000/webhooks/hubspot"

    def test_reads_headers_in_any_case(self) -> None:
        headers = {
            "x-forwarded-proto": "HTTPS",
            "X-FORWARDED-HOST": "hooks.example.com",
        }

        result = url(headers=headers, trusted_proxy_hops=1)

        assert result == "https://hooks.example.com/webhooks/hubspot"

    def test_drops_default_port_of_forwarded_host(self) -> None:
        headers = {
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "hooks.example.com:443",
        }

        result = url(headers=headers, trusted_proxy_hops=1)

        assert result == "https://hooks.example.com/webhooks/hubspot"

    def test_keeps_ipv6_host(self) -> None:
        headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "[2001:db8::1]"}

        result = url(headers=headers, trusted_proxy_hops=1)

        assert result == "https://[2001:db8::1]/webhooks/hubspot"


class TestSignedUrlRoundTrip:
    def test_reconstructed_url_verifies_hubspot_signature(self) -> None:
        vectors = json.loads((FIXTURES / "signature_vectors.json").read_text())
        vector = next(
            v for v in vectors["hubspot"] if v["name"] == "v3_uri_needs_decoding"
        )
        uri = url(
            headers={
                "X-Forwarded-Proto": "https",
                "X-Forwarded-Host": "hooks.example.com",
            },
            query_string=b"tenant=acme%3Aeu&tags=a%2Cb&q=x%20y",
            trusted_proxy_hops=1,
        )

        verify_hubspot(
            method="POST",
            uri=uri,
            body=vector["body"].encode(),
            headers={
                "X-HubSpot-Signature-v3": vector["computed_signature"],
                "X-HubSpot-Request-Timestamp": vector["timestamp"],
            },
            client_secret=vector["secret"],
            now=int(vector["timestamp"]) / 1000,
        )

    def test_url_seen_behind_proxy_fails_hubspot_signature(self) -> None:
        vectors = json.loads((FIXTURES / "signature_vectors.json").read_text())
        vector = next(
            v for v in vectors["hubspot"] if v["name"] == "v3_generic_compact_body"
        )

        with pytest.raises(RejectedDelivery, match="bad signature"):
            verify_hubspot(
                method="POST",
                uri=url(host="hooks.example.com"),
                body=vector["body"].encode(),
                headers={
                    "X-HubSpot-Signature-v3": vector["computed_signature"],
                    "X-HubSpot-Request-Timestamp": vector["timestamp"],
                },
                client_secret=vector["secret"],
                now=int(vector["timestamp"]) / 1000,
            )


class TestHeaderValue:
    def test_finds_header_in_any_case(self) -> None:
        assert header_value(
            {"x-zendesk-webhook-id": "01GK"}, "X-Zendesk-Webhook-Id"
        ) == ("01GK")

    def test_returns_none_when_absent(self) -> None:
        assert header_value({"Content-Type": "application/json"}, "X-Other") is None

    def test_conflicting_values_count_as_absent(self) -> None:
        headers = {"X-Signature": "a", "x-signature": "b"}

        assert header_value(headers, "X-Signature") is None

    def test_strips_surrounding_whitespace(self) -> None:
        assert header_value({"X-Signature": " abc "}, "x-signature") == "abc"
