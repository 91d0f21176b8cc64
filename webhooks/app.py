"""The receiver: verify, store durably, enqueue, answer fast.

Nothing is acknowledged before it is committed to the inbox, and nothing from a
request that failed verification is stored. Enqueueing happens after the commit and
may fail without failing the request: the sweeper queues what was left behind.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
from flask import Flask, Response, jsonify, request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from webhooks.inbound import InboundEvent, RejectedDelivery
from webhooks.stripe import SIGNATURE_HEADER, parse_stripe, verify_stripe
from worker.inbox import enqueue, insert_events
from worker.settings import Settings, settings_or_exit
from worker.store import Store, get_store

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


SOURCES: dict[str, Verifier] = {"stripe": _stripe}


def create_app(settings: Settings | None = None) -> Flask:
    """The WSGI app (``gunicorn "webhooks:create_app()"``)."""
    settings = settings or settings_or_exit("receiver")
    app = Flask("revsync")
    app.config["MAX_CONTENT_LENGTH"] = settings.webhook_max_body_bytes
    store = get_store(settings.database_url)
    app.extensions["revsync.settings"] = settings
    app.extensions["revsync.store"] = store

    @app.post("/webhooks/<source>")
    def receive(source: str) -> tuple[Response, int]:
        verifier = SOURCES.get(source)
        if verifier is None:
            return _error(404, "unknown webhook source")
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

        try:
            with store.session() as session:
                created, duplicates = insert_events(session, events)
        except SQLAlchemyError as error:
            log.error(
                "webhook.store_unavailable", source=source, error=type(error).__name__
            )
            return _error(503, "event store unavailable, retry later")

        enqueue(store, created)
        log.info(
            "webhook.accepted",
            source=source,
            accepted=len(created),
            duplicates=duplicates,
        )
        return jsonify(accepted=len(events) - duplicates, duplicates=duplicates), 200

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
