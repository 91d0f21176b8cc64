"""Structured logs: constant dotted event names with ids as fields, never payloads.

``REVSYNC_LOG_FORMAT`` chooses ``json`` (one object per line, for production) or
``console`` (for a terminal); ``REVSYNC_LOG_LEVEL`` the threshold.
"""

from __future__ import annotations

import logging
import os
import sys

import structlog

_configured = False


def configure(level: str | None = None, fmt: str | None = None) -> None:
    """Set up structlog and the standard library once per process (first call wins)."""
    global _configured
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
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=threshold, stream=sys.stderr)
    # The development server logs every request line; production runs gunicorn.
    logging.getLogger("werkzeug").setLevel(max(threshold, logging.WARNING))
