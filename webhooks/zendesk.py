"""Verify and parse Zendesk webhook deliveries.

A Zendesk webhook works in one of two modes, fixed when it is created:

* subscribed to Zendesk events: Zendesk posts a fixed envelope with ``type``
  (``zen:event-type:organization.created``), a unique ``id``, ``time``,
  ``subject`` (``zen:organization:9001``), ``detail`` and ``event``;
* connected to a trigger or automation: the body is whatever the admin typed in
  the trigger action. revsync's triggers must use ``TRIGGER_BODY_TEMPLATE``.

Both modes are signed the same way, with the webhook's signing secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from .inbound import InboundEvent, RejectedDelivery
from .proxy import header_value

EVENT_TYPE_PREFIX: Final = "zen:event-type:"
TRIGGER_SOURCE: Final = "zendesk_trigger"

#: The JSON body to paste into the "Notify active webhook" action of every trigger
#: or automation that calls revsync. ``source`` tells revsync the body follows this
#: template; ``trigger`` is a constant the admin chooses per trigger (lowercase
#: letters, digits and underscores) and becomes the event type
#: ``trigger.<trigger>``. Every placeholder is quoted so that an empty value
#: still renders valid JSON.
TRIGGER_BODY_TEMPLATE: Final = {
    "source": TRIGGER_SOURCE,
    "trigger": "ticket_solved_or_updated",
    "ticket_id": "{{ticket.id}}",
    "ticket_status": "{{ticket.status}}",
    "updated_at": "{{ticket.updated_at_with_timestamp}}",
    "organization_id": "{{ticket.organization.id}}",
    "organization_external_id": "{{ticket.organization.external_id}}",
    "organization_name": "{{ticket.organization.name}}",
    "requester_email": "{{ticket.requester.email}}",
}

_EVENT_TYPE = re.compile(r"[a-z0-9_]{1,40}(?:\.[a-z0-9_]{1,60}){1,2}")
_EVENT_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_SUBJECT = re.compile(r"zen:([a-z_]{1,40}):([A-Za-z0-9_-]{1,64})")
_TRIGGER_NAME = re.compile(r"[a-z0-9_]{1,64}")
_NUMERIC_ID = re.compile(r"[0-9]{1,20}")


def verify_zendesk(
    *,
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    now: float,
    tolerance: int = 300,
) -> None:
    """Raise ``RejectedDelivery(401)`` unless Zendesk signed this request.

    The signature is base64(HMAC-SHA256(secret, timestamp header + raw body)),
    with the timestamp in ISO-8601. ``now`` is the current Unix time in seconds;
    a timestamp more than ``tolerance`` seconds away from it, either way, is
    rejected so that a captured request cannot be replayed later.
    """
    if not secret:
        raise RejectedDelivery(401, "no Zendesk signing secret configured")
    signature = header_value(headers, "X-Zendesk-Webhook-Signature")
    if signature is None:
        raise RejectedDelivery(401, "missing signature")
    timestamp = header_value(headers, "X-Zendesk-Webhook-Signature-Timestamp")
    if timestamp is None:
        raise RejectedDelivery(401, "missing timestamp")

    # The secret is used as text, although it looks like base64.
    message = timestamp.encode() + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    if not hmac.compare_digest(base64.b64encode(digest), signature.encode()):
        raise RejectedDelivery(401, "bad signature")

    sent = _aware_datetime(timestamp)
    if sent is None:
        raise RejectedDelivery(401, "malformed timestamp")
    age = now - sent.timestamp()
    if age > tolerance:
        raise RejectedDelivery(401, "stale timestamp")
    if age < -tolerance:
        raise RejectedDelivery(401, "timestamp in the future")


def parse_zendesk(body: bytes) -> list[InboundEvent]:
    """Turn a verified delivery into a list of one ``InboundEvent``.

    Raises ``RejectedDelivery(400)`` for a body that is neither an event
    envelope nor a body rendered from ``TRIGGER_BODY_TEMPLATE``.
    """
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise RejectedDelivery(400, "body is not valid JSON") from None
    if not isinstance(document, dict):
        raise RejectedDelivery(400, "body is not a JSON object")

    kind = document.get("type")
    if isinstance(kind, str) and kind.startswith(EVENT_TYPE_PREFIX):
        return [_subscription_event(document, kind.removeprefix(EVENT_TYPE_PREFIX))]
    if document.get("source") == TRIGGER_SOURCE:
        return [_trigger_event(document)]
    raise RejectedDelivery(400, "neither a Zendesk event nor a revsync trigger body")


def _subscription_event(document: dict[str, Any], event_type: str) -> InboundEvent:
    if not _EVENT_TYPE.fullmatch(event_type):
        raise RejectedDelivery(400, "unrecognised Zendesk event type")
    envelope_id = document.get("id")
    if not isinstance(envelope_id, str) or not _EVENT_ID.fullmatch(envelope_id):
        raise RejectedDelivery(400, "event has no valid id")
    time = document.get("time")
    occurred_at = _aware_datetime(time) if isinstance(time, str) else None
    if occurred_at is None:
        raise RejectedDelivery(400, "event has no valid time")

    return InboundEvent(
        source="zendesk",
        # Zendesk gives every event a unique id (a UUID) and keeps it on retries.
        event_id=envelope_id,
        type=event_type,
        payload=document,
        occurred_at=occurred_at,
        object_ids=_subject_ids(document, event_type),
    )


def _subject_ids(document: Mapping[str, Any], event_type: str) -> dict[str, str]:
    """Name the resource an event is about, from ``subject`` or else ``detail``."""
    subject = document.get("subject")
    match = _SUBJECT.fullmatch(subject) if isinstance(subject, str) else None
    if match is not None:
        return {f"zendesk_{match.group(1)}": match.group(2)}
    detail = document.get("detail")
    resource_id = detail.get("id") if isinstance(detail, dict) else None
    if isinstance(resource_id, int) and not isinstance(resource_id, bool):
        resource_id = str(resource_id)
    if not isinstance(resource_id, str) or not _NUMERIC_ID.fullmatch(resource_id):
        return {}
    domain = event_type.partition(".")[0]
    return {f"zendesk_{domain}": resource_id}


def _trigger_event(document: dict[str, Any]) -> InboundEvent:
    name = document.get("trigger")
    if not isinstance(name, str) or not _TRIGGER_NAME.fullmatch(name):
        raise RejectedDelivery(400, "trigger body has no valid trigger name")
    ticket_id = _numeric_id(document.get("ticket_id"))
    if ticket_id is None:
        raise RejectedDelivery(400, "trigger body has no valid ticket_id")

    object_ids = {"zendesk_ticket": ticket_id}
    organization_id = _numeric_id(document.get("organization_id"))
    if organization_id is not None:
        object_ids["zendesk_organization"] = organization_id
    updated_at = document.get("updated_at")

    return InboundEvent(
        source="zendesk",
        event_id=f"trigger:{name}:{ticket_id}:{_content_digest(document)}",
        type=f"trigger.{name}",
        payload=document,
        occurred_at=_aware_datetime(updated_at)
        if isinstance(updated_at, str)
        else None,
        object_ids=object_ids,
    )


def _content_digest(document: Mapping[str, Any]) -> str:
    """Return a digest of a trigger body, its identity within its ticket.

    A trigger body has no event id and no placeholder gives one. Every field of
    the template is rendered once, when the trigger fires, and a retry resends
    the same body, so the content itself identifies the delivery: the same
    trigger firing on a later update of the ticket renders another
    ``updated_at`` and gets another digest. The digest is taken over the parsed
    JSON with sorted keys, so whitespace or key order do not matter, and it
    keeps e-mail addresses and names out of the identity.
    """
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _numeric_id(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and _NUMERIC_ID.fullmatch(value):
        return value
    return None


def _aware_datetime(value: str) -> datetime | None:
    """Parse an ISO-8601 time with a UTC offset, such as ``2021-03-25T05:09:27Z``."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed
