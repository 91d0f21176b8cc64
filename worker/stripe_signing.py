"""Signing a payload the way Stripe does, for the demo, tests and benchmarks."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import requests


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header value for ``body``: ``t=<unix>,v1=<hex>``."""
    stamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{stamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def post_signed(
    base_url: str, event: dict[str, Any], secret: str, timeout: float = 10
) -> requests.Response:
    """POST ``event`` to ``base_url``/webhooks/stripe, signed as Stripe signs it."""
    body = json.dumps(event).encode()
    return requests.post(
        f"{base_url}/webhooks/stripe",
        data=body,
        headers={
            "Content-Type": "application/json",
            "Stripe-Signature": sign(body, secret),
        },
        timeout=timeout,
    )
