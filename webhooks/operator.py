"""The operator API (JSON) and console (server-rendered HTML) of the receiver.

Both require ``REVSYNC_OPERATOR_TOKEN``: as a bearer token for the API, or as the
password of HTTP basic auth for the console in a browser. Console forms also carry a
token derived from it, so another site cannot make an operator's browser replay or
skip events. Every action goes through ``worker.operations`` and is audited.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response as WerkzeugResponse

from worker.operations import (
    EventFilter,
    OperationError,
    event_story,
    list_events,
    release,
    replay,
    skip,
)
from worker.settings import Settings
from worker.status import inbox_summary

operator = Blueprint("operator", __name__, url_prefix="/operator")
EXCEPTIONS = ("dead", "held", "waiting")


def _settings() -> Settings:
    settings: Settings = current_app.extensions["revsync.settings"]
    return settings


def _token() -> str | None:
    token = _settings().revsync_operator_token
    return token.get_secret_value() if token else None


def _presented() -> tuple[str | None, str]:
    """The token the request presents and the name of who presented it."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip(), "api"
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None, "console"
        return password, user or "console"
    return None, "anonymous"


@operator.before_request
def authenticate() -> Response | None:
    expected = _token()
    presented, who = _presented()
    if (
        not expected
        or not presented
        or not hmac.compare_digest(presented.encode(), expected.encode())
    ):
        response = jsonify(error="operator token missing or wrong")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Basic realm="revsync operator"'
        return response
    request.environ["revsync.operator"] = who[:64]
    return None


def _actor() -> str:
    return f"operator:{request.environ.get('revsync.operator', 'unknown')}"


def _form_token() -> str:
    key = (_token() or "").encode()
    return hmac.new(key, b"revsync console form", hashlib.sha256).hexdigest()


def _check_form() -> None:
    if not hmac.compare_digest(request.form.get("form_token", ""), _form_token()):
        abort(400, "form token missing or wrong")


def _store() -> Any:
    return current_app.extensions["revsync.store"]


def _producer() -> Any:
    return current_app.extensions["revsync.producer"]


def _filter_from(args: Any) -> EventFilter:
    ids = tuple(int(i) for i in args.get("ids", []) or [])
    account = args.get("account")
    return EventFilter(
        status=args.get("status") or None,
        source=args.get("source") or None,
        type=args.get("type") or None,
        account=int(account) if account else None,
        ids=ids,
        limit=min(int(args.get("limit") or 100), 1000),
    )


# -- JSON API -------------------------------------------------------------------


@operator.get("/api/status")
def api_status() -> Response:
    return jsonify(inbox_summary(_store()))


@operator.get("/api/events")
def api_events() -> Response:
    return jsonify(events=list_events(_store(), _filter_from(request.args)))


@operator.get("/api/events/<int:inbox_id>")
def api_event(inbox_id: int) -> tuple[Response, int]:
    try:
        return jsonify(event_story(_store(), inbox_id)), 200
    except OperationError as error:
        return jsonify(error=str(error)), 404


@operator.post("/api/events/<action>")
def api_act(action: str) -> tuple[Response, int]:
    body = request.get_json(silent=True) or {}
    note = str(body.get("note") or "")
    events = _filter_from(body)
    try:
        if action == "replay":
            ids = replay(_store(), _producer(), events, actor=_actor(), note=note)
        elif action == "skip":
            ids = skip(_store(), events, actor=_actor(), note=note)
        elif action == "release":
            ids = release(_store(), _producer(), events, actor=_actor(), note=note)
        else:
            return jsonify(error=f"unknown action {action}"), 404
    except OperationError as error:
        return jsonify(error=str(error)), 400
    return jsonify(action=action, ids=ids), 200


# -- Console --------------------------------------------------------------------


@operator.get("/")
def console() -> str:
    summary = inbox_summary(_store())
    exceptions = {
        status: list_events(_store(), EventFilter(status=status, limit=200))
        for status in EXCEPTIONS
    }
    return render_template(
        "console.html",
        summary=summary,
        exceptions=exceptions,
        form_token=_form_token(),
    )


@operator.get("/events/<int:inbox_id>")
def console_event(inbox_id: int) -> str:
    try:
        story = event_story(_store(), inbox_id)
    except OperationError:
        abort(404)
    return render_template("event.html", event=story, form_token=_form_token())


@operator.post("/events/<int:inbox_id>/<action>")
def console_act(inbox_id: int, action: str) -> WerkzeugResponse:
    _check_form()
    note = request.form.get("note") or f"{action} from the console"
    events = EventFilter(ids=(inbox_id,))
    try:
        if action == "replay":
            replay(_store(), _producer(), events, actor=_actor(), note=note)
        elif action == "skip":
            skip(_store(), events, actor=_actor(), note=note)
        elif action == "release":
            release(_store(), _producer(), events, actor=_actor(), note=note)
        else:
            abort(404)
    except OperationError as error:
        abort(400, str(error))
    return redirect(url_for("operator.console_event", inbox_id=inbox_id))
