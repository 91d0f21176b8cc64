"""Verify and parse HubSpot webhook deliveries.

HubSpot posts a JSON array of up to 100 events per request. The request is signed
with the app's client secret: v3 (``X-HubSpot-Signature-v3``) carries a timestamp
and covers method, URL and body; the older v1 and v2 (``X-HubSpot-Signature`` with
``X-HubSpot-Signature-Version``) carry no timestamp, so a captured request stays
valid for ever and they are only accepted when explicitly allowed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from hubspot.utils.signature import Signature

from .inbound import InboundEvent, RejectedDelivery
from .proxy import header_value

MAX_EVENTS = 100
SIGNATURE_VERSIONS = frozenset({"v1", "v2", "v3"})

#: CRM object type ids used by ``object.*`` subscriptions, named like the legacy
#: ``<object>.*`` subscription types so that both forms share one event type.
OBJECT_TYPES = {
    "0-1": "contact",
    "0-2": "company",
    "0-3": "deal",
    "0-5": "ticket",
    "0-7": "product",
    "0-8": "line_item",
    "0-14": "quote",
    "0-53": "invoice",
    "0-69": "subscription",
    "0-101": "payment",
    "0-123": "order",
}

# HubSpot decodes exactly these escapes in the URL before signing with v3; any
# other escape (%20, %26, %3D, ...) is signed as sent.
_V3_ESCAPES = re.compile(r"%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)", re.IGNORECASE)
_MILLISECONDS = re.compile(r"[0-9]{1,15}")
_DIGITS = re.compile(r"[0-9]{1,20}")
_SUBSCRIPTION_TYPE = re.compile(r"[A-Za-z0-9_-]{1,40}(?:\.[A-Za-z0-9_-]{1,40}){1,2}")
_OBJECT_TYPE_ID = re.compile(r"[0-9]{1,4}-[0-9]{1,20}")
# The year 10000 does not fit in a datetime.
_MAX_MILLISECONDS = 253_402_300_800_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Fields that together name one event. attemptNumber is left out on purpose: it
# is the only field that changes when HubSpot redelivers the same event.
_IDENTITY_FIELDS = (
    "portalId",
    "appId",
    "subscriptionId",
    "eventId",
    "subscriptionType",
    "eventType",
    "objectTypeId",
    "objectId",
    "occurredAt",
    "propertyName",
    "propertyValue",
    "changeFlag",
    "associationType",
    "fromObjectId",
    "toObjectId",
    "associationRemoved",
    "primaryObjectId",
    "mergedObjectIds",
    "newObjectId",
)


def verify_hubspot(
    *,
    method: str,
    uri: str,
    body: bytes,
    headers: Mapping[str, str],
    client_secret: str,
    now: float,
    versions: Collection[str] = ("v3",),
    tolerance: int = 300,
) -> None:
    """Raise ``RejectedDelivery(401)`` unless HubSpot signed this request.

    ``uri`` is the full URL HubSpot posted to (see ``proxy.public_url``), ``body``
    the raw bytes and ``now`` the current Unix time in seconds. When v3 is allowed
    and its header is present, only v3 is checked: falling back to v1 after a
    failed v3 check would let an attacker strip the v3 header and replay an old
    request with its timeless v1 signature.
    """
    allowed = {version.lower() for version in versions}
    if not allowed <= SIGNATURE_VERSIONS:
        raise ValueError("unknown HubSpot signature version configured")
    if not client_secret:
        raise RejectedDelivery(401, "no HubSpot client secret configured")

    signature_v3 = header_value(headers, "X-HubSpot-Signature-v3")
    if "v3" in allowed and signature_v3 is not None:
        _verify_v3(
            signature_v3,
            method=method,
            uri=uri,
            body=body,
            headers=headers,
            client_secret=client_secret,
            now=now,
            tolerance=tolerance,
        )
        return

    signature = header_value(headers, "X-HubSpot-Signature")
    version = header_value(headers, "X-HubSpot-Signature-Version")
    if signature is None or version is None:
        raise RejectedDelivery(401, "missing signature")
    version = version.lower()
    if version not in allowed or version == "v3":
        raise RejectedDelivery(401, "signature version not accepted")
    _verify_v1_v2(
        version,
        signature,
        method=method,
        uri=uri,
        body=body,
        client_secret=client_secret,
    )


def _verify_v3(
    signature: str,
    *,
    method: str,
    uri: str,
    body: bytes,
    headers: Mapping[str, str],
    client_secret: str,
    now: float,
    tolerance: int,
) -> None:
    timestamp = header_value(headers, "X-HubSpot-Request-Timestamp")
    if timestamp is None:
        raise RejectedDelivery(401, "missing timestamp")

    # Signature.is_valid is not used for v3: it checks freshness against the wall
    # clock (``now`` cannot be passed), accepts timestamps any distance in the
    # future, hashes a str (so a body that is not UTF-8 cannot be verified) and
    # does not apply HubSpot's URL decoding.
    message = (
        method.upper().encode() + _v3_uri(uri).encode() + body + timestamp.encode()
    )
    digest = hmac.new(client_secret.encode(), message, hashlib.sha256).digest()
    if not hmac.compare_digest(base64.b64encode(digest), signature.encode()):
        raise RejectedDelivery(401, "bad signature")

    if not _MILLISECONDS.fullmatch(timestamp):
        raise RejectedDelivery(401, "malformed timestamp")
    age = now - int(timestamp) / 1000
    if age > tolerance:
        raise RejectedDelivery(401, "stale timestamp")
    if age < -tolerance:
        raise RejectedDelivery(401, "timestamp in the future")


def _v3_uri(uri: str) -> str:
    """Decode the escapes HubSpot decodes before it signs the URL with v3."""
    return _V3_ESCAPES.sub(lambda match: chr(int(match.group(1), 16)), uri)


def _verify_v1_v2(
    version: str,
    signature: str,
    *,
    method: str,
    uri: str,
    body: bytes,
    client_secret: str,
) -> None:
    # The SDK hashes text, and compares with hmac.compare_digest, which raises
    # TypeError for non-ASCII text instead of returning False.
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise RejectedDelivery(401, "body is not UTF-8") from None
    if not signature.isascii():
        raise RejectedDelivery(401, "bad signature")
    valid = Signature.is_valid(
        signature=signature,
        client_secret=client_secret,
        request_body=text,
        http_uri=uri,
        http_method=method.upper(),
        signature_version=version,
    )
    if not valid:
        raise RejectedDelivery(401, "bad signature")


def parse_hubspot(body: bytes, *, app_id: str | None) -> list[InboundEvent]:
    """Turn a verified delivery into one ``InboundEvent`` per HubSpot event.

    ``app_id`` is revsync's own HubSpot app id; events caused by revsync's own
    writes are returned with a ``skip_reason`` so that they are stored but not
    processed. A malformed delivery is rejected as a whole with
    ``RejectedDelivery(400)``.
    """
    try:
        events = json.loads(body)
    except (ValueError, RecursionError):
        raise RejectedDelivery(400, "body is not valid JSON") from None
    if not isinstance(events, list):
        raise RejectedDelivery(400, "body is not a JSON array")
    if len(events) > MAX_EVENTS:
        raise RejectedDelivery(400, f"more than {MAX_EVENTS} events")
    return [_inbound_event(index, event, app_id) for index, event in enumerate(events)]


def _inbound_event(index: int, event: Any, app_id: str | None) -> InboundEvent:
    if not isinstance(event, dict):
        raise RejectedDelivery(400, f"event {index} is not an object")
    for name in ("portalId", "subscriptionId", "eventId"):
        if _id(event.get(name)) is None:
            raise RejectedDelivery(400, f"event {index} has no valid {name}")
    # The 2023 docs called the field eventType; every real payload uses
    # subscriptionType.
    subscription_type = event.get("subscriptionType", event.get("eventType"))
    if not isinstance(subscription_type, str) or not _SUBSCRIPTION_TYPE.fullmatch(
        subscription_type
    ):
        raise RejectedDelivery(400, f"event {index} has no valid subscriptionType")
    occurred_at = event.get("occurredAt")
    if (
        not isinstance(occurred_at, int)
        or isinstance(occurred_at, bool)
        or not 0 <= occurred_at < _MAX_MILLISECONDS
    ):
        raise RejectedDelivery(400, f"event {index} has no valid occurredAt")

    event_type, object_type = _event_type(event, subscription_type)
    return InboundEvent(
        source="hubspot",
        event_id=_event_id(event),
        type=event_type,
        payload=event,
        occurred_at=_EPOCH + timedelta(milliseconds=occurred_at),
        skip_reason="echo of revsync write-back" if _is_echo(event, app_id) else None,
        object_ids=_object_ids(event, object_type),
    )


def _event_id(event: Mapping[str, Any]) -> str:
    """Return the deduplication identity of one HubSpot event.

    HubSpot documents that ``eventId`` is not guaranteed to be unique and that an
    event may be delivered more than once, out of order. The identity is
    therefore ``<portalId>:<subscriptionId>:<eventId>:<digest>``, where the digest
    is a SHA-256 over the fields that describe what happened: portal, app,
    subscription, event id, subscription type, object type and id, occurredAt,
    property name and new value, change flag, and the association and merge
    fields. Two events only collide if all of these agree.

    ``attemptNumber`` is excluded, so a redelivery gives the same identity. The
    fields are listed rather than hashing the whole event minus attemptNumber:
    a field HubSpot might add per delivery would otherwise break deduplication
    of every event, while a listed field can only ever separate two events.
    Property values are only present hashed, so the identity holds no customer
    data.
    """
    stable = {name: event[name] for name in _IDENTITY_FIELDS if name in event}
    canonical = json.dumps(stable, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:32]
    portal = _id(event.get("portalId"))
    subscription = _id(event.get("subscriptionId"))
    number = _id(event.get("eventId"))
    return f"{portal}:{subscription}:{number}:{digest}"


def _event_type(event: Mapping[str, Any], subscription_type: str) -> tuple[str, str]:
    """Return the normalised event type and the object type it is about.

    ``object.propertyChange`` with ``objectTypeId`` "0-3" becomes
    ``deal.propertyChange``, the name of the legacy subscription for the same
    change. An object type id not in ``OBJECT_TYPES`` (custom objects) keeps the
    generic name.
    """
    prefix, _, action = subscription_type.partition(".")
    if prefix != "object":
        return subscription_type, prefix
    type_id = event.get("objectTypeId")
    if not isinstance(type_id, str) or not _OBJECT_TYPE_ID.fullmatch(type_id):
        return subscription_type, "object"
    name = OBJECT_TYPES.get(type_id)
    if name is None:
        return subscription_type, f"object_{type_id}"
    return f"{name}.{action}", name


def _object_ids(event: Mapping[str, Any], object_type: str) -> dict[str, str]:
    ids: dict[str, str] = {}
    object_id = _id(event.get("objectId")) or _id(event.get("primaryObjectId"))
    if object_id is not None:
        ids[f"hubspot_{object_type}"] = object_id

    # Association events carry fromObjectId and toObjectId instead of objectId,
    # with the two object types spelled in associationType, e.g. DEAL_TO_COMPANY.
    from_id = _id(event.get("fromObjectId"))
    to_id = _id(event.get("toObjectId"))
    from_type, to_type = _association_types(event.get("associationType"))
    if from_id is not None:
        ids.setdefault(f"hubspot_{from_type or object_type}", from_id)
    if to_id is not None and to_type is not None:
        ids.setdefault(f"hubspot_{to_type}", to_id)
    return ids


def _association_types(association_type: Any) -> tuple[str | None, str | None]:
    if not isinstance(association_type, str):
        return None, None
    from_type, separator, to_type = association_type.lower().partition("_to_")
    known = set(OBJECT_TYPES.values())
    if not separator or from_type not in known or to_type not in known:
        return None, None
    return from_type, to_type


def _is_echo(event: Mapping[str, Any], app_id: str | None) -> bool:
    """Tell whether revsync's own write-back caused this event.

    A change made through an app has ``changeSource`` INTEGRATION and the app's
    id as ``sourceId``.
    """
    if not app_id or event.get("changeSource") != "INTEGRATION":
        return False
    return _id(event.get("sourceId")) == app_id


def _id(value: Any) -> str | None:
    """Return a numeric HubSpot id as text, or None if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if value >= 0 else None
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return value
    return None
