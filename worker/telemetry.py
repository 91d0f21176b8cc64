"""Error reporting to Sentry, and the scrubbing that keeps personal data out of it.

Sentry is on only where ``SENTRY_DSN`` is set, in the receiver and in worker and
Beat processes. Whatever leaves the process passes the scrubber first: request
bodies are never read, local variables are never captured, and every event,
transaction and breadcrumb is walked to mask payloads, e-mail addresses, names and
secrets. The same masking serves the structured logs (``worker.logs``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from importlib import metadata
from typing import Any, cast

REDACTED = "[redacted]"

EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
# Credentials in URLs (scheme://user:password@host) and well-known secret shapes.
URL_CREDENTIALS = re.compile(r"(?<=://)[^/\s:@]+:[^/\s@]+@")
SECRET_SHAPES = re.compile(
    r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]+|\bwhsec_[A-Za-z0-9_]+"
    r"|\bpat-[a-z0-9]{2,4}-[A-Za-z0-9\-]+|\bBearer\s+[A-Za-z0-9._~+/=\-]+"
)
SECRET_KEY = re.compile(
    r"pass(word|wd)?|secret|token|api[_-]?key|authori[sz]ation|cookie|signature"
    r"|credential|dsn|session|private",
    re.IGNORECASE,
)
# Keys whose values identify a person or carry what a source system sent us.
PERSONAL_KEYS = frozenset(
    """name email e_mail phone mobile address line1 line2 city postal_code zip
    street street2 vat tax_id firstname lastname first_name last_name full_name
    customer_name customer_email customer_phone customer_address receipt_email
    billing_details shipping description requester company domain payload body
    raw_body data_object""".split()
)

# Values of this process's own secrets, masked wherever they show up.
_secret_values: set[str] = set()


def remember_secrets(values: Iterable[str | None]) -> None:
    """Mask these exact values (passwords, tokens, the DSN) in every report."""
    for value in values:
        if value and len(value) >= 6:
            _secret_values.add(value)


def remember_settings_secrets(settings: Any) -> None:
    """Remember every secret setting of ``settings`` (a ``Settings``)."""
    from pydantic import SecretStr

    values: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name, None)
        if isinstance(value, SecretStr):
            raw = value.get_secret_value()
            values.append(raw)
            values.extend(part.strip() for part in raw.split(","))
    remember_secrets(values)


def scrub_text(text: str) -> str:
    """``text`` with e-mail addresses, URL credentials and known secrets masked."""
    for secret in _secret_values:
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = URL_CREDENTIALS.sub(REDACTED + "@", text)
    text = SECRET_SHAPES.sub(REDACTED, text)
    return EMAIL.sub("[email]", text)


def scrub(value: Any, key: str | None = None, *, personal: bool = True) -> Any:
    """A copy of ``value`` with secrets (by key and shape) and personal data masked.

    ``personal`` masks the values of keys that name personal data (``name``,
    ``email``...); it is off where the SDK itself uses such keys (``contexts``).
    """
    if key is not None and SECRET_KEY.search(key):
        return REDACTED if value not in (None, "", [], {}) else value
    if personal and key is not None and key.lower() in PERSONAL_KEYS:
        return REDACTED if value not in (None, "", [], {}) else value
    if isinstance(value, Mapping):
        return {k: scrub(v, str(k), personal=personal) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(item, key, personal=personal) for item in value]
    if isinstance(value, str):
        return scrub_text(value)
    return value


def _is_ours(exception: Mapping[str, Any]) -> bool:
    # revsync's own errors are written to be safe to show (worker.errors); the
    # messages of other libraries may quote the values they choked on.
    module = str(exception.get("module") or "")
    return module.split(".")[0] in ("worker", "webhooks")


def _strip_query(url: Any) -> Any:
    return url.split("?", 1)[0] if isinstance(url, str) else url


def scrub_event(event: dict[str, Any], hint: Any = None) -> dict[str, Any]:
    """The ``before_send`` hook: mask everything that may identify or authorise."""
    event.pop("user", None)

    request = event.get("request")
    if isinstance(request, dict):
        for part in ("data", "cookies", "query_string", "env"):
            request.pop(part, None)
        request["url"] = _strip_query(request.get("url"))
        if isinstance(request.get("headers"), dict):
            request["headers"] = {
                name: REDACTED if SECRET_KEY.search(name) else scrub_text(str(v))
                for name, v in request["headers"].items()
            }

    exceptions = (event.get("exception") or {}).get("values") or []
    for exception in exceptions:
        value = exception.get("value")
        if isinstance(value, str):
            exception["value"] = scrub_text(value) if _is_ours(exception) else REDACTED
        for frame in (exception.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)
    for thread in (event.get("threads") or {}).get("values") or []:
        for frame in (thread.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)

    logentry = event.get("logentry")
    if isinstance(logentry, dict):
        # Keep the constant message, never the values formatted into it.
        template = scrub_text(str(logentry.get("message") or ""))
        event["logentry"] = {"message": template, "params": [], "formatted": template}
    if isinstance(event.get("message"), str):
        event["message"] = scrub_text(event["message"])

    if "extra" in event:
        event["extra"] = scrub(event["extra"])
    if "contexts" in event:
        event["contexts"] = scrub(event["contexts"], personal=False)
    if "tags" in event:
        event["tags"] = scrub(event["tags"])

    crumbs = event.get("breadcrumbs")
    values = crumbs.get("values") if isinstance(crumbs, dict) else crumbs
    if isinstance(values, list):
        cleaned = [scrub_breadcrumb(crumb) for crumb in values]
        kept = [crumb for crumb in cleaned if crumb is not None]
        if isinstance(crumbs, dict):
            crumbs["values"] = kept
        else:
            event["breadcrumbs"] = kept

    for span in event.get("spans") or []:
        span["description"] = scrub_text(str(span.get("description") or ""))
        if "data" in span:
            span["data"] = scrub(span["data"])
    return event


def scrub_transaction(event: dict[str, Any], hint: Any = None) -> dict[str, Any]:
    """The ``before_send_transaction`` hook: the same masking as for errors."""
    return scrub_event(event, hint)


def scrub_breadcrumb(crumb: dict[str, Any], hint: Any = None) -> dict[str, Any] | None:
    """The ``before_breadcrumb`` hook: no query strings, no personal values."""
    if isinstance(crumb.get("message"), str):
        crumb["message"] = scrub_text(crumb["message"])
    data = crumb.get("data")
    if isinstance(data, dict):
        data = scrub(data)
        if "url" in data:
            data["url"] = _strip_query(data["url"])
        data.pop("http.query", None)
        data.pop("http.fragment", None)
        crumb["data"] = data
    return crumb


def release() -> str:
    """``revsync@<version>``, the release Sentry groups reports under."""
    try:
        return f"revsync@{metadata.version('revsync')}"
    except metadata.PackageNotFoundError:
        return "revsync@unknown"


def init_sentry(settings: Any, component: str) -> bool:
    """Start reporting to Sentry when ``SENTRY_DSN`` is set; True if it started.

    :param settings: the process's ``Settings``.
    :param component: ``receiver``, ``worker`` or ``beat``, a tag on every report.
        Beat's schedule is reported as cron monitors (``monitor_beat_tasks``),
        checked in by the workers that run the tasks.
    """
    if settings.sentry_dsn is None or not settings.sentry_dsn.get_secret_value():
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.flask import FlaskIntegration

    remember_settings_secrets(settings)
    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.revsync_env,
        release=release(),
        integrations=[
            FlaskIntegration(),
            CeleryIntegration(monitor_beat_tasks=True),
        ],
        send_default_pii=False,
        max_request_body_size="never",
        include_local_variables=False,
        # The hooks take plain dicts; the SDK's TypedDicts are the same at run time.
        before_send=cast(Any, scrub_event),
        before_send_transaction=cast(Any, scrub_transaction),
        before_breadcrumb=scrub_breadcrumb,
        traces_sample_rate=settings.sentry_traces_sample_rate,
    )
    sentry_sdk.set_tag("component", component)
    return True


def report_exception(error: BaseException, **tags: str | int | None) -> None:
    """Send a handled exception to Sentry (a no-op where Sentry is off)."""
    import sentry_sdk

    if not sentry_sdk.get_client().is_active():
        return
    with sentry_sdk.new_scope() as scope:
        for name, value in tags.items():
            if value is not None:
                scope.set_tag(name, str(value))
        sentry_sdk.capture_exception(error)
