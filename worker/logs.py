"""Structured logs: constant dotted event names with ids as fields, never payloads.

``REVSYNC_LOG_FORMAT`` chooses ``json`` (one object per line, for production) or
``console`` (for a terminal); ``REVSYNC_LOG_LEVEL`` the threshold. The standard
library's records (Celery, gunicorn, SQLAlchemy) go through the same renderer, so
a JSON process writes nothing but JSON lines to stderr. A last processor masks
e-mail addresses, secrets and personal fields, in case a caller forgot.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from types import TracebackType
from typing import Any

import structlog
from gunicorn.glogging import Logger as _GunicornLogger

from worker.telemetry import REDACTED, scrub, scrub_text

_configured = False
_handler: logging.Handler | None = None


def redact(_logger: Any, _method: str, event_dict: Any) -> Any:
    """structlog processor: mask secrets and personal data in every field."""
    return {key: scrub(value, key) for key, value in event_dict.items()}


def safe_traceback(
    exc_info: tuple[type[BaseException], BaseException, TracebackType | None],
) -> str:
    """A traceback that keeps where it failed but not what another library said.

    revsync's own exception messages are written to be safe (``worker.errors``);
    a driver's or a library's may quote the values it choked on, so theirs are
    replaced, and only the exception's type is kept.
    """
    lines: list[str] = []
    error: BaseException | None = exc_info[1]
    seen: set[int] = set()
    chain: list[BaseException] = []
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        chain.append(error)
        error = error.__cause__ or (
            None if error.__suppress_context__ else error.__context__
        )
    for position, error in enumerate(reversed(chain)):
        if position:
            lines.append("\nThe above exception led to the following one:\n\n")
        lines.append("Traceback (most recent call last):\n")
        lines.extend(traceback.format_tb(error.__traceback__))
        kind = type(error)
        ours = kind.__module__.split(".")[0] in ("worker", "webhooks")
        message = scrub_text(str(error)) if ours else REDACTED
        lines.append(f"{kind.__module__}.{kind.__qualname__}: {message}\n")
    return "".join(lines).rstrip("\n")


format_exc_info = structlog.processors.ExceptionRenderer(safe_traceback)


def _handler_for(fmt: str) -> logging.Handler:
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                redact,
                renderer,
            ],
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                format_exc_info,
            ],
        )
    )
    return handler


def configure(level: str | None = None, fmt: str | None = None) -> None:
    """Set up structlog and the standard library once per process (first call wins)."""
    global _configured, _handler
    if _configured:
        return
    _configured = True
    level_name = (level or os.environ.get("REVSYNC_LOG_LEVEL") or "INFO").upper()
    threshold = logging.getLevelNamesMapping().get(level_name, logging.INFO)
    fmt = fmt or os.environ.get("REVSYNC_LOG_FORMAT") or "console"
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            format_exc_info,
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )

    _handler = _handler_for(fmt)
    root = logging.getLogger()
    # Replace plain console handlers (basicConfig's); keep capturing ones (pytest).
    kept = [h for h in root.handlers if type(h) is not logging.StreamHandler]
    root.handlers = [*kept, _handler]
    root.setLevel(threshold)
    logging.captureWarnings(True)
    # The development server logs every request line; production runs gunicorn.
    logging.getLogger("werkzeug").setLevel(max(threshold, logging.WARNING))


class GunicornLogger(_GunicornLogger):  # type: ignore[misc]
    """gunicorn's logger writing through revsync's renderer
    (``gunicorn --logger-class worker.logs.GunicornLogger``)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        configure()
        assert _handler is not None
        for log in (self.error_log, self.access_log):
            log.handlers = [_handler]
