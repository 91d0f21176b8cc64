"""The receiver: verify, store durably, enqueue, answer fast.

Nothing is acknowledged before it is committed to the inbox, and nothing from a
request that failed verification is stored. Enqueueing happens after the commit and
may fail without failing the request: the sweeper queues what was left behind.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import quote

import redis
import structlog
from flask import Flask, Response, jsonify, request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from webhooks.hubspot import parse_hubspot, verify_hubspot
from webhooks.inbound import InboundEvent, RejectedDelivery
from webhooks.operator import operator
from webhooks.proxy import public_url
from webhooks.stripe import SIGNATURE_HEADER, parse_stripe, verify_stripe
from webhooks.zendesk import parse_zendesk, verify_zendesk
from worker.celery_app import make_producer
from worker.inbox import Bursts, enqueue, insert_events
from worker.logs import configure as configure_logs
from worker.metrics import (
    BURST_EVENTS,
    WEBHOOK_EVENTS,
    WEBHOOK_SECONDS,
    WEBHOOKS,
    exposition,
    live_registry,
)
from worker.settings import Settings, settings_or_exit
from worker.store import Store, get_store
from worker.telemetry import init_sentry, remember_settings_secrets, report_exception

log = structlog.get_logger(__name__)

Verifier = Callable[[Settings, bytes], list[InboundEvent]]


def _stripe(settings: Settings, body: bytes) -> list[InboundEvent]:
    secrets = settings.stripe_webhook_secrets
    if not secrets:
        raise RejectedDelivery(404, "stripe webhooks are not configured")
    verify_stripe(
        body,
        request.headers.get(SIGNATURE_HEADER),
        secrets,
        settings.webhook_signature_tolerance,
    )
    return parse_stripe(body)


def _hubspot(settings: Settings, body: bytes) -> list[InboundEvent]:
    if settings.hubspot_client_secret is None:
        raise RejectedDelivery(404, "hubspot webhooks are not configured")
    uri = public_url(
        scheme=request.scheme,
        host=request.host,
        path=_raw_path(),
        query_string=request.query_string,
        headers=dict(request.headers),
        public_base_url=settings.webhook_public_base_url,
        trusted_proxy_hops=settings.webhook_trusted_proxy_hops,
    )
    versions = [v.strip() for v in settings.hubspot_signature_versions.split(",")]
    verify_hubspot(
        method=request.method,
        uri=uri,
        body=body,
        headers=dict(request.headers),
        client_secret=settings.hubspot_client_secret.get_secret_value(),
        now=time.time(),
        versions=[v for v in versions if v],
        tolerance=settings.webhook_signature_tolerance,
    )
    return parse_hubspot(body, app_id=settings.hubspot_app_id)


def _zendesk(settings: Settings, body: bytes) -> list[InboundEvent]:
    if settings.zendesk_webhook_secret is None:
        raise RejectedDelivery(404, "zendesk webhooks are not configured")
    verify_zendesk(
        body=body,
        headers=dict(request.headers),
        secret=settings.zendesk_webhook_secret.get_secret_value(),
        now=time.time(),
        tolerance=settings.zendesk_signature_tolerance,
    )
    return parse_zendesk(body)


def _raw_path() -> str:
    """The request path as the sender wrote it, percent-escapes and all."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if raw:
        return str(raw).split("?", 1)[0]
    return quote(request.root_path + request.path)


SOURCES: dict[str, Verifier] = {
    "stripe": _stripe,
    "hubspot": _hubspot,
    "zendesk": _zendesk,
}


def create_app(settings: Settings | None = None) -> Flask:
    """The WSGI app (``gunicorn "webhooks:create_app()"``)."""
    settings = settings or settings_or_exit("receiver")
    remember_settings_secrets(settings)
    configure_logs()
    init_sentry(settings, "receiver")
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.webhook_max_body_bytes
    store = get_store(settings.database_url)
    assert settings.redis_url, "checked by settings_or_exit"
    producer = make_producer(settings.redis_url)
    app.extensions["revsync.settings"] = settings
    app.extensions["revsync.store"] = store
    app.extensions["revsync.producer"] = producer
    bursts = Bursts(
        redis.Redis.from_url(
            settings.redis_url, socket_connect_timeout=2, socket_timeout=2
        ),
        limit=settings.burst_limit,
        window=settings.burst_window,
    )
    app.register_blueprint(operator)
    live = live_registry(store, settings.redis_url, settings.activation_delay_seconds)

    @app.post("/webhooks/<source>")
    def receive(source: str) -> tuple[Response, int]:
        verifier = SOURCES.get(source)
        if verifier is None:
            return _error(404, "unknown webhook source")
        started = time.perf_counter()
        answer = _receive(source, verifier)
        WEBHOOKS.labels(source, _outcome(answer[1])).inc()
        WEBHOOK_SECONDS.labels(source).observe(time.perf_counter() - started)
        return answer

    def _receive(source: str, verifier: Verifier) -> tuple[Response, int]:
        if request.content_length and (
            request.content_length > settings.webhook_max_body_bytes
        ):
            return _error(413, "body too large")
        if request.mimetype != "application/json":
            return _error(415, "body must be application/json")
        body = request.get_data(cache=False)
        if len(body) > settings.webhook_max_body_bytes:
            return _error(413, "body too large")

        try:
            events = verifier(settings, body)
        except RejectedDelivery as rejected:
            log.info("webhook.rejected", source=source, status=rejected.status)
            return _error(rejected.status, rejected.reason)

        # Counting the account's deliveries is the first Redis call: when Redis
        # does not answer, the rows are stored as received and the sweeper
        # sends them once it is back, without a second wait for the broker.
        queues, broker_up = bursts.route(events)
        try:
            with store.session() as session:
                created, duplicates = insert_events(
                    session, events, queued=broker_up, queues=queues
                )
        except SQLAlchemyError as error:
            log.error(
                "webhook.store_unavailable", source=source, error=type(error).__name__
            )
            report_exception(error, source=source)
            return _error(503, "event store unavailable, retry later")

        if broker_up:
            enqueue(store, producer, created, marked=True)
        if queues:
            BURST_EVENTS.labels(source).inc(len(queues))
        for event in events:
            WEBHOOK_EVENTS.labels(source, event.type, "received").inc()
        log.info(
            "webhook.accepted",
            source=source,
            accepted=len(created),
            duplicates=duplicates,
            inbox_ids=[inbox_id for inbox_id, _ in created],
        )
        return jsonify(accepted=len(events) - duplicates, duplicates=duplicates), 200

    @app.get("/metrics")
    def metrics() -> Response:
        body, content_type = exposition(live)
        return Response(body, content_type=content_type)

    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        return jsonify(status="ok"), 200

    @app.get("/readyz")
    def readyz() -> tuple[Response, int]:
        checks = {"store": _store_ready(store), "redis": _redis_ready(settings)}
        ok = all(checks.values())
        return jsonify(ready=ok, checks=checks), 200 if ok else 503

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response, int]:
        return _error(error.code or 500, error.description or error.name)

    return app


def _outcome(status: int) -> str:
    return {
        200: "accepted",
        400: "malformed",
        401: "bad_signature",
        404: "not_configured",
        413: "too_large",
        415: "not_json",
        503: "store_unavailable",
    }.get(status, str(status))


def _error(status: int, reason: str) -> tuple[Response, int]:
    return jsonify(error=reason), status


def _store_ready(store: Store) -> bool:
    try:
        with store.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return False
    return True


def _redis_ready(settings: Settings) -> bool:
    import redis

    if not settings.redis_url:
        return False
    client = redis.Redis.from_url(
        settings.redis_url, socket_connect_timeout=1, socket_timeout=1
    )
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()
